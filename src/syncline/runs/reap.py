"""Runs whose worker died: their heartbeats stopped, so any worker's maintenance ends them.

A run the user had asked to cancel ends ``cancelled``; any other ends ``failed`` /
``heartbeat_timeout`` and may be resumed as a new attempt in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from syncline.domain.enums import RunStatus
from syncline.domain.runs import cancel_message, cancelled, run_heartbeat_timeout
from syncline.runs.lifecycle import follow_on_sync
from syncline.runs.transitions import FAN_OUT_EXECUTOR, end
from syncline.store.tables import SyncRun, utcnow

log = logging.getLogger(__name__)


def reap_stale_runs(
    sessions: sessionmaker[Session],
    *,
    timeout_seconds: float,
    now: datetime | None = None,
    resume: Callable[[Session, SyncRun], object] | None = None,
) -> list[str]:
    """End running runs whose heartbeats stopped; returns their ids.

    Given ``resume``, a failed run is resumed in the same transaction that fails it, so no
    trigger can slip in between and take the sync's slot from the resumed attempt. A fan-out
    run waiting for its shards is left alone: its shards heartbeat, not the run.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=timeout_seconds)
    stale_cond = (
        sa.or_(SyncRun.executor_id.is_(None), SyncRun.executor_id != FAN_OUT_EXECUTOR),
        sa.or_(SyncRun.last_heartbeat_at.is_(None), SyncRun.last_heartbeat_at < cutoff),
    )
    reaped: list[str] = []
    with sessions.begin() as s:
        stale = s.scalars(
            sa.select(SyncRun.id).where(SyncRun.status == RunStatus.RUNNING.value, *stale_cond)
        ).all()
    for run_id in stale:
        with sessions.begin() as s:
            run = s.get(SyncRun, run_id)
            if run is None:
                continue
            if run.cancel_requested_at is not None:
                outcome = cancelled(cancel_message(run.cancel_reason, unconfirmed=True))
            else:
                outcome = run_heartbeat_timeout(timeout_seconds)
            if not end(s, SyncRun, run_id, outcome, where=stale_cond, now=now):
                continue
            s.refresh(run)
            follow_on_sync(s, run, outcome, now)
            if resume is not None and outcome.status == RunStatus.FAILED:
                resume(s, run)
            reaped.append(run_id)
            log.warning("run %s reaped: heartbeat timeout (%s)", run_id, outcome.status)
    return reaped
