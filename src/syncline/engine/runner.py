"""One run, start to end: extract -> diff -> plan by mode -> map -> load -> commit.

The runner is handed a run that an executor already claimed (status ``running``). It reads
everything it needs from the metadata store, so any worker on any machine can run or resume it.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from syncline.connectors.base import ConnectorError, Operation, RunInfo
from syncline.connectors.registry import UnknownConnectorError, open_destination, open_source
from syncline.context import AppContext
from syncline.domain.enums import ReasonCode, ResultClass, RunMode, RunStatus, SyncMode
from syncline.domain.jsonsafe import json_safe
from syncline.domain.runs import RunOutcome, ShardRef
from syncline.engine.diff import SENDABLE, DiffCounts, Differ, open_duckdb
from syncline.engine.load import BatchLoader, ExecutionLost, RunCancelled, WorkerStopping
from syncline.engine.mapping import (
    CompiledMapping,
    MappingError,
    compile_mapping,
    resolve_mappings,
)
from syncline.engine.records import RecordWriter
from syncline.engine.snapshot import (
    DatabaseSnapshotStore,
    FileSnapshotStore,
    SnapshotStore,
    delta_table,
)
from syncline.runs.lifecycle import (
    cancel_requested,
    report_progress,
    save_sync_state,
)
from syncline.store.tables import Destination, Model, Source, Sync, SyncRun

log = logging.getLogger(__name__)


class DeleteGuardError(Exception):
    """A mirror run would delete too much; nothing was deleted."""


@dataclass
class RunSpec:
    run: SyncRun
    sync: Sync
    model: Model
    source: Source
    destination: Destination


def snapshot_store(ctx: AppContext) -> SnapshotStore:
    """Snapshots live beside the metadata store: in PostgreSQL when workers are distributed."""
    if ctx.is_postgres:
        return DatabaseSnapshotStore(ctx.sessions)
    return FileSnapshotStore(ctx.settings.data_dir / "snapshots")


def load_spec(ctx: AppContext, run_id: str) -> RunSpec:
    with ctx.sessions() as s:
        run = s.get(SyncRun, run_id)
        if run is None:
            raise LookupError(f"run {run_id} does not exist")
        sync = s.get(Sync, run.sync_id)
        if sync is None:
            raise LookupError(f"the sync of run {run_id} was deleted")
        model = s.get(Model, sync.model_id)
        destination = s.get(Destination, sync.destination_id)
        source = s.get(Source, model.source_id) if model else None
        if model is None or destination is None or source is None:
            raise LookupError("the sync's model, source or destination no longer exists")
        return RunSpec(run, sync, model, source, destination)


_PLANS: dict[SyncMode, list[tuple[Operation, tuple[str, ...]]]] = {
    SyncMode.UPSERT: [(Operation.UPSERT, SENDABLE)],
    SyncMode.INSERT: [(Operation.INSERT, ("added",))],
    SyncMode.UPDATE: [(Operation.UPDATE, SENDABLE)],
    SyncMode.MIRROR: [(Operation.UPSERT, SENDABLE)],
    SyncMode.APPEND: [(Operation.INSERT, ("added",))],
}


def plan_for(mode: SyncMode) -> list[tuple[Operation, tuple[str, ...]]]:
    """What each mode sends: (operation, diff classes) in order; mirror deletes come last."""
    return _PLANS[mode]


def check_delete_guard(sync: Sync, removed: int, model_rows: int, snapshot_rows: int) -> None:
    cfg = sync.config or {}
    if removed == 0 or cfg.get("allow_mass_delete"):
        return
    if model_rows == 0:
        raise DeleteGuardError(
            f"the model returned zero rows: mirror would delete all {removed} records in the "
            "destination; nothing was deleted (set config.allow_mass_delete to allow it)"
        )
    pct = float(cfg.get("mirror_max_delete_pct", 50))
    share = 100.0 * removed / max(snapshot_rows, 1)
    if share > pct:
        raise DeleteGuardError(
            f"mirror would delete {removed} of {snapshot_rows} records ({share:.1f}%), more "
            f"than mirror_max_delete_pct={pct:g}%; nothing was deleted (raise the limit or set "
            "config.allow_mass_delete)"
        )


@dataclass
class PreparedDiff:
    differ: Differ
    mapping: CompiledMapping
    counts: DiffCounts
    hwm: str | None
    mark: Any
    # (removed, model_rows, snapshot_rows) over the whole model, for the mirror delete guard.
    guard: tuple[int, int, int] | None = None


def prepare_diff(
    ctx: AppContext,
    *,
    sync: Sync,
    model: Model,
    source_row: Source,
    full: bool,
    work_dir: Path,
    closers: list[Callable[[], None]],
    shard: ShardRef | None = None,
) -> PreparedDiff:
    """Extract the model, compile the mapping and classify rows (no writes anywhere).

    Shared by runs and dry runs; what it opens is appended to ``closers``.
    """
    mode = SyncMode(sync.sync_mode)
    source = open_source(source_row.type, ctx.secrets.decrypt_config(source_row.config))
    closers.append(source.close)
    work_dir.mkdir(parents=True, exist_ok=True)
    differ = Differ(open_duckdb(temp_dir=str(work_dir)))
    closers.append(differ.close)
    differ.stage_model(
        source.read(model.sql, batch_rows=ctx.settings.batch_rows),
        columns=lambda: [c.name for c in source.columns(model.sql)],
    )
    columns = differ.model_columns()
    mappings = resolve_mappings(
        field_mapping=sync.field_mapping,
        field_behavior=sync.field_behavior,
        field_normalization=sync.field_normalization,
        model_columns=columns,
    )
    mapping = compile_mapping(mappings, primary_key=sync.primary_key, model_columns=columns)
    differ.load_snapshot(snapshot_store(ctx).segments(sync.id))
    guard = None
    if shard is not None:
        if mode == SyncMode.MIRROR:
            guard = (
                differ.count_removed(sync.primary_key),
                differ.counts.model_rows,
                differ.counts.snapshot_rows,
            )
        differ.restrict_to_shard(sync.primary_key, shard.index, shard.count)
    hwm = sync.high_water_mark if mode == SyncMode.APPEND else None
    if hwm and hwm not in columns:
        raise MappingError(f"high_water_mark column {hwm!r} is not in the model")
    mark = (sync.state or {}).get("high_water_mark") if hwm and not full else None
    counts = differ.classify(
        mapping, primary_key=sync.primary_key, full=full, hwm_column=hwm, hwm_after=mark
    )
    if guard is None:
        guard = (counts.removed, counts.model_rows, counts.snapshot_rows)
    return PreparedDiff(differ, mapping, counts, hwm, mark, guard)


def execute_run(
    ctx: AppContext,
    run_id: str,
    *,
    on_batch: Callable[[], None] | None = None,
    shard: ShardRef | None = None,
) -> RunOutcome:
    """Execute a claimed run (or one shard of it) and return how it ended.

    The caller records the outcome: on the run, or on the shard for a fan-out run.
    """
    started = time.monotonic()
    summary: dict[str, Any] = {"phase": "starting"}
    execution = uuid.uuid4().hex[:12]  # this attempt at the run (or shard), never reused
    work_dir = ctx.settings.data_dir / "work" / run_id
    work_dir = work_dir / (f"{shard.label}-{execution}" if shard else execution)
    try:
        spec = load_spec(ctx, run_id)
    except LookupError as exc:
        return RunOutcome(
            RunStatus.FAILED, ResultClass.FAILURE, ReasonCode.CONFIG_ERROR.value, str(exc)
        )
    runner = _Runner(ctx, spec, work_dir, summary, on_batch, shard)
    runner.execution = execution
    runner.started = started
    try:
        return runner.run()
    except (WorkerStopping, ExecutionLost):
        raise  # not an outcome: the executor hands the run back, or it is no longer ours
    except RunCancelled:
        return runner.outcome(
            RunStatus.CANCELLED,
            ResultClass.CANCELLED,
            ReasonCode.CANCELLED_BY_USER.value,
            _cancel_message(ctx, run_id),
        )
    except DeleteGuardError as exc:
        return runner.outcome(
            RunStatus.FAILED, ResultClass.FAILURE, ReasonCode.DELETE_GUARD.value, str(exc)
        )
    except (MappingError, UnknownConnectorError, ValueError) as exc:
        return runner.outcome(
            RunStatus.FAILED,
            ResultClass.FAILURE,
            ReasonCode.CONFIG_ERROR.value,
            f"configuration error: {exc}",
        )
    except ConnectorError as exc:
        return runner.outcome(RunStatus.FAILED, ResultClass.FAILURE, exc.reason_code, str(exc))
    except Exception as exc:  # a bug must still end the run, not strand it
        log.exception("run %s crashed", run_id)
        return runner.outcome(
            RunStatus.FAILED,
            ResultClass.FAILURE,
            ReasonCode.INTERNAL_ERROR.value,
            f"internal error: {type(exc).__name__}: {exc}",
        )
    finally:
        runner.close()
        shutil.rmtree(work_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            work_dir.parent.rmdir()  # only if no other execution of the run works there


def _cancel_message(ctx: AppContext, run_id: str) -> str:
    """The user's reason, read now: it was written after the run started."""
    with ctx.sessions() as s:
        run = s.get(SyncRun, run_id)
        reason = run.cancel_reason if run else None
    return f"cancelled by user: {reason}" if reason else "cancelled by user"


