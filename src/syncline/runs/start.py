"""Every way a run comes to exist: triggered, scheduled, chained, retried or resumed (many
scheduled runs at once: ``runs.batch``).

At most one pending-or-running run exists per sync; the store enforces it with the partial
unique index ``uq_sync_runs_one_active``. Each function here works in the caller's
transaction (the run and its job commit together) and turns a lost race into "the run that
won" or "nothing to do" instead of an error, unless it says otherwise.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from syncline.domain.enums import ACTIVE_RUN_STATUSES, RunMode, RunStatus, SyncStatus
from syncline.domain.phases import queued_summary
from syncline.runs.queue import JobQueue
from syncline.store.tables import Sync, SyncRun, new_id


def active_run(session: Session, *, sync_id: str) -> SyncRun | None:
    """The sync's pending or running run, if any."""
    return session.scalar(
        sa.select(SyncRun).where(
            SyncRun.sync_id == sync_id, SyncRun.status.in_(ACTIVE_RUN_STATUSES)
        )
    )


def start_run(
    session: Session,
    *,
    queue: JobQueue,
    sync: Sync,
    triggered_by: str | None,
    trigger_ref: str | None = None,
    run_mode: RunMode = RunMode.INCREMENTAL,
    previous: SyncRun | None = None,
) -> SyncRun:
    """Insert a pending run and enqueue it, inside the caller's transaction (not committed).

    Raises:
        sqlalchemy.exc.IntegrityError: the sync already has an active run (the caller decides).
    """
    run_id = new_id()
    run = SyncRun(
        id=run_id,
        sync_id=sync.id,
        workspace_id=sync.workspace_id,
        status=RunStatus.PENDING.value,
        triggered_by=triggered_by,
        trigger_ref=trigger_ref,
        run_mode=run_mode.value,
        execution_mode=sync.execution_mode,
        attempt_number=previous.attempt_number + 1 if previous else 1,
        attempt_root_run_id=(previous.attempt_root_run_id or previous.id) if previous else run_id,
        previous_attempt_run_id=previous.id if previous else None,
        rows_synced=0,
        rows_failed=0,
        error_message="",
        summary=queued_summary(),
    )
    session.add(run)
    session.flush()
    # A Core update so that recording the latest run does not bump the sync's updated_at.
    session.execute(
        sa.update(Sync)
        .where(Sync.id == sync.id)
        .values(last_run_id=run_id, updated_at=Sync.updated_at)
    )
    queue.enqueue(session, run)
    return run


def start_unless_active(
    session: Session,
    *,
    queue: JobQueue,
    sync: Sync,
    triggered_by: str | None,
    trigger_ref: str,
    run_mode: RunMode = RunMode.INCREMENTAL,
) -> tuple[SyncRun | None, bool]:
    """Start a run of ``sync`` unless one is already pending or running.

    The insert runs in a savepoint, so losing the race to another starter leaves the caller's
    transaction usable.

    Returns:
        ``(run, created)``: the new run, or the sync's active run with ``created=False``
        (``None`` if the run that won the race already ended).
    """
    existing = active_run(session, sync_id=sync.id)
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            run = start_run(
                session,
                queue=queue,
                sync=sync,
                triggered_by=triggered_by,
                trigger_ref=trigger_ref,
                run_mode=run_mode,
            )
    except IntegrityError:
        return active_run(session, sync_id=sync.id), False
    return run, True


def start_retry(
    session: Session,
    *,
    queue: JobQueue,
    sync: Sync,
    old: SyncRun,
    triggered_by: str | None,
    trigger_ref: str = "retry",
    run_mode: RunMode | None = None,
) -> SyncRun:
    """The next attempt of ``old``: ``attempt_number + 1``, the chain's root, ``old`` as its
    previous attempt, and ``old`` pointing forward to it (``next_attempt_run_id``).

    Raises:
        sqlalchemy.exc.IntegrityError: the sync already has an active run.
    """
    run = start_run(
        session,
        queue=queue,
        sync=sync,
        triggered_by=triggered_by,
        trigger_ref=trigger_ref,
        run_mode=run_mode or RunMode(old.run_mode),
        previous=old,
    )
    old.next_attempt_run_id = run.id
    return run


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
    sync = s.get(Sync, old.sync_id)
    if sync is None or old.next_attempt_run_id:
        return None
    if _auto_resumes(s, old) >= sync.max_auto_resume_attempts:
        return None
    try:
        with s.begin_nested():
            return start_retry(
                s,
                queue=queue,
                sync=sync,
                old=old,
                triggered_by="auto_resume",
                trigger_ref="heartbeat_timeout",
            )
    except IntegrityError:
        return None  # another run of the sync is already active: it re-diffs anyway


def resume_after_timeout(
    sessions: sessionmaker[Session], queue: JobQueue, run_id: str
) -> str | None:
    """Resume a reaped run as a new attempt if the sync allows; returns the new run's id."""
    with sessions.begin() as s:
        old = s.get(SyncRun, run_id)
        if old is None:
            return None
        new = resume_in(s, queue, old)
        return new.id if new else None


def fire_dependents(sessions: sessionmaker[Session], queue: JobQueue, *, sync_id: str) -> list[str]:
    """Start every active sync chained to run after ``sync_id`` succeeded; the new run ids."""
    created: list[str] = []
    with sessions.begin() as s:
        upstream = s.get(Sync, sync_id)
        if upstream is None:
            return []
        candidates = s.scalars(
            sa.select(Sync).where(
                Sync.workspace_id == upstream.workspace_id,
                Sync.status == SyncStatus.ACTIVE.value,
                Sync.id != sync_id,
            )
        ).all()
        for sync in candidates:
            if sync_id in (sync.trigger_after_sync_ids or []):
                run, new = start_unless_active(
                    s,
                    queue=queue,
                    sync=sync,
                    triggered_by="upstream",
                    trigger_ref=f"after_sync:{sync_id}",
                )
                if new and run is not None:
                    created.append(run.id)
    return created
