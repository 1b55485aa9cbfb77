"""``/api/v1/workspaces/{id}/syncs``: the eight seed 000 endpoints minus runs (see runs.py)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from syncline.api.deps import (
    CtxDep,
    SessionDep,
    SyncPath,
    TokenDep,
    WorkspaceDep,
    read_in_thread,
)
from syncline.api.pagination import PAGE_HEADERS, PageAsc, set_page_headers
from syncline.api.schemas.common import SCOPED, DeletedOut, errors
from syncline.api.schemas.runs import DryRunIn, DryRunOut, RunOut, TriggerIn
from syncline.api.schemas.syncs import (
    CREATE_EXAMPLE,
    UPDATE_EXAMPLE,
    SyncCreate,
    SyncOut,
    SyncPreviewOut,
    SyncUpdate,
    sync_list_json,
)
from syncline.domain.enums import RunMode, SyncStatus
from syncline.services import dryrun as dryrun_service
from syncline.services import health as health_service
from syncline.services import runs as run_service
from syncline.services import sync_listing as listing
from syncline.services import syncs as service

router = APIRouter(prefix="/api/v1/workspaces/{id}/syncs", tags=["syncs"], responses=SCOPED)


@router.get(
    "",
    summary="List syncs",
    response_model=list[SyncOut],
    responses={200: {"headers": PAGE_HEADERS}},
)
async def list_syncs(
    workspace: WorkspaceDep,
    session: SessionDep,
    request: Request,
    page: PageAsc,
    status: SyncStatus | None = None,
    model_id: uuid.UUID | None = None,
    destination_id: uuid.UUID | None = None,
    q: Annotated[
        str | None, Query(max_length=255, pattern=r"^[^\x00]*$", description="Name contains.")
    ] = None,
) -> Response:
    """All syncs in the workspace (oldest first), optionally filtered."""
    # The body is rendered here, already JSON (``sync_list_json``: the bytes ``list[SyncOut]``
    # renders), so FastAPI passes the Response through instead of validating it again.
    filters = listing.SyncFilters(
        status=status.value if status else None,
        model_id=str(model_id) if model_id else None,
        destination_id=str(destination_id) if destination_id else None,
        q=q,
    )

    def read() -> Response:
        result = listing.list_sync_views(
            session, workspace_id=workspace.id, page=page, filters=filters
        )
        response = Response(sync_list_json(result.items), media_type="application/json")
        set_page_headers(response, request, result)
        return response

    return await read_in_thread(session, read)


@router.post(
    "",
    summary="Create a sync",
    status_code=status.HTTP_201_CREATED,
    response_model=SyncOut,
    responses={200: {"model": SyncPreviewOut, "description": "validate_only: nothing saved"}},
)
def create_sync(
    workspace: WorkspaceDep,
    token: TokenDep,
    session: SessionDep,
    ctx: CtxDep,
    body: Annotated[
        SyncCreate,
        Body(openapi_examples={"seed": {"summary": "Seed 000", "value": CREATE_EXAMPLE}}),
    ],
    validate_only: Annotated[
        bool, Query(description="Validate and answer 200 without creating anything.")
    ] = False,
) -> SyncOut | JSONResponse:
    """Create a sync between a model and a destination (``validate_only`` creates nothing)."""
    dry = validate_only or body.validate_only
    sync = service.create_sync(
        session,
        queue=ctx.queue,
        workspace_id=workspace.id,
        created_by=token.id,
        spec=body,
        validate_only=dry,
        secrets=ctx.secrets,
    )
    if dry:
        return JSONResponse(SyncPreviewOut.of(sync).model_dump(mode="json"), status_code=200)
    return SyncOut.of(sync)


@router.get("/{syncId}", summary="Get a sync", response_model=SyncOut)
async def get_sync(workspace: WorkspaceDep, session: SessionDep, sync_id: SyncPath) -> SyncOut:
    """One sync by id."""

    def read() -> SyncOut:
        sync = service.get_sync(session, workspace_id=workspace.id, sync_id=str(sync_id))
        return SyncOut.of(sync, health=health_service.sync_healths(session, [sync])[sync.id])

    return await read_in_thread(session, read)


@router.put("/{syncId}", summary="Update a sync", response_model=SyncOut)
def update_sync(
    workspace: WorkspaceDep,
    session: SessionDep,
    ctx: CtxDep,
    sync_id: SyncPath,
    body: Annotated[
        SyncUpdate,
        Body(openapi_examples={"seed": {"summary": "Seed 000", "value": UPDATE_EXAMPLE}}),
    ],
) -> SyncOut:
    """Change only the fields sent; the result is validated like a create."""
    sync = service.update_sync(
        session,
        workspace_id=workspace.id,
        sync_id=str(sync_id),
        patch=body,
        secrets=ctx.secrets,
    )
    return SyncOut.of(sync, health=health_service.sync_healths(session, [sync])[sync.id])


@router.delete(
    "/{syncId}", summary="Delete a sync", response_model=DeletedOut, responses=errors(409)
)
def delete_sync(workspace: WorkspaceDep, session: SessionDep, sync_id: SyncPath) -> DeletedOut:
    """Delete a sync and its run history."""
    service.delete_sync(session, workspace_id=workspace.id, sync_id=str(sync_id))
    return DeletedOut()


@router.post(
    "/{syncId}/trigger",
    summary="Trigger a sync run",
    status_code=status.HTTP_201_CREATED,
    response_model=RunOut,
    responses={
        200: {"model": RunOut, "description": "A run was already pending or running: that run"},
        **errors(409),
    },
)
async def trigger_sync(
    workspace: WorkspaceDep,
    token: TokenDep,
    session: SessionDep,
    ctx: CtxDep,
    sync_id: SyncPath,
    body: Annotated[TriggerIn | None, Body()] = None,
) -> RunOut | JSONResponse:
    """Start a run now, outside the schedule; at most one run is active per sync."""
    # ``async`` with one thread-pool hop for the database work: a plain ``def`` endpoint
    # takes a second hop for FastAPI's check of its return value (issue 16).

    def work() -> RunOut | JSONResponse:
        run, created = run_service.trigger_run(
            session,
            queue=ctx.queue,
            workspace_id=workspace.id,
            sync_id=str(sync_id),
            triggered_by=token.id,
            run_mode=body.run_mode if body else RunMode.INCREMENTAL,
        )
        if not created:
            return JSONResponse(RunOut.of(run).model_dump(mode="json"), status_code=200)
        return RunOut.of(run)

    return await run_in_threadpool(work)


@router.post(
    "/{syncId}/dry-run",
    summary="Plan a run without writing anything",
    response_model=DryRunOut,
    responses=errors(502),
)
def dry_run_sync(
    workspace: WorkspaceDep,
    session: SessionDep,
    ctx: CtxDep,
    sync_id: SyncPath,
    body: Annotated[DryRunIn | None, Body()] = None,
) -> DryRunOut:
    """Extract and diff like a run, then report the planned creates, updates and deletes with
    counts and sample records; the destination, the snapshot and the run history are untouched.
    """
    opts = body or DryRunIn()
    plan = dryrun_service.dry_run_sync(
        session,
        ctx=ctx,
        workspace_id=workspace.id,
        sync_id=str(sync_id),
        run_mode=opts.run_mode,
        sample_size=opts.sample_size,
    )
    return DryRunOut.model_validate(plan)