class _Runner:
    def __init__(
        self,
        ctx: AppContext,
        spec: RunSpec,
        work_dir: Path,
        summary: dict[str, Any],
        on_batch: Callable[[], None] | None,
        shard: ShardRef | None = None,
    ) -> None:
        self.ctx = ctx
        self.shard = shard
        self.execution = ""
        self.spec = spec
        self.work_dir = work_dir
        self.summary = summary
        self.on_batch = on_batch
        self.snapshots = snapshot_store(ctx)
        self.records = RecordWriter(
            ctx.sessions,
            run_id=spec.run.id,
            sync_id=spec.sync.id,
            workspace_id=spec.sync.workspace_id,
        )
        self.rejected = 0
        self.started = time.monotonic()
        self.loader: BatchLoader | None = None
        self.differ: Differ | None = None
        self._closers: list[Callable[[], None]] = []

    def close(self) -> None:
        for fn in reversed(self._closers):
            try:
                fn()
            except Exception:  # closing must not hide the run's outcome
                log.exception("closing a connector failed")

    def outcome(
        self, status: RunStatus, rc: ResultClass, reason: str, message: str = ""
    ) -> RunOutcome:
        synced = self.loader.stats.acked_total if self.loader else 0
        failed = self.rejected + (self.loader.stats.failed_total if self.loader else 0)
        self._fill_summary()
        self.summary["duration_seconds"] = round(time.monotonic() - self.started, 3)
        return RunOutcome(status, rc, reason, message, synced, failed, json_safe(self.summary))

    def _fill_summary(self) -> None:
        if self.differ:
            self.summary.update(self.differ.counts.as_dict())
        if self.loader:
            st = self.loader.stats
            self.summary.update(
                sent=st.sent,
                acknowledged=st.acknowledged,
                failed=st.failed,
                destination_rejected=st.failed_by_class,
                batches=st.batches,
            )

    def _between_batches(self) -> None:
        if cancel_requested(self.ctx.sessions, self.spec.run.id):
            raise RunCancelled()
        if self.loader and self.loader.stats.batches:
            self._fill_summary()
            report_progress(
                self.ctx.sessions,
                self.spec.run.id,
                rows_synced=self.loader.stats.acked_total,
                rows_failed=self.rejected + self.loader.stats.failed_total,
                summary=json_safe(self.summary),
                shard_id=self.shard.id if self.shard else None,
            )
        if self.on_batch:
            self.on_batch()

    def run(self) -> RunOutcome:
        spec, sync = self.spec, self.spec.sync
        mode = SyncMode(sync.sync_mode)
        full = spec.run.run_mode == RunMode.FULL.value
        settings = self.ctx.settings
        destination = open_destination(
            spec.destination.type, self.ctx.secrets.decrypt_config(spec.destination.config)
        )
        self._closers.append(destination.close)
        self.summary["phase"] = "extracting"
        self._between_batches()
        prepared = prepare_diff(
            self.ctx,
            sync=sync,
            model=spec.model,
            source_row=spec.source,
            full=full,
            work_dir=self.work_dir,
            closers=self._closers,
            shard=self.shard,
        )
        self.differ = differ = prepared.differ
        mapping, counts, hwm, mark = prepared.mapping, prepared.counts, prepared.hwm, prepared.mark
        self.rejected = counts.rejected_total
        self.summary["phase"] = "rejecting"
        for chunk in differ.rejected_rows(mapping):
            self.records.write((pk, "reject", cls, msg, payload) for pk, cls, msg, payload in chunk)
        if mode == SyncMode.MIRROR:
            assert prepared.guard is not None
            check_delete_guard(sync, *prepared.guard)

        self.summary["phase"] = "loading"
        batch_rows = max(
            1,
            min(
                destination.capabilities.max_batch_rows,
                int((sync.config or {}).get("batch_size", settings.batch_rows)),
            ),
        )
        destination.begin(
            RunInfo(
                sync_id=sync.id,
                run_id=spec.run.id,
                sync_mode=mode,
                key_field=mapping.key_field,
                fields=mapping.destination_fields,
                work_dir=str(self.work_dir),
                part=self.shard.label if self.shard else "",
                execution=self.execution,
            )
        )
        self.loader = loader = BatchLoader(
            destination=destination,
            snapshots=self.snapshots,
            records=self.records,
            sync_id=sync.id,
            run_id=spec.run.id,
            key_field=mapping.key_field,
            skip_nulls=not sync.sync_null_values,
            hash_probe=differ.probe,
            max_attempts=int((sync.config or {}).get("max_retries", 5)),
            backoff_initial=float((sync.config or {}).get("retry_backoff_seconds", 0.5)),
            between_batches=self._between_batches,
        )
        success = False
        try:
            for operation, classes in plan_for(mode):
                for records, keys, hashes in differ.send_batches(mapping, classes, batch_rows):
                    loader.send(operation, records, keys, hashes)
            if mode == SyncMode.MIRROR:
                for keys in differ.removed_batches(batch_rows):
                    records = _key_table(mapping.key_field, keys)
                    loader.send(Operation.DELETE, records, keys, None)
            success = True
        finally:
            destination.finish(success=success)
        self.summary["phase"] = "committing"
        if self.on_batch:
            self.on_batch()  # a worker that lost the run must not compact or move the mark
        self._finish_snapshot(full, hwm, mark)
        failed = self.rejected + loader.stats.failed_total
        rc = ResultClass.SUCCESS if failed == 0 else ResultClass.PARTIAL
        reason = ReasonCode.OK.value if failed == 0 else ReasonCode.RECORDS_REJECTED.value
        self.summary["phase"] = "done"
        return self.outcome(RunStatus.COMPLETED, rc, reason, "")

    def _finish_snapshot(self, full: bool, hwm: str | None, mark: Any) -> None:
        assert self.differ is not None and self.loader is not None
        sync = self.spec.sync
        if full and self.loader.failed_keys:
            # After a full resend the destination state of a failed record is unknown:
            # forget it so the next run sends it again.
            delta = delta_table([], [], self.loader.failed_keys)
            self.snapshots.commit_delta(
                sync.id,
                delta.replace_schema_metadata({"hash_probe": self.differ.probe}),
                run_id=self.spec.run.id,
            )
        if self.shard is not None:
            return  # shards run side by side: the run's finaliser compacts (no HWM in fan-out)
        compact_if_due(self.snapshots, sync.id, self.spec.run.id, self.differ)
        if hwm:
            new_mark = self._new_mark(hwm)
            if new_mark is not None and new_mark != mark:
                save_sync_state(self.ctx.sessions, sync.id, {"high_water_mark": new_mark})

    def _new_mark(self, hwm: str) -> Any:
        """The highest mark below every failed or rejected candidate (those must be retried)."""
        assert self.differ is not None and self.loader is not None
        con = self.differ.con
        con.execute("CREATE OR REPLACE TABLE failed_keys (pk VARCHAR)")
        if self.loader.failed_keys:
            con.register("__fk", pa.table({"pk": pa.array(self.loader.failed_keys, pa.string())}))
            con.execute("INSERT INTO failed_keys SELECT pk FROM __fk")
        col = f'm."{hwm.replace(chr(34), chr(34) * 2)}"'
        row = con.execute(
            f"""WITH cand AS (
                  SELECT {col} AS v,
                    (p.__class NOT IN ('added','changed','unchanged')
                     OR p.__pk IN (SELECT pk FROM failed_keys)) AS bad
                  FROM plan p JOIN model m ON m.rowid = p.__row)
                SELECT CASE WHEN count(*) FILTER (WHERE bad) = 0 THEN max(v)
                            ELSE max(v) FILTER (WHERE v < (SELECT min(v) FROM cand WHERE bad))
                       END FROM cand"""
        ).fetchall()
        return json_safe(row[0][0]) if row else None


def compact_if_due(snapshots: SnapshotStore, sync_id: str, run_id: str, differ: Differ) -> None:
    """Fold the deltas into a new base once they are many or large (reads stay fast).

    Only when no other execution of the sync writes: at the end of a run, or of a fan-out
    run's last shard.
    """
    segments = snapshots.segments(sync_id)
    deltas = [s for s in segments if s.kind == "delta"]
    delta_rows = sum(s.table.num_rows for s in deltas)
    base_rows = sum(s.table.num_rows for s in segments if s.kind == "base")
    if len(deltas) >= 20 or delta_rows > 0.2 * max(base_rows, 1):
        snapshots.compact(sync_id, differ.merged_snapshot(segments), run_id=run_id)


def _key_table(key_field: str, keys: list[str]) -> pa.Table:
    return pa.table({key_field: pa.array(keys, pa.string())})
