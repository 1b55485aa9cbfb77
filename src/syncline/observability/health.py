"""What ``/healthz`` reports beside the metadata store: is the data directory writable?

A full disk used to leave a run showing ``running`` for minutes with nothing said anywhere.
Now the place that failed to write notes it here (``note_disk_full``) and clears it once a
write succeeds again (``note_write_ok``); ``/healthz`` reports ``degraded`` with the reason
while the last write failed for lack of space, or while the data directory's free space is
below the threshold (``SYNCLINE_MIN_FREE_DISK_MB``). The note is per process: under
procrastinate, each worker's own log says it, and the free-space check covers the API.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

_lock = threading.Lock()
_full: tuple[float, str] | None = None


def note_disk_full(where: str) -> None:
    """A write failed for lack of space (``where`` says what was being written)."""
    global _full
    with _lock:
        _full = (time.time(), where)


def note_write_ok() -> None:
    """A write that had failed for lack of space went through."""
    global _full
    with _lock:
        _full = None


def data_dir_problem(data_dir: Path, min_free_bytes: int) -> str | None:
    """Why the data directory is degraded, or None: the last write failed for lack of space,
    or less than ``min_free_bytes`` are free."""
    with _lock:
        full = _full
    if full is not None:
        ago = max(0, round(time.time() - full[0]))
        return f"writing {full[1]} failed {ago}s ago: no space left on the data directory's disk"
    try:
        free = shutil.disk_usage(data_dir).free
    except OSError:
        return None  # not created yet: nothing was written there
    if free < min_free_bytes:
        return (
            f"the data directory {data_dir} has {free // (1 << 20)} MB free, below the "
            f"{min_free_bytes // (1 << 20)} MB threshold (SYNCLINE_MIN_FREE_DISK_MB)"
        )
    return None
