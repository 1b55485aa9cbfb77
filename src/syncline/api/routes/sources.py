"""``/api/v1/workspaces/{id}/sources``: warehouse connections (configs shown masked)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from syncline.api.deps import CtxDep, SessionDep, SourcePath, WorkspaceDep
from syncline.api.pagination import PAGE_HEADERS, PageAsc, set_page_headers
from syncline.api.schemas.common import SCOPED, DeletedOut, errors
from syncline.api.schemas.connections import SourceCreate, SourceOut, SourceUpdate
from syncline.services import sources as service

router = APIRouter(prefix="/api/v1/workspaces/{id}/sources", tags=["sources"], responses=SCOPED)

NameFilter = Annotated[
    str | None, Query(max_length=255, pattern=r"^[^\x00]*$", description="Name contains.")
]
TypeFilter = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")]


@router.get(
    "",
    summary="List sources",
    response_model=list[SourceOut],
    responses={200: {"headers": PAGE_HEADERS}},
)
def list_sources(
    workspace: WorkspaceDep,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageAsc,
    type: TypeFilter = None,
    q: NameFilter = None,
) -> list[SourceOut]:
    """The workspace's sources, oldest first."""
    result = service.list_sources(session, workspace_id=workspace.id, page=page, type=type, q=q)
    set_page_headers(response, request, result)
    return [SourceOut.of(s) for s in result.items]


@router.post(
    "", summary="Create a source", status_code=status.HTTP_201_CREATED, response_model=SourceOut
)
def create_source(
    workspace: WorkspaceDep, session: SessionDep, ctx: CtxDep, body: SourceCreate
) -> SourceOut:
    """Create a source; ``config`` is checked by the connector and its secrets encrypted."""
    source = service.create_source(
        session,
        secrets=ctx.secrets,
        workspace_id=workspace.id,
        name=body.name,
        type=body.type,
        config=body.config,
    )
    return SourceOut.of(source)


@router.get("/{sourceId}", summary="Get a source", response_model=SourceOut)
def get_source(workspace: WorkspaceDep, session: SessionDep, source_id: SourcePath) -> SourceOut:
    """One source; secrets are shown as ********."""
    return SourceOut.of(
        service.get_source(session, workspace_id=workspace.id, source_id=str(source_id))
    )


@router.put("/{sourceId}", summary="Update a source", response_model=SourceOut)
def update_source(
    workspace: WorkspaceDep,
    session: SessionDep,
    ctx: CtxDep,
    source_id: SourcePath,
    body: SourceUpdate,
) -> SourceOut:
    """Change the fields sent; in ``config``, ``********`` keeps a stored secret."""
    source = service.update_source(
        session,
        secrets=ctx.secrets,
        workspace_id=workspace.id,
        source_id=str(source_id),
        name=body.name,
        type=body.type,
        config=body.config,
    )
    return SourceOut.of(source)


@router.delete(
    "/{sourceId}", summary="Delete a source", response_model=DeletedOut, responses=errors(409)
)
def delete_source(
    workspace: WorkspaceDep, session: SessionDep, source_id: SourcePath
) -> DeletedOut:
    """Delete a source no model reads from (409 otherwise)."""
    service.delete_source(session, workspace_id=workspace.id, source_id=str(source_id))
    return DeletedOut()
