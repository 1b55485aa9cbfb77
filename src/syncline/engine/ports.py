"""What the engine is handed by whoever runs it: the ports of one execution.

The engine never reaches for the application context, the run lifecycle or a queue. An
executor (``execution/work.py``) builds an ``EngineEnv`` from its context and a ``RunControl``
that talks to the run lifecycle, the way dlt's pipeline hands ``Load`` a destination and a
collector. Tests hand the engine fakes of the same ports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from syncline.connectors.base import Destination, Source
from syncline.connectors.registry import open_destination, open_source
from syncline.engine.diff import DEFAULT_RUN_MEMORY_MB
from syncline.engine.snapshot.types import SnapshotStore

if TYPE_CHECKING:
    from syncline.engine.spec import RunSpec


class WorkerStopping(Exception):
    """The worker is shutting down: stop at this batch boundary and hand the run back."""


class ExecutionLost(Exception):
    """This execution no longer owns its run or shard (it was declared dead and another
    worker took over): stop before sending anything more, record nothing."""


class RunCancelled(Exception):
    """A user asked the run to stop; it stops at a batch boundary.

    The message is the outcome's error message (``cancelled by user: <reason>``).
    """


class RunControl(Protocol):
    """The run lifecycle as one execution sees it: may I go on, how far am I, what to keep."""

    def before_batch(self) -> None:
        """Called before every batch (and once before extracting).

        Raises RunCancelled (a user asked to stop), ExecutionLost (this execution no longer
        owns the run) or WorkerStopping (hand the run back at this boundary).
        """

    def before_commit(self) -> None:
        """Called once after the last batch, before the snapshot is compacted and the
        high-water mark moves: raises ExecutionLost or WorkerStopping, never RunCancelled
        (a cancel that arrives after the last batch does not undo a finished run)."""

    def progress(self, *, rows_synced: int, rows_failed: int, summary: dict[str, Any]) -> None:
        """Live counts after a batch, for the API."""

    def save_state(self, patch: dict[str, Any]) -> None:
        """Merge ``patch`` into the sync's engine state (the committed high-water mark)."""


RecordRow = tuple[str | None, str, str, str, dict[str, Any] | None]
"""One rejected record: (primary_key, operation, error_class, message, payload)."""


class RecordSink(Protocol):
    """Where a run's rejected records go (``RecordWriter`` stores them as run records)."""

    def write(self, rows: Iterable[RecordRow], *, status: str = "failed") -> int:
        """Store the rows; returns how many."""
        ...


Decrypt = Callable[[dict[str, Any]], dict[str, Any]]
"""A connector's stored config -> the config with its secrets in clear."""


@dataclass(frozen=True, kw_only=True)
class ReadEnv:
    """What extracting and diffing need; shared by runs and dry runs (which write nothing)."""

    decrypt: Decrypt
    snapshots: SnapshotStore
    batch_rows: int
    # Memory the run's DuckDB holds before it spills to ``work_dir`` (settings.run_memory_mb).
    run_memory_mb: int = DEFAULT_RUN_MEMORY_MB
    # Scratch space: each execution works (and spills) in its own directory below it.
    work_dir: Path
    # Connector type + decrypted config -> an open connector (the installed plugins).
    sources: Callable[[str, dict[str, Any]], Source] = open_source
    destinations: Callable[[str, dict[str, Any]], Destination] = open_destination


@dataclass(frozen=True, kw_only=True)
class EngineEnv(ReadEnv):
    """Everything one execution of a run needs, and nothing else."""

    # The run, its sync, model, source and destination, by run id (LookupError if gone).
    specs: Callable[[str], RunSpec]
    # The sink for the rejected records of one run.
    records: Callable[[RunSpec], RecordSink]
    control: RunControl
