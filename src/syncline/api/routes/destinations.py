"""``/api/v1/workspaces/{id}/destinations``: where syncs write (configs shown masked)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from syncline.api.deps import CtxDep, DestinationPath, SessionDep, WorkspaceDep
from syncline.api.pagination import PAGE_HEADERS, PageAsc, set_page_headers
from syncline.api.schemas.common import SCOPED, DeletedOut, errors
from syncline.api.schemas.connections import DestinationCreate, DestinationOut, DestinationUpdate
from syncline.services import destinations as service

router = APIRouter(
    prefix="/api/v1/workspaces/{id}/destinations", tags=["destinations"], responses=SCOPED
)

NameFilter = Annotated[
    str | None, Query(max_length=255, pattern=r"^[^\x00]*$", description="Name contains.")
]
TypeFilter = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")]


@router.get(
    "",
    summary="List destinations",
    response_model=list[DestinationOut],
    responses={200: {"headers": PAGE_HEADERS}},
)
def list_destinations(
    workspace: WorkspaceDep,
    session: SessionDep,
    request: Request,
    response: Response,
    page: PageAsc,
    type: TypeFilter = None,
    q: NameFilter = None,
) -> list[DestinationOut]:
    """The workspace's destinations, oldest first."""
    result = service.list_destinations(
        session, workspace_id=workspace.id, page=page, type=type, q=q
    )
    set_page_headers(response, request, result)
    return [DestinationOut.of(s) for s in result.items]


@router.post(
    "",
    summary="Create a destination",
    status_code=status.HTTP_201_CREATED,
    response_model=DestinationOut,
)
def create_destination(
    workspace: WorkspaceDep, session: SessionDep, ctx: CtxDep, body: DestinationCreate
) -> DestinationOut:
    """Create a destination; ``config`` is checked by the connector and its secrets encrypted."""
    destination = service.create_destination(
        session,
        secrets=ctx.secrets,
        workspace_id=workspace.id,
        name=body.name,
        type=body.type,
        config=body.config,
    )
    return DestinationOut.of(destination)


@router.get("/{destinationId}", summary="Get a destination", response_model=DestinationOut)
def get_destination(
    workspace: WorkspaceDep, session: SessionDep, destination_id: DestinationPath
) -> DestinationOut:
    """One destination; secrets are shown as ********."""
    return DestinationOut.of(
        service.get_destination(
            session, workspace_id=workspace.id, destination_id=str(destination_id)
        )
    )


@router.put("/{destinationId}", summary="Update a destination", response_model=DestinationOut)
def update_destination(
    workspace: WorkspaceDep,
    session: SessionDep,
    ctx: CtxDep,
    destination_id: DestinationPath,
    body: DestinationUpdate,
) -> DestinationOut:
    """Change the fields sent; in ``config``, ``********`` keeps a stored secret."""
    destination = service.update_destination(
        session,
        secrets=ctx.secrets,
        workspace_id=workspace.id,
        destination_id=str(destination_id),
        name=body.name,
        type=body.type,
        config=body.config,
    )
    return DestinationOut.of(destination)


@router.delete(
    "/{destinationId}",
    summary="Delete a destination",
    response_model=DeletedOut,
    responses=errors(409),
)
def delete_destination(
    workspace: WorkspaceDep, session: SessionDep, destination_id: DestinationPath
) -> DeletedOut:
    """Delete a destination no sync writes to (409 otherwise)."""
    service.delete_destination(
        session, workspace_id=workspace.id, destination_id=str(destination_id)
    )
    return DeletedOut()
