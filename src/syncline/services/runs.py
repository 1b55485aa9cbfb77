"""Use cases for sync runs: trigger, list, cancel, retry, and the records a run rejected.

At most one pending-or-running run exists per sync; the store enforces it with the partial
unique index ``uq_sync_runs_one_active``, and these functions turn a lost race into "here is the
run that won" instead of an error.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from syncline.domain.enums import ACTIVE_RUN_STATUSES, ReasonCode, ResultClass, RunMode, RunStatus
from syncline.runs.queue import JobQueue
from syncline.services.common import Page, PageRequest, get_scoped, paginate, utcnow
from syncline.services.errors import ConflictError, NotFoundError
from syncline.store.tables import RunRecord, Sync, SyncRun, new_id


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
        summary={},
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


def _sync(session: Session, workspace_id: str, sync_id: str) -> Sync:
    return get_scoped(session, Sync, workspace_id=workspace_id, id=sync_id, kind="Sync")


def trigger_run(
    session: Session,
    *,
    queue: JobQueue,
    workspace_id: str,
    sync_id: str,
    triggered_by: str | None,
    run_mode: RunMode = RunMode.INCREMENTAL,
) -> tuple[SyncRun, bool]:
    """Start a run of a sync now, unless one is already pending or running.

    Paused and failing syncs can be triggered by hand (that is how one checks a fix); drafts
    cannot (ConflictError).

    Returns:
        ``(run, created)``: the new run, or the sync's active run with ``created=False``.
    """
    sync = _sync(session, workspace_id, sync_id)
    if sync.status == "draft":
        raise ConflictError("Sync is a draft; set its status to active before running it")
    existing = active_run(session, sync_id=sync.id)
    if existing is not None:
        return existing, False
    try:
        run = start_run(
            session,
            queue=queue,
            sync=sync,
            triggered_by=triggered_by,
            trigger_ref="manual",
            run_mode=run_mode,
        )
    except IntegrityError:
        session.rollback()
        existing = active_run(session, sync_id=sync_id)
        if existing is None:
            raise ConflictError("Another run of this sync was just started; try again") from None
        return existing, False
    session.commit()
    return run, True


def list_runs(
    session: Session,
    *,
    workspace_id: str,
    sync_id: str,
    page: PageRequest,
    status: str | None = None,
) -> Page[SyncRun]:
    """A page of a sync's runs (newest first unless ``page.order`` says otherwise)."""
    sync = _sync(session, workspace_id, sync_id)
    stmt = sa.select(SyncRun).where(
        SyncRun.sync_id == sync.id, SyncRun.workspace_id == workspace_id
    )
    if status:
        stmt = stmt.where(SyncRun.status == status)
    return paginate(session, stmt, page=page, order_by=[SyncRun.created_at, SyncRun.id])


def get_run(session: Session, *, workspace_id: str, sync_id: str, run_id: str) -> SyncRun:
    """One run of a sync of the workspace, or NotFoundError ("Sync" or "Run")."""
    sync = _sync(session, workspace_id, sync_id)
    run = session.scalar(
        sa.select(SyncRun).where(
            SyncRun.id == run_id,
            SyncRun.sync_id == sync.id,
            SyncRun.workspace_id == workspace_id,
        )
    )
    if run is None:
        raise NotFoundError("Run")
    return run


def _execute_update(session: Session, stmt: sa.Update) -> int:
    """Run an UPDATE and return how many rows it changed."""
    result = session.execute(stmt)
    return int(getattr(result, "rowcount", 0))


def cancel_run(
    session: Session,
    *,
    workspace_id: str,
    sync_id: str,
    run_id: str,
    requested_by: str | None,
    reason: str = "",
) -> tuple[SyncRun, bool]:
    """Cancel a run: a pending one at once, a running one at its next batch.

    The state changes are conditional updates (``WHERE status = ...``) so a worker picking the
    run up at the same moment cannot be overwritten.

    Returns:
        ``(run, immediate)``: ``immediate`` is False when the worker has yet to stop.

    Raises:
        ConflictError: the run already finished.
    """
    run = get_run(session, workspace_id=workspace_id, sync_id=sync_id, run_id=run_id)
    now = utcnow()
    request = {
        "cancel_requested_at": now,
        "cancel_requested_by": requested_by,
        "cancel_reason": reason,
    }
    done = _execute_update(
        session,
        sa.update(SyncRun)
        .where(SyncRun.id == run.id, SyncRun.status == RunStatus.PENDING.value)
        .values(
            status=RunStatus.CANCELLED.value,
            completed_at=now,
            result_class=ResultClass.CANCELLED.value,
            result_reason_code=ReasonCode.CANCELLED_BY_USER.value,
            updated_at=now,
            **request,
        ),
    )
    immediate = done == 1
    if not immediate:
        _execute_update(
            session,
            sa.update(SyncRun)
            .where(
                SyncRun.id == run.id,
                SyncRun.status == RunStatus.RUNNING.value,
                SyncRun.cancel_requested_at.is_(None),
            )
            .values(updated_at=now, **request),
        )
        session.refresh(run)
        if run.status != RunStatus.RUNNING.value:
            session.rollback()
            raise ConflictError(
                f"Run is already {run.status}; only pending or running runs can be cancelled"
            )
    session.commit()
    session.refresh(run)
    return run, immediate


def retry_run(
    session: Session,
    *,
    queue: JobQueue,
    workspace_id: str,
    sync_id: str,
    run_id: str,
    triggered_by: str | None,
    run_mode: RunMode | None = None,
) -> SyncRun:
    """Retry a failed or cancelled run as a new, linked attempt.

    The new run gets ``attempt_number + 1``, the chain's root and the old run as previous;
    the old run points forward to it (``next_attempt_run_id``).

    Raises:
        ConflictError: the run did not fail, was already retried, or the sync is busy.
    """
    old = get_run(session, workspace_id=workspace_id, sync_id=sync_id, run_id=run_id)
    if old.status not in (RunStatus.FAILED.value, RunStatus.CANCELLED.value):
        raise ConflictError(
            f"Only failed or cancelled runs can be retried; this run is {old.status}"
        )
    if old.next_attempt_run_id is not None:
        raise ConflictError(f"Run was already retried as run {old.next_attempt_run_id}")
    sync = _sync(session, workspace_id, sync_id)
    busy = active_run(session, sync_id=sync.id)
    if busy is not None:
        raise ConflictError(f"Sync already has an active run ({busy.id}, {busy.status})")
    try:
        run = start_run(
            session,
            queue=queue,
            sync=sync,
            triggered_by=triggered_by,
            trigger_ref="retry",
            run_mode=run_mode or RunMode(old.run_mode),
            previous=old,
        )
    except IntegrityError:
        session.rollback()
        raise ConflictError("Sync already has an active run") from None
    old.next_attempt_run_id = run.id
    session.commit()
    return run


def list_records(
    session: Session,
    *,
    workspace_id: str,
    sync_id: str,
    run_id: str,
    page: PageRequest,
    status: str | None = None,
    operation: str | None = None,
) -> Page[RunRecord]:
    """A page of a run's records (the rejected ones, and every one when the run kept them)."""
    run = get_run(session, workspace_id=workspace_id, sync_id=sync_id, run_id=run_id)
    stmt = sa.select(RunRecord).where(
        RunRecord.run_id == run.id, RunRecord.workspace_id == workspace_id
    )
    if status:
        stmt = stmt.where(RunRecord.status == status)
    if operation:
        stmt = stmt.where(RunRecord.operation == operation)
    return paginate(session, stmt, page=page, order_by=[RunRecord.id])
