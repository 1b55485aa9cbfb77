"""The run log loop: write queued runs into their source warehouse, retry, record failures.

A pass claims due outbox rows with a conditional UPDATE (a lease), so two processes never
write the same run at once (and if they did, the write replaces the run's rows: it is
idempotent per run id). Each write opens its own short connection after the run has ended.
A failure is kept on the outbox row, logged as a line of the run (``GET .../runs/{id}/logs``)
and counted (``syncline_warehouse_run_logs_total``); it is retried with backoff, then
``failed``. Nothing here touches a run's status.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.connectors.registry import UnknownConnectorError, source_class, validate_config
from syncline.connectors.sources.runlog import (
    RejectedRecord,
    RunSummary,
    json_text,
    supports,
    write_run_log,
)
from syncline.context import AppContext
from syncline.domain.enums import RunStatus
from syncline.observability.logs import bind_run
from syncline.observability.loop import periodic
from syncline.observability.metrics import run_log_written
from syncline.runlog.hook import schema_of
from syncline.security.redact import redact
from syncline.store.runlog_tables import RunLogExport
from syncline.store.tables import Model, RunRecord, Source, Sync, SyncRun, utcnow

__all__ = ["MAX_ATTEMPTS", "export_one", "run_log_loop", "write_pending"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
LEASE = timedelta(seconds=300)
BATCH = 20
CHUNK = 2000
MAX_WAIT = timedelta(minutes=15)  # how long a DuckDB write waits for readers of the file


class _Busy(Exception):
    """Not now: another run is reading the same DuckDB file; try again next pass."""


class _Permanent(Exception):
    """Trying again cannot help (no such source, or a source type that keeps no run logs)."""


def _claim(ctx: AppContext) -> list[str]:
    now = utcnow()
    claimed: list[str] = []
    with ctx.sessions.begin() as s:
        due = list(
            s.scalars(
                sa.select(RunLogExport.run_id)
                .where(RunLogExport.status == "pending", RunLogExport.next_attempt_at <= now)
                .order_by(RunLogExport.created_at)
                .limit(BATCH)
            )
        )
        for run_id in due:
            hit = s.execute(
                sa.update(RunLogExport)
                .where(
                    RunLogExport.run_id == run_id,
                    RunLogExport.status == "pending",
                    RunLogExport.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + LEASE)
            )
            if getattr(hit, "rowcount", 0):
                claimed.append(run_id)
    return claimed


def _summary(run: SyncRun, sync: Sync) -> RunSummary:
    took = None
    if run.started_at is not None and run.completed_at is not None:
        took = (run.completed_at - run.started_at).total_seconds()
    return RunSummary(
        run_id=run.id,
        sync_id=run.sync_id,
        sync_name=sync.name,
        workspace_id=run.workspace_id,
        status=run.status,
        result_class=run.result_class,
        result_reason_code=run.result_reason_code,
        error_message=run.error_message,
        run_mode=run.run_mode,
        triggered_by=run.triggered_by,
        attempt_number=run.attempt_number,
        created_at=run.created_at,
        started_at=run.started_at,
        completed_at=run.completed_at,
        duration_seconds=took,
        rows_synced=run.rows_synced,
        rows_failed=run.rows_failed,
        summary=json_text(run.summary or {}),
        written_at=utcnow(),
    )


def _rejected(ctx: AppContext, run_id: str) -> Iterator[RejectedRecord]:
    """The run's rejected records, read in keyset chunks (never all in memory at once)."""
    after = 0
    while True:
        with ctx.sessions() as s:
            rows = list(
                s.scalars(
                    sa.select(RunRecord)
                    .where(
                        RunRecord.run_id == run_id,
                        RunRecord.status == "failed",
                        RunRecord.id > after,
                    )
                    .order_by(RunRecord.id)
                    .limit(CHUNK)
                )
            )
        if not rows:
            return
        for r in rows:
            yield RejectedRecord(
                run_id=r.run_id,
                record_id=r.id,
                sync_id=r.sync_id,
                primary_key=r.primary_key,
                operation=r.operation,
                error_class=r.error_class,
                error_message=r.error_message,
                payload=json_text(r.payload) if r.payload is not None else None,
                rejected_at=r.created_at,
            )
        after = rows[-1].id


