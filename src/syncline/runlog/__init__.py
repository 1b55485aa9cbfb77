"""Run logs in the warehouse: the outbox hook and the loop that writes them (docs/run-logs.md)."""
