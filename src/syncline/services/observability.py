"""Reads of what runs logged (the lines are written by ``observability.logs``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.services.common import Page, PageRequest, paginate
from syncline.services.runs import get_run
from syncline.store.tables import RunLog


def list_run_logs(
    session: Session,
    *,
    workspace_id: str,
    sync_id: str,
    run_id: str,
    page: PageRequest,
    level: str | None = None,
) -> Page[RunLog]:
    """A page of a run's log lines in the order they were written (404 for another's run)."""
    run = get_run(session, workspace_id=workspace_id, sync_id=sync_id, run_id=run_id)
    stmt = sa.select(RunLog).where(RunLog.run_id == run.id)
    if level:
        stmt = stmt.where(RunLog.level == level.lower())
    return paginate(session, stmt, page=page, order_by=[RunLog.id])
