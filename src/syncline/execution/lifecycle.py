"""Run state transitions made by executors: claim, heartbeat, finish, reap.

Every transition is a single conditional UPDATE, so two executors can never both own a run:
whoever's UPDATE matched the expected prior state wins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from syncline.domain.enums import ReasonCode, ResultClass, RunMode, RunStatus, SyncStatus
from syncline.domain.runs import RunOutcome
from syncline.runs.queue import JobQueue
from syncline.store.tables import RunShard, Sync, SyncRun, utcnow

# executor_id of a fan-out run while its shards work: the shards heartbeat, not the run.
FAN_OUT_EXECUTOR = "fan-out"

log = logging.getLogger(__name__)


Owned = type[SyncRun] | type[RunShard]


def owned(table: Owned, row_id: str, executor_id: str) -> tuple[Any, ...]:
    """WHERE clauses: the run (or shard) is running and this execution's claim."""
    return (
        table.id == row_id,
        table.status == RunStatus.RUNNING.value,
        table.executor_id == executor_id,
    )


def beat(sessions: sessionmaker[Session], table: Owned, row_id: str, *, executor_id: str) -> bool:
    """Prove a run or shard is alive; False when it is no longer ours (reaped or finished)."""
    with sessions.begin() as s:
        res = s.execute(
            sa.update(table)
            .where(*owned(table, row_id, executor_id))
            .values(last_heartbeat_at=utcnow())
        )
        return bool(res.rowcount)  # type: ignore[attr-defined]


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
    res = s.execute(
        sa.update(SyncRun)
        .where(SyncRun.id == run_id, SyncRun.status == RunStatus.PENDING.value)
        .values(
            status=RunStatus.RUNNING.value,
            executor_id=executor_id,
            started_at=now,
            last_heartbeat_at=now,
            updated_at=now,
        )
    )
    return bool(res.rowcount)  # type: ignore[attr-defined]


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
        res = s.execute(
            sa.update(SyncRun)
            .where(*owned(SyncRun, run_id, executor_id))
            .values(status=RunStatus.PENDING.value, executor_id=None, updated_at=utcnow())
        )
        if not res.rowcount:  # type: ignore[attr-defined]
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
            s.execute(
                sa.update(SyncRun)
                .where(SyncRun.id == run_id)
                .values(rows_synced=totals[0], rows_failed=totals[1], updated_at=utcnow())
            )
            return
        s.execute(
            sa.update(SyncRun)
            .where(SyncRun.id == run_id)
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
        cond = [SyncRun.id == run_id, SyncRun.status == RunStatus.RUNNING.value]
        if executor_id is not None:
            cond.append(SyncRun.executor_id == executor_id)
        res = s.execute(
            sa.update(SyncRun)
            .where(*cond)
            .values(
                status=outcome.status.value,
                result_class=outcome.result_class.value,
                result_reason_code=outcome.reason_code,
                error_message=outcome.error_message,
                rows_synced=outcome.rows_synced,
                rows_failed=outcome.rows_failed,
                summary=outcome.summary or {},
                completed_at=now,
                updated_at=now,
            )
        )
        if not res.rowcount:  # type: ignore[attr-defined]
            return False
        run = s.get(SyncRun, run_id)
        assert run is not None
        _follow_on_sync(s, run, outcome, now)
    return True


def _follow_on_sync(s: Session, run: SyncRun, outcome: RunOutcome, now: datetime) -> None:
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


def reap_stale_runs(
    sessions: sessionmaker[Session],
    *,
    timeout_seconds: float,
    now: datetime | None = None,
    resume: Callable[[Session, SyncRun], object] | None = None,
) -> list[str]:
    """End running runs whose heartbeats stopped; returns their ids.

    A run the user had asked to cancel ends ``cancelled``; any other ends ``failed`` /
    ``heartbeat_timeout`` and, given ``resume``, is resumed in the same transaction, so no
    trigger can slip in between and take the sync's slot from the resumed attempt.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=timeout_seconds)
    stale_cond = (
        SyncRun.status == RunStatus.RUNNING.value,
        sa.or_(SyncRun.executor_id.is_(None), SyncRun.executor_id != FAN_OUT_EXECUTOR),
        sa.or_(SyncRun.last_heartbeat_at.is_(None), SyncRun.last_heartbeat_at < cutoff),
    )
    reaped: list[str] = []
    with sessions.begin() as s:
        stale = s.scalars(sa.select(SyncRun.id).where(*stale_cond)).all()
    for run_id in stale:
        with sessions.begin() as s:
            run = s.get(SyncRun, run_id)
            if run is None:
                continue
            if run.cancel_requested_at is not None:
                reason = run.cancel_reason
                outcome = RunOutcome(
                    status=RunStatus.CANCELLED,
                    result_class=ResultClass.CANCELLED,
                    reason_code=ReasonCode.CANCELLED_BY_USER.value,
                    error_message=(
                        f"cancelled by user: {reason}" if reason else "cancelled by user"
                    )
                    + " (its worker stopped before confirming; committed batches stay)",
                )
            else:
                outcome = RunOutcome(
                    status=RunStatus.FAILED,
                    result_class=ResultClass.FAILURE,
                    reason_code=ReasonCode.HEARTBEAT_TIMEOUT.value,
                    error_message=(
                        f"the worker running this run stopped sending heartbeats for more "
                        f"than {timeout_seconds:g}s (killed or hung)"
                    ),
                )
            res = s.execute(
                sa.update(SyncRun)
                .where(SyncRun.id == run_id, *stale_cond)
                .values(
                    status=outcome.status.value,
                    result_class=outcome.result_class.value,
                    result_reason_code=outcome.reason_code,
                    error_message=outcome.error_message,
                    completed_at=now,
                    updated_at=now,
                )
            )
            if not res.rowcount:  # type: ignore[attr-defined]
                continue
            s.refresh(run)
            _follow_on_sync(s, run, outcome, now)
            if resume is not None and outcome.status == RunStatus.FAILED:
                resume(s, run)
            reaped.append(run_id)
            log.warning("run %s reaped: heartbeat timeout (%s)", run_id, outcome.status)
    return reaped


def save_sync_state(sessions: sessionmaker[Session], sync_id: str, patch: dict[str, Any]) -> None:
    """Merge ``patch`` into the sync's engine state (e.g. the committed high-water mark)."""
    with sessions.begin() as s:
        sync = s.get(Sync, sync_id)
        if sync is not None:
            sync.state = {**(sync.state or {}), **patch}


def _auto_resumes(s: Session, run: SyncRun) -> int:
    """How many automatic resumes led to ``run`` (walking back its attempt chain)."""
    n = 0
    current: SyncRun | None = run
    while current is not None and current.triggered_by == "auto_resume":
        n += 1
        prev_id = current.previous_attempt_run_id
        current = s.get(SyncRun, prev_id) if prev_id else None
    return n


def resume_in(s: Session, queue: JobQueue, old: SyncRun) -> SyncRun | None:
    """Create the next attempt of a reaped run in ``s`` if its sync allows (the attempt and
    its job commit with the caller's transaction).

    The new attempt diffs against the snapshot, which holds exactly what was acknowledged,
    so it continues from the last committed batch without resending committed records.
    """
    from sqlalchemy.exc import IntegrityError

    from syncline.services.runs import start_run

    sync = s.get(Sync, old.sync_id)
    if sync is None or old.next_attempt_run_id:
        return None
    if _auto_resumes(s, old) >= sync.max_auto_resume_attempts:
        return None
    try:
        with s.begin_nested():
            new = start_run(
                s,
                queue=queue,
                sync=sync,
                triggered_by="auto_resume",
                trigger_ref="heartbeat_timeout",
                run_mode=RunMode(old.run_mode),
                previous=old,
            )
    except IntegrityError:
        return None  # another run of the sync is already active: it re-diffs anyway
    old.next_attempt_run_id = new.id
    return new


def resume_after_timeout(ctx: Any, run_id: str) -> str | None:
    """Resume a reaped run as a new attempt if the sync allows; returns the new run's id."""
    with ctx.sessions.begin() as s:
        old = s.get(SyncRun, run_id)
        if old is None:
            return None
        new = resume_in(s, ctx.queue, old)
        return new.id if new else None
