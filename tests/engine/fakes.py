"""Fakes of the engine's ports: run the real engine with no metadata store and no warehouse.

A run's spec is made of transient ORM rows (never added to a session); the source serves rows
from memory; the destination keeps what it was sent in a dict and can reject records or fail
batches on demand; the RunControl and the record sink remember every call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel

from syncline.connectors.base import (
    BatchResult,
    Capabilities,
    ChangeBatch,
    CheckResult,
    Column,
    ObjectSchema,
    RecordError,
    RunInfo,
)
from syncline.connectors.registry import UnknownConnectorError
from syncline.domain.enums import Operation, SyncMode
from syncline.domain.runs import RunOutcome, ShardRef
from syncline.engine.dryrun import dry_run
from syncline.engine.ports import EngineEnv, ReadEnv, RecordRow, RunCancelled
from syncline.engine.runner import execute_run
from syncline.engine.snapshot import FileSnapshotStore
from syncline.engine.spec import RunSpec
from syncline.store.tables import Destination, Model, Source, Sync, SyncRun


class _NoConfig(BaseModel):
    pass


class FakeSource:
    """Serves ``rows`` (a list of dicts) as Arrow batches, or raises ``fail``."""

    config_model: ClassVar[type[BaseModel]] = _NoConfig

    def __init__(self, rows: list[dict[str, Any]], fail: Exception | None = None) -> None:
        self.rows = rows
        self.fail = fail
        self.closed = False

    def check(self) -> CheckResult:
        return CheckResult(True)

    def columns(self, sql: str) -> list[Column]:
        return [Column("id", "int64"), Column("email", "string"), Column("n", "int64")]

    def read(self, sql: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]:
        if self.fail is not None:
            raise self.fail
        if not self.rows:
            return
        table = pa.Table.from_pylist(self.rows)
        yield from table.to_batches(max_chunksize=batch_rows)

    def close(self) -> None:
        self.closed = True


class FakeDestination:
    """Holds records by key. ``reject`` keys are refused per record; ``fail`` fails a batch."""

    config_model: ClassVar[type[BaseModel]] = _NoConfig
    capabilities: ClassVar[Capabilities] = Capabilities(modes=frozenset(SyncMode))

    def __init__(self) -> None:
        self.held: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[Operation, list[str]]] = []
        self.reject: set[str] = set()
        self.fail: Callable[[], Exception] | None = None
        self.finished: list[bool] = []

    def check(self) -> CheckResult:
        return CheckResult(True)

    def objects(self) -> list[ObjectSchema]:
        return []

    def begin(self, run: RunInfo) -> None:
        self.run = run

    def write(self, batch: ChangeBatch) -> BatchResult:
        if self.fail is not None:
            raise self.fail()
        self.writes.append((batch.operation, list(batch.keys)))
        self.batch_columns = batch.records.schema.names
        errors = []
        for i, (key, record) in enumerate(zip(batch.keys, batch.records.to_pylist(), strict=True)):
            if key in self.reject:
                errors.append(RecordError(i, f"{key} refused", "invalid_field"))
            elif batch.operation == Operation.DELETE:
                self.held.pop(key, None)
            elif (
                batch.operation == Operation.INSERT
                and key in self.held
                and self.run.sync_mode != SyncMode.APPEND  # append adds records, keys repeat
            ):
                errors.append(RecordError(i, f"{key} exists", "duplicate"))
            else:
                self.held[key] = record
        return BatchResult(len(batch), errors)

    def finish(self, *, success: bool) -> None:
        self.finished.append(success)

    def close(self) -> None:
        pass

    def sent(self, op: Operation) -> list[str]:
        """Every key sent with ``op``, in order."""
        return [k for o, keys in self.writes if o == op for k in keys]


@dataclass
class FakeControl:
    """Remembers every call; ``stop_at`` raises an exception at that ``before_batch`` call."""

    stop_at: int | None = None
    stop_with: Callable[[], Exception] = lambda: RunCancelled("cancelled by user: enough")
    lose_at_commit: Exception | None = None
    batches_checked: int = 0
    commits_checked: int = 0
    progress_calls: list[dict[str, Any]] = field(default_factory=list)
    saved: list[dict[str, Any]] = field(default_factory=list)

    def before_batch(self) -> None:
        self.batches_checked += 1
        if self.stop_at is not None and self.batches_checked >= self.stop_at:
            raise self.stop_with()

    def before_commit(self) -> None:
        self.commits_checked += 1
        if self.lose_at_commit is not None:
            raise self.lose_at_commit

    def progress(self, *, rows_synced: int, rows_failed: int, summary: dict[str, Any]) -> None:
        self.progress_calls.append(
            {"rows_synced": rows_synced, "rows_failed": rows_failed, "summary": summary}
        )

    def save_state(self, patch: dict[str, Any]) -> None:
        self.saved.append(patch)


@dataclass
class ListSink:
    """Rejected records, in memory."""

    rows: list[tuple[RecordRow, str]] = field(default_factory=list)

    def write(self, rows: Iterable[RecordRow], *, status: str = "failed") -> int:
        batch = [(r, status) for r in rows]
        self.rows.extend(batch)
        return len(batch)


MAPPING = [
    {"source_column": "id", "destination_field": "id"},
    {"source_column": "email", "destination_field": "email"},
    {"source_column": "n", "destination_field": "n"},
]


class Bench:
    """One sync against a fake source and destination, run through the real engine."""

    def __init__(self, tmp_path: Path, *, mode: str = "upsert", **sync_fields: Any) -> None:
        self.tmp_path = tmp_path
        self.rows: list[dict[str, Any]] = [
            {"id": i, "email": f"u{i}@x.test", "n": i} for i in range(1, 11)
        ]
        self.source_fail: Exception | None = None
        self.destination = FakeDestination()
        self.snapshots = FileSnapshotStore(tmp_path / "snapshots")
        self.sink = ListSink()
        self.state: dict[str, Any] = {}
        self.missing = False
        self.destination_type = "fake"
        fields: dict[str, Any] = {
            "field_mapping": MAPPING,
            "config": {"batch_size": 3, "retry_backoff_seconds": 0.001, "max_retries": 2},
            "sync_null_values": True,
            "field_behavior": "specific_properties",
            "field_normalization": None,
            "high_water_mark": None,
        }
        fields.update(sync_fields)
        self.mode = mode
        self.sync_fields = fields
        self.runs = 0

    def _sources(self, type_name: str, config: dict[str, Any]) -> FakeSource:
        return FakeSource(self.rows, self.source_fail)

    def _destinations(self, type_name: str, config: dict[str, Any]) -> FakeDestination:
        if type_name != "fake":
            raise UnknownConnectorError(type_name)
        return self.destination

    def sync(self) -> Sync:
        return Sync(
            id="sync-1",
            workspace_id="ws-1",
            model_id="model-1",
            destination_id="dest-1",
            name="s",
            sync_mode=self.mode,
            primary_key="id",
            state=dict(self.state),
            **self.sync_fields,
        )

    def model(self) -> Model:
        return Model(id="model-1", source_id="src-1", sql="SELECT * FROM t", primary_key="id")

    def source_row(self) -> Source:
        return Source(id="src-1", type="fake", config={})

    def spec(self, run_id: str, run_mode: str) -> RunSpec:
        if self.missing:
            raise LookupError(f"run {run_id} does not exist")
        return RunSpec(
            run=SyncRun(id=run_id, sync_id="sync-1", workspace_id="ws-1", run_mode=run_mode),
            sync=self.sync(),
            model=self.model(),
            source=self.source_row(),
            destination=Destination(id="dest-1", type=self.destination_type, config={}),
        )

    def read_env(self) -> ReadEnv:
        return ReadEnv(
            decrypt=dict,
            snapshots=self.snapshots,
            batch_rows=4,
            work_dir=self.tmp_path / "work",
            sources=self._sources,
            destinations=self._destinations,
        )

    def run(
        self,
        *,
        run_mode: str = "incremental",
        control: FakeControl | None = None,
        shard: ShardRef | None = None,
    ) -> tuple[RunOutcome, FakeControl]:
        """Execute one run; the saved high-water mark becomes the sync's state, as the
        lifecycle would store it."""
        self.runs += 1
        control = control or FakeControl()
        base = self.read_env()
        env = EngineEnv(
            decrypt=base.decrypt,
            snapshots=base.snapshots,
            batch_rows=base.batch_rows,
            run_memory_mb=base.run_memory_mb,
            work_dir=base.work_dir,
            sources=base.sources,
            destinations=base.destinations,
            specs=lambda run_id: self.spec(run_id, run_mode),
            records=lambda spec: self.sink,
            control=control,
        )
        outcome = execute_run(env, f"run-{self.runs}", shard=shard)
        for patch in control.saved:
            self.state.update(patch)
        return outcome, control

    def dry(self, sample_size: int = 3) -> Any:
        return dry_run(
            self.read_env(),
            sync=self.sync(),
            model=self.model(),
            source=self.source_row(),
            sample_size=sample_size,
        )
