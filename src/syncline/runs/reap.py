"""Runs and shards whose worker died: their heartbeats stopped, so any worker's maintenance
ends them (every worker runs this; each change is conditional, so concurrent reapers agree).

A run the user had asked to cancel ends ``cancelled``; any other ends ``failed`` /
``heartbeat_timeout`` and may be resumed as a new attempt in the same transaction. A shard goes
back to pending for another worker, or fails once it is out of attempts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from syncline.domain.enums import RunStatus
from syncline.domain.phases import ended_summary
from syncline.domain.runs import (
    cancel_message,
    cancelled,
    run_heartbeat_timeout,
    shard_heartbeat_timeout,
)
from syncline.runs.lifecycle import follow_on_sync
from syncline.runs.queue import JobQueue
from syncline.runs.shards import back_to_pending
from syncline.runs.transitions import FAN_OUT_EXECUTOR, end
from syncline.store.tables import RunShard, Sync, SyncRun, utcnow

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
            done = {"summary": ended_summary(run.summary)}
            if not end(s, SyncRun, run_id, outcome, where=stale_cond, values=done, now=now):
                continue
            s.refresh(run)
            follow_on_sync(s, run, outcome, now)
            if resume is not None and outcome.status == RunStatus.FAILED:
                resume(s, run)
            reaped.append(run_id)
            log.warning("run %s reaped: heartbeat timeout (%s)", run_id, outcome.status)
    return reaped


def reap_stale_shards(
    sessions: sessionmaker[Session], queue: JobQueue, *, timeout_seconds: float
) -> list[str]:
    """Shards whose worker stopped heartbeating go back to pending (or fail when out of
    attempts); returns the ids of the runs concerned."""
    now = utcnow()
    cutoff = now - timedelta(seconds=timeout_seconds)
    stale = sa.or_(RunShard.last_heartbeat_at.is_(None), RunShard.last_heartbeat_at < cutoff)
    with sessions() as s:
        rows = list(
            s.execute(
                sa.select(RunShard.id, RunShard.sync_id).where(
                    RunShard.status == RunStatus.RUNNING.value, stale
                )
            )
        )
    touched: list[str] = []
    for shard_id, sync_id in rows:
        with sessions.begin() as s:
            sync = s.get(Sync, sync_id)
            allowed = 1 + (sync.max_auto_resume_attempts if sync else 0)
            shard = s.get(RunShard, shard_id)
            if shard is None:
                continue
            exhausted = shard.attempts >= allowed
            if exhausted:
                outcome = shard_heartbeat_timeout(shard.attempts)
                done = end(s, RunShard, shard_id, outcome, where=(stale,), now=now)
            else:
                done = back_to_pending(s, shard_id, where=(stale,), now=now)
            if not done:
                continue
            if not exhausted:
                s.refresh(shard)
                queue.enqueue_shard(s, shard)
            touched.append(shard.run_id)
            log.warning(
                "shard %s of run %s: worker lost, %s",
                shard.shard_index,
                shard.run_id,
                "failed" if exhausted else "resumed",
            )
    return touched
