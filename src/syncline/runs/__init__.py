"""The run lifecycle: the only writer of run and shard status."""
