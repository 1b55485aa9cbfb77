"""What happens to a run once it exists: claim, heartbeat, progress, cancel, finish, hand back.

Every status change goes through ``transition()``, so two executors can never both own a run:
whoever's UPDATE matched the expected prior state wins. ``report_progress``,
``save_sync_state`` and ``cancel_requested`` are what the engine calls while it runs.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from syncline.domain.enums import RunStatus, SyncStatus
from syncline.domain.phases import (
    ended_summary,
    fan_out_summary,
    queued_summary,
    started_summary,
)
from syncline.domain.runs import RunOutcome, cancelled
from syncline.runs.queue import JobQueue
from syncline.runs.transitions import (
    Owned,
    beat,
    changed,
    end,
    owned,
    transition,
)
from syncline.store.tables import RunShard, Sync, SyncRun, utcnow

log = logging.getLogger(__name__)


def claim_next_run(sessions: sessionmaker[Session], *, executor_id: str) -> str | None:
    """Take the oldest pending run, marking it running for ``executor_id``; None if none."""
    with sessions.begin() as s:
        q = (
            sa.select(SyncRun.id)
            .where(SyncRun.status == RunStatus.PENDING.value)
            .order_by(SyncRun.created_at)
            .limit(1)
        )
        if s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        run_id = s.scalar(q)
        if run_id is None:
            return None
        return run_id if _claim(s, run_id, executor_id) else None


def claim_run(sessions: sessionmaker[Session], run_id: str, *, executor_id: str) -> bool:
    """Claim one specific pending run (a queue delivered it); False if someone else has it."""
    with sessions.begin() as s:
        return _claim(s, run_id, executor_id)


def _claim(s: Session, run_id: str, executor_id: str) -> bool:
    now = utcnow()
    return transition(
        s,
        SyncRun,
        run_id,
        RunStatus.PENDING,
        RunStatus.RUNNING,
        values={
            "executor_id": executor_id,
            "started_at": now,
            "last_heartbeat_at": now,
            "summary": started_summary(),  # the engine's own progress follows within a second
        },
        now=now,
    )


def release_run(
    sessions: sessionmaker[Session],
    run_id: str,
    *,
    executor_id: str,
    queue: JobQueue | None = None,
) -> bool:
    """Hand a running run back to the queue (a worker shutting down); any worker resumes it.

    Safe because everything committed is in the snapshot: the next attempt at it diffs again
    and sends only what was not acknowledged. With a job queue the new job is enqueued in
    the same transaction that makes the run pending again.
    """
    with sessions.begin() as s:
        if not transition(
            s,
            SyncRun,
            run_id,
            RunStatus.RUNNING,
            RunStatus.PENDING,
            where=owned(SyncRun, run_id, executor_id),
            values={"executor_id": None, "summary": queued_summary()},
        ):
            return False
        if queue is not None:
            run = s.get(SyncRun, run_id)
            assert run is not None
            queue.enqueue(s, run)
        return True


def heartbeat(sessions: sessionmaker[Session], run_id: str, *, executor_id: str) -> bool:
    """Prove the run is alive; False when the run is no longer ours (reaped or finished)."""
    return beat(sessions, SyncRun, run_id, executor_id=executor_id)


def still_owned(
    sessions: sessionmaker[Session], run_id: str, *, executor_id: str, shard_id: str | None = None
) -> bool:
    """Whether this execution still owns its run (or shard): checked before every batch, so
    an execution declared dead while it was merely slow stops instead of sending twice."""
    table: Owned = RunShard if shard_id is not None else SyncRun
    with sessions() as s:
        q = sa.select(table.id).where(*owned(table, shard_id or run_id, executor_id))
        return s.scalar(q) is not None


def cancel_requested(sessions: sessionmaker[Session], run_id: str) -> bool:
    with sessions() as s:
        return (
            s.scalar(sa.select(SyncRun.cancel_requested_at).where(SyncRun.id == run_id)) is not None
        )


def request_cancel(
    session: Session, run_id: str, *, requested_by: str | None, reason: str = ""
) -> bool:
    """Cancel a pending run at once (True), or ask a running one to stop at its next batch
    (False; the request is recorded once). In the caller's transaction, not committed.

    Both are conditional updates, so a worker picking the run up at the same moment cannot be
    overwritten: the caller re-reads the run to tell "running" from "already ended".
    """
    now = utcnow()
    request = {
        "cancel_requested_at": now,
        "cancel_requested_by": requested_by,
        "cancel_reason": reason,
    }
    outcome = cancelled("")
    ended = {
        "result_class": outcome.result_class.value,
        "result_reason_code": outcome.reason_code,
        "completed_at": now,
        "summary": ended_summary(None),
    }
    if transition(
        session,
        SyncRun,
        run_id,
        RunStatus.PENDING,
        RunStatus.CANCELLED,
        values={**ended, **request},
        now=now,
    ):
        return True
    changed(
        session,
        sa.update(SyncRun)
        .where(
            SyncRun.id == run_id,
            SyncRun.status == RunStatus.RUNNING.value,
            SyncRun.cancel_requested_at.is_(None),
        )
        .values(updated_at=now, **request),
    )
    return False


def report_progress(
    sessions: sessionmaker[Session],
    run_id: str,
    *,
    rows_synced: int,
    rows_failed: int,
    summary: dict[str, Any],
    shard_id: str | None = None,
) -> None:
    """Live counts for the API; a fan-out shard reports on its row and the run shows the sum."""
    with sessions.begin() as s:
        if shard_id is not None:
            s.execute(
                sa.update(RunShard)
                .where(RunShard.id == shard_id)
                .values(
                    rows_synced=RunShard.rows_carried + rows_synced,
                    rows_failed=rows_failed,
                    summary=summary,
                )
            )
            totals = s.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(RunShard.rows_synced), 0),
                    sa.func.coalesce(sa.func.sum(RunShard.rows_failed), 0),
                ).where(RunShard.run_id == run_id)
            ).one()
            shards = s.execute(
                sa.select(RunShard.status, RunShard.summary).where(RunShard.run_id == run_id)
            ).all()
            s.execute(
                sa.update(SyncRun)
                .where(SyncRun.id == run_id, SyncRun.status == RunStatus.RUNNING.value)
                .values(
                    rows_synced=totals[0],
                    rows_failed=totals[1],
                    summary=fan_out_summary([(st, sm) for st, sm in shards]),
                    updated_at=utcnow(),
                )
            )
            return
        s.execute(
            sa.update(SyncRun)
            .where(SyncRun.id == run_id, SyncRun.status == RunStatus.RUNNING.value)
            .values(
                rows_synced=rows_synced,
                rows_failed=rows_failed,
                summary=summary,
                updated_at=utcnow(),
            )
        )


def finish_run(
    sessions: sessionmaker[Session], run_id: str, outcome: RunOutcome, *, executor_id: str | None
) -> bool:
    """Record the end of a run and follow it on the sync; False if the run was not ours."""
    now = utcnow()
    with sessions.begin() as s:
        if not end(
            s,
            SyncRun,
            run_id,
            outcome,
            where=() if executor_id is None else (SyncRun.executor_id == executor_id,),
            values={
                "rows_synced": outcome.rows_synced,
                "rows_failed": outcome.rows_failed,
                "summary": outcome.summary or {},
            },
            now=now,
        ):
            return False
        run = s.get(SyncRun, run_id)
        assert run is not None
        follow_on_sync(s, run, outcome, now)
    return True


def follow_on_sync(s: Session, run: SyncRun, outcome: RunOutcome, now: datetime) -> None:
    """A run that ended moves its sync: last run, last success, and the error status."""
    sync = s.get(Sync, run.sync_id, with_for_update=s.get_bind().dialect.name == "postgresql")
    if sync is None:
        return
    sync.last_run_id = run.id
    if outcome.status == RunStatus.COMPLETED:
        sync.last_synced_at = now
        sync.last_success_at = now
        if sync.status == SyncStatus.ERROR.value:
            sync.status = SyncStatus.ACTIVE.value
        sync.status_error = ""
    elif outcome.status == RunStatus.FAILED:
        if sync.status in (SyncStatus.ACTIVE.value, SyncStatus.ERROR.value):
            sync.status = SyncStatus.ERROR.value
        sync.status_error = outcome.error_message


def save_sync_state(sessions: sessionmaker[Session], sync_id: str, patch: dict[str, Any]) -> None:
    """Merge ``patch`` into the sync's engine state (e.g. the committed high-water mark)."""
    with sessions.begin() as s:
        sync = s.get(Sync, sync_id)
        if sync is not None:
            sync.state = {**(sync.state or {}), **patch}
