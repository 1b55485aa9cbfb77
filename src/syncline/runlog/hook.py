"""The run hook: an ended run of an opted-in sync gets a row in the run log outbox.

Registered by ``bootstrap`` with ``runs.hooks``, so the row commits with the status change
that ends the run, or not at all: a crash after the run ended still leaves the row for the
loop to write. It works in a savepoint and swallows its own errors: run logs never fail a run.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from syncline.domain.enums import RunStatus
from syncline.store.runlog_tables import RunLogExport
from syncline.store.tables import Sync, SyncRun, utcnow

__all__ = ["ENDED", "enabled", "on_run_transition", "schema_of"]

log = logging.getLogger(__name__)

ENDED = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})


def enabled(config: dict[str, Any] | None) -> bool:
    """Whether a sync's ``config`` asks for run logs in its warehouse."""
    return bool(config) and (config or {}).get("warehouse_run_logs") is True


def schema_of(config: dict[str, Any] | None) -> str | None:
    """The schema the tables go in (``None``: the connection's default schema)."""
    value = (config or {}).get("warehouse_run_logs_schema")
    return value if isinstance(value, str) and value else None


def on_run_transition(
    session: Session, run: SyncRun, from_status: RunStatus, to_status: RunStatus
) -> None:
    """Queue the run's logs for its warehouse when it ends (never raises)."""
    if to_status not in ENDED:
        return
    try:
        with session.begin_nested():
            sync = session.get(Sync, run.sync_id)
            if sync is None or not enabled(sync.config):
                return
            if session.get(RunLogExport, run.id) is not None:
                return
            session.add(
                RunLogExport(
                    run_id=run.id,
                    sync_id=run.sync_id,
                    workspace_id=run.workspace_id,
                    status="pending",
                    attempts=0,
                    last_error="",
                    rejected_written=0,
                    next_attempt_at=utcnow(),
                    created_at=utcnow(),
                )
            )
            session.flush()
    except Exception:  # run logs must never fail a run
        log.exception("run logs for run %s not queued; the run is unaffected", run.id)
