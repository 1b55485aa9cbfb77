"""Per-sync snapshots: what each destination is known to hold (see ``types`` for the model).

``types`` holds the format and the ``SnapshotStore`` port; ``files`` and ``database`` are the
two stores. Which one a process uses is chosen outside the engine (``execution/work.py``).
"""

from syncline.engine.snapshot.database import DatabaseSnapshotStore
from syncline.engine.snapshot.files import FileSnapshotStore
from syncline.engine.snapshot.types import (
    SNAPSHOT_SCHEMA,
    Segment,
    SnapshotStore,
    _from_parquet,  # read by bench/diff.py
    delta_table,
)

__all__ = [
    "SNAPSHOT_SCHEMA",
    "DatabaseSnapshotStore",
    "FileSnapshotStore",
    "Segment",
    "SnapshotStore",
    "_from_parquet",
    "delta_table",
]
