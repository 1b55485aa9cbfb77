"""The engine's ports, built from a process's context: what ``execute_run`` is handed.

The engine knows nothing of the context or the run lifecycle; this module is where the two
meet: the snapshot store chosen for the metadata store, the secret box's decrypt, and a
``RunControl`` that asks and tells the run lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from syncline.context import AppContext
from syncline.domain.runs import RunOutcome, ShardRef, cancel_message
from syncline.engine.ports import EngineEnv, ReadEnv, RecordRow, RecordSink, RunCancelled
from syncline.engine.runner import execute_run
from syncline.engine.snapshot import DatabaseSnapshotStore, FileSnapshotStore, SnapshotStore
from syncline.engine.spec import load_spec, record_writer
from syncline.runs.lifecycle import cancel_requested, report_progress, save_sync_state
from syncline.security.redact import redact
from syncline.store.tables import SyncRun


def snapshot_store(ctx: AppContext) -> SnapshotStore:
    """Snapshots live beside the metadata store: in PostgreSQL when workers are distributed."""
    if ctx.is_postgres:
        return DatabaseSnapshotStore(ctx.sessions)
    return FileSnapshotStore(ctx.settings.data_dir / "snapshots")


def read_env(ctx: AppContext) -> ReadEnv:
    """What extracting and diffing need (dry runs use only this)."""
    return ReadEnv(
        decrypt=ctx.secrets.decrypt_config,
        snapshots=snapshot_store(ctx),
        batch_rows=ctx.settings.batch_rows,
        run_memory_mb=ctx.settings.run_memory_mb,
        work_dir=ctx.settings.data_dir / "work",
    )


class LifecycleControl:
    """The engine's RunControl on the run lifecycle: cancel requests, live progress and the
    sync's state in the metadata store, plus this execution's ``guard`` (ownership, stop)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        run_id: str,
        *,
        guard: Callable[[], None] | None = None,
        shard_id: str | None = None,
        stopping: Callable[[], bool] | None = None,
    ) -> None:
        self.sessions = sessions
        self.run_id = run_id
        self.guard = guard or (lambda: None)
        self.shard_id = shard_id
        # The executor's side of stopping (worker shutting down, ownership lost), polled
        # with the cancel flag; ``guard`` then says which it was.
        self.stopping = stopping or (lambda: False)

    def before_batch(self) -> None:
        if cancel_requested(self.sessions, self.run_id):
            raise RunCancelled(self._cancel_message())
        self.guard()

    def before_commit(self) -> None:
        self.guard()

    def stop_requested(self) -> bool:
        """Whether the run must stop now: a user asked, the worker is stopping or this
        execution lost the run (polled by the engine's stop watcher)."""
        return self.stopping() or cancel_requested(self.sessions, self.run_id)

    def progress(self, *, rows_synced: int, rows_failed: int, summary: dict[str, Any]) -> None:
        report_progress(
            self.sessions,
            self.run_id,
            rows_synced=rows_synced,
            rows_failed=rows_failed,
            summary=summary,
            shard_id=self.shard_id,
        )

    def save_state(self, patch: dict[str, Any]) -> None:
        with self.sessions() as s:
            run = s.get(SyncRun, self.run_id)
            sync_id = run.sync_id if run else None
        if sync_id is not None:
            save_sync_state(self.sessions, sync_id, patch)

    def _cancel_message(self) -> str:
        """The user's reason, read now: it was written after the run started."""
        with self.sessions() as s:
            run = s.get(SyncRun, self.run_id)
            reason = run.cancel_reason if run else None
        return cancel_message(reason)


def engine_env(
    ctx: AppContext,
    run_id: str,
    *,
    guard: Callable[[], None] | None = None,
    shard: ShardRef | None = None,
    stopping: Callable[[], bool] | None = None,
) -> EngineEnv:
    """The ports of one execution of ``run_id``, built from the process's context."""
    base = read_env(ctx)
    return EngineEnv(
        decrypt=base.decrypt,
        snapshots=base.snapshots,
        batch_rows=base.batch_rows,
        run_memory_mb=base.run_memory_mb,
        work_dir=base.work_dir,
        specs=partial(load_spec, ctx.sessions),
        records=lambda spec: RedactingSink(record_writer(ctx.sessions, spec)),
        control=LifecycleControl(
            ctx.sessions,
            run_id,
            guard=guard,
            shard_id=shard.id if shard else None,
            stopping=stopping,
        ),
    )


def run_engine(
    ctx: AppContext,
    run_id: str,
    *,
    guard: Callable[[], None] | None = None,
    shard: ShardRef | None = None,
    stopping: Callable[[], bool] | None = None,
) -> RunOutcome:
    """Execute a claimed run (or shard) through the engine; the caller records the outcome.

    ``stopping`` (cheap, polled a few times a second) says the executor wants the run to
    stop at once; ``guard`` (before every batch) raises WorkerStopping or ExecutionLost.

    The outcome's message is redacted here, the last point before it is stored: a vendor may
    echo a header value or token back in an error body.
    """
    env = engine_env(ctx, run_id, guard=guard, shard=shard, stopping=stopping)
    outcome = execute_run(env, run_id, shard=shard)
    return replace(outcome, error_message=redact(outcome.error_message))


class RedactingSink:
    """A record sink that redacts each rejected record's message before it is stored."""

    def __init__(self, inner: RecordSink) -> None:
        self.inner = inner

    def write(self, rows: Iterable[RecordRow], *, status: str = "failed") -> int:
        clean = ((pk, op, cls, redact(msg), payload) for pk, op, cls, msg, payload in rows)
        return self.inner.write(clean, status=status)
