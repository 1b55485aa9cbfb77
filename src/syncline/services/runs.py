"""Use cases for sync runs, scoped to a workspace: trigger, list, cancel, retry, records.

How a run comes to exist and how its status changes live in ``syncline.runs``; these
functions find the workspace's sync or run, check what the user asked for and turn the
outcome into the API's errors.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from syncline.domain.enums import RunMode, RunStatus
from syncline.runs.lifecycle import request_cancel
from syncline.runs.queue import JobQueue
from syncline.runs.start import active_run, start_retry, start_unless_active
from syncline.services.common import Page, PageRequest, get_scoped, paginate
from syncline.services.errors import ConflictError, NotFoundError
from syncline.store.tables import RunRecord, Sync, SyncRun


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
    run, created = start_unless_active(
        session,
        queue=queue,
        sync=sync,
        triggered_by=triggered_by,
        trigger_ref="manual",
        run_mode=run_mode,
    )
    if run is None:
        session.rollback()
        raise ConflictError("Another run of this sync was just started; try again")
    session.commit()
    return run, created


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
    immediate = request_cancel(session, run.id, requested_by=requested_by, reason=reason)
    if not immediate:
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
        run = start_retry(
            session, queue=queue, sync=sync, old=old, triggered_by=triggered_by, run_mode=run_mode
        )
    except IntegrityError:
        session.rollback()
        raise ConflictError("Sync already has an active run") from None
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
    error_class: str | None = None,
    primary_key: str | None = None,
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
    if error_class:
        stmt = stmt.where(RunRecord.error_class == error_class)
    if primary_key:
        stmt = stmt.where(RunRecord.primary_key == primary_key)
    return paginate(session, stmt, page=page, order_by=[RunRecord.id])


def record_error_counts(
    session: Session, *, workspace_id: str, sync_id: str, run_id: str
) -> list[tuple[str, int]]:
    """How many of a run's records failed with each error class, most frequent first."""
    run = get_run(session, workspace_id=workspace_id, sync_id=sync_id, run_id=run_id)
    count = sa.func.count(RunRecord.id)
    rows = session.execute(
        sa.select(RunRecord.error_class, count)
        .where(
            RunRecord.run_id == run.id,
            RunRecord.workspace_id == workspace_id,
            RunRecord.status == "failed",
        )
        .group_by(RunRecord.error_class)
        .order_by(count.desc(), RunRecord.error_class)
    ).all()
    return [(str(name), int(n)) for name, n in rows]
