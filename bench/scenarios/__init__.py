"""One module per scenario family; each exposes ``run(args) -> (md path, json path)``."""
