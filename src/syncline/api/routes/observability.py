"""A run's log lines and the workspace's audit trail (docs/api.md, docs/operations.md)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response

from syncline.api.deps import RunPath, SessionDep, SyncPath, WorkspaceDep
from syncline.api.pagination import PAGE_HEADERS, PageDesc, PageRecords, set_page_headers
from syncline.api.schemas.common import SCOPED
from syncline.api.schemas.observability import AuditEventOut, RunLogOut
from syncline.services import audit
from syncline.services.observability import list_run_logs

router = APIRouter(prefix="/api/v1/workspaces/{id}", responses=SCOPED)


@router.get(
    "/syncs/{syncId}/runs/{runId}/logs",
    summary="List a run's log lines",
    tags=["runs"],
    response_model=list[RunLogOut],
    responses={200: {"headers": PAGE_HEADERS}},
)
def run_logs(
    workspace: WorkspaceDep,
    session: SessionDep,
    request: Request,
    response: Response,
    sync_id: SyncPath,
    run_id: RunPath,
    page: PageRecords,
    level: str | None = None,
) -> list[RunLogOut]:
    """The lines the run wrote, in order (retries and rate-limit waits included)."""
    result = list_run_logs(
        session,
        workspace_id=workspace.id,
        sync_id=str(sync_id),
        run_id=str(run_id),
        page=page,
        level=level,
    )
    set_page_headers(response, request, result)
    return [RunLogOut.model_validate(r) for r in result.items]


@router.get(
    "/audit-events",
    summary="List audit events",
    tags=["workspaces"],
    response_model=list[AuditEventOut],
    responses={200: {"headers": PAGE_HEADERS}},
)
def audit_events(
    workspace: WorkspaceDep,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageDesc,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEventOut]:
    """Mutations of the workspace, newest first; ``actor`` is a token id or name. Editor+."""
    result = audit.list_events(
        session,
        workspace_id=workspace.id,
        page=page,
        action=action,
        object_type=object_type,
        object_id=object_id,
        actor=actor,
        since=since,
        until=until,
    )
    set_page_headers(response, request, result)
    return [AuditEventOut.model_validate(e) for e in result.items]
