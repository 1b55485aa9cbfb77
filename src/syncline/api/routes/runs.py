"""``/api/v1/workspaces/{id}/syncs/{syncId}/runs``: history, cancel, retry, records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Request, Response, status
from fastapi.responses import JSONResponse

from syncline.api.deps import (
    CtxDep,
    RunPath,
    SessionDep,
    SyncPath,
    TokenDep,
    WorkspaceDep,
    read_in_thread,
)
from syncline.api.pagination import PAGE_HEADERS, PageDesc, PageRecords, set_page_headers
from syncline.api.schemas.common import SCOPED, errors
from syncline.api.schemas.runs import CancelIn, RetryIn, RunOut, RunRecordOut
from syncline.domain.enums import Operation, RecordStatus, RunStatus
from syncline.services import runs as service

router = APIRouter(
    prefix="/api/v1/workspaces/{id}/syncs/{syncId}/runs", tags=["runs"], responses=SCOPED
)


@router.get(
    "",
    summary="List sync runs",
    response_model=list[RunOut],
    responses={200: {"headers": PAGE_HEADERS}},
)
async def list_runs(
    workspace: WorkspaceDep,
    session: SessionDep,
    request: Request,
    response: Response,
    sync_id: SyncPath,
    page: PageDesc,
    status: RunStatus | None = None,
) -> list[RunOut]:
    """The sync's execution history, newest first unless ``order=asc``."""

    def read() -> list[RunOut]:
        result = service.list_runs(
            session,
            workspace_id=workspace.id,
            sync_id=str(sync_id),
            page=page,
            status=status.value if status else None,
        )
        set_page_headers(response, request, result)
        return [RunOut.of(r) for r in result.items]

    return await read_in_thread(session, read)


@router.get("/{runId}", summary="Get a sync run", response_model=RunOut)
async def get_run(
    workspace: WorkspaceDep, session: SessionDep, sync_id: SyncPath, run_id: RunPath
) -> RunOut:
    """One run of the sync."""

    def read() -> RunOut:
        run = service.get_run(
            session, workspace_id=workspace.id, sync_id=str(sync_id), run_id=str(run_id)
        )
        return RunOut.of(run)

    return await read_in_thread(session, read)


@router.post(
    "/{runId}/cancel",
    summary="Cancel a sync run",
    response_model=RunOut,
    responses={
        202: {"model": RunOut, "description": "Running: the worker stops at its next batch"},
        **errors(409),
    },
)
def cancel_run(
    workspace: WorkspaceDep,
    token: TokenDep,
    session: SessionDep,
    sync_id: SyncPath,
    run_id: RunPath,
    body: Annotated[CancelIn | None, Body()] = None,
) -> RunOut | JSONResponse:
    """Cancel a pending run at once (200), or ask a running one to stop (202)."""
    run, immediate = service.cancel_run(
        session,
        workspace_id=workspace.id,
        sync_id=str(sync_id),
        run_id=str(run_id),
        requested_by=token.id,
        reason=body.reason if body else "",
    )
    if not immediate:
        return JSONResponse(RunOut.of(run).model_dump(mode="json"), status_code=202)
    return RunOut.of(run)


@router.post(
    "/{runId}/retry",
    summary="Retry a sync run",
    status_code=status.HTTP_201_CREATED,
    response_model=RunOut,
    responses=errors(409),
)
def retry_run(
    workspace: WorkspaceDep,
    token: TokenDep,
    session: SessionDep,
    ctx: CtxDep,
    sync_id: SyncPath,
    run_id: RunPath,
    body: Annotated[RetryIn | None, Body()] = None,
) -> RunOut:
    """Retry a failed or cancelled run as a new attempt linked to it."""
    run = service.retry_run(
        session,
        queue=ctx.queue,
        workspace_id=workspace.id,
        sync_id=str(sync_id),
        run_id=str(run_id),
        triggered_by=token.id,
        run_mode=body.run_mode if body else None,
    )
    return RunOut.of(run)


@router.get(
    "/{runId}/records",
    summary="List a run's records",
    response_model=list[RunRecordOut],
    responses={200: {"headers": PAGE_HEADERS}},
)
def list_records(
    workspace: WorkspaceDep,
    session: SessionDep,
    request: Request,
    response: Response,
    sync_id: SyncPath,
    run_id: RunPath,
    page: PageRecords,
    status: RecordStatus | None = None,
    operation: Operation | None = None,
) -> list[RunRecordOut]:
    """The records of a run (rejected ones, with why and the payload sent), in write order."""
    result = service.list_records(
        session,
        workspace_id=workspace.id,
        sync_id=str(sync_id),
        run_id=str(run_id),
        page=page,
        status=status.value if status else None,
        operation=operation.value if operation else None,
    )
    set_page_headers(response, request, result)
    return [RunRecordOut.of(r) for r in result.items]