def _reading(s: Session, source_id: str, run_id: str) -> bool:
    """Whether another run reading ``source_id`` is running (on any worker)."""
    busy = s.scalars(
        sa.select(SyncRun.id)
        .join(Sync, Sync.id == SyncRun.sync_id)
        .join(Model, Model.id == Sync.model_id)
        .where(
            Model.source_id == source_id,
            SyncRun.status == RunStatus.RUNNING.value,
            SyncRun.id != run_id,
        )
        .limit(1)
    ).first()
    return busy is not None


def _target(ctx: AppContext, run_id: str) -> tuple[str, object, str | None, RunSummary]:
    """(source type, its validated config, schema, the run's summary row).

    Raises:
        _Busy: a DuckDB file that another run is reading (its write lock would break that read).
    """
    with ctx.sessions() as s:
        run = s.get(SyncRun, run_id)
        sync = s.get(Sync, run.sync_id) if run is not None else None
        model = s.get(Model, sync.model_id) if sync is not None else None
        source = s.get(Source, model.source_id) if model is not None else None
        if run is None or sync is None or source is None:
            raise _Permanent("the run, its sync or its source no longer exists")
        row = s.get(RunLogExport, run_id)
        waited = utcnow() - row.created_at if row is not None else timedelta(0)
        if source.type == "duckdb" and waited < MAX_WAIT and _reading(s, source.id, run_id):
            raise _Busy()
        if not supports(source.type):
            raise _Permanent(f"a {source.type} source cannot keep run logs")
        try:
            cls = source_class(source.type)
        except UnknownConnectorError:
            raise _Permanent(f"the {source.type} connector is not installed") from None
        config = validate_config(cls, ctx.secrets.decrypt_config(source.config))
        return source.type, config, schema_of(sync.config), _summary(run, sync)


def export_one(ctx: AppContext, run_id: str) -> bool:
    """Write one claimed run into its warehouse and record the attempt; whether it was written."""
    source_type, error, permanent, written = "unknown", "", False, 0
    target: tuple[str, object, str | None, RunSummary] | None = None
    failure: Exception | None = None
    try:
        target = _target(ctx, run_id)
    except _Busy:
        _postpone(ctx, run_id)
        return False
    except Exception as exc:  # recorded below, on the run's log lines
        failure = exc
    with bind_run(ctx.sessions, run_id):
        try:
            if target is None:
                raise failure or RuntimeError("no target")
            source_type, config, schema, summary = target
            written = write_run_log(
                source_type, config, schema=schema, run=summary, rejected=_rejected(ctx, run_id)
            )
        except _Permanent as exc:
            error, permanent = str(exc), True
        except Exception as exc:  # any failure is recorded, never raised
            error = redact(f"{type(exc).__name__}: {exc}")[:2000]
        if error:
            log.warning("run logs not written to the warehouse: %s", error)
        else:
            log.info("run logs written to the warehouse (%d rejected records)", written)
    run_log_written(source_type, ok=not error)
    now = utcnow()
    with ctx.sessions.begin() as s:
        row = s.get(RunLogExport, run_id)
        if row is None:
            return False
        row.attempts += 1
        if not error:
            row.status, row.written_at, row.last_error = "written", now, ""
            row.rejected_written = written
        else:
            row.last_error = error
            if permanent or row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
            else:
                backoff = ctx.settings.alert_interval * (2**row.attempts)
                row.next_attempt_at = now + timedelta(seconds=min(backoff, 3600.0))
    return not error


def _postpone(ctx: AppContext, run_id: str) -> None:
    """Come back next pass, without counting an attempt."""
    with ctx.sessions.begin() as s:
        row = s.get(RunLogExport, run_id)
        if row is not None:
            row.next_attempt_at = utcnow() + timedelta(seconds=ctx.settings.alert_interval)


def write_pending(ctx: AppContext) -> int:
    """Write every due run once; how many were written."""
    return sum(export_one(ctx, run_id) for run_id in _claim(ctx))


@contextmanager
def run_log_loop(ctx: AppContext, *, interval: float | None = None) -> Iterator[None]:
    """The process hook: every ``interval`` seconds (``SYNCLINE_ALERT_INTERVAL``), write the
    queued run logs, until shutdown."""
    every = interval if interval is not None else ctx.settings.alert_interval
    with periodic("syncline-run-logs", every, lambda: write_pending(ctx), log):
        yield
