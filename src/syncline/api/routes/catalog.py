"""The connector catalog: installed types, connection checks, a destination's objects and fields.

``/api/v1/source-types`` and ``/api/v1/destination-types`` need a valid token but no workspace:
what is installed is the same for every tenant. Checks and object listings talk to the real
system with the stored (decrypted) config; these routes are plain ``def`` so FastAPI runs them
in its threadpool and a slow connector never blocks the event loop.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from syncline.api.deps import (
    CtxDep,
    DestinationPath,
    SessionDep,
    SourcePath,
    WorkspaceDep,
    get_token,
)
from syncline.api.schemas.catalog import (
    CheckOut,
    DestinationTypeOut,
    FieldOut,
    ObjectOut,
    SourceTypeOut,
)
from syncline.api.schemas.common import SCOPED, errors
from syncline.services import catalog as service

TypePath = Annotated[str, Path(alias="type", max_length=64, description="Connector type.")]
ObjectPath = Annotated[
    str, Path(alias="object", max_length=255, description="Object name, as listed.")
]

_types = APIRouter(
    prefix="/api/v1",
    tags=["catalog"],
    dependencies=[Depends(get_token)],
    responses=errors(401, 429),
)
_scoped = APIRouter(prefix="/api/v1/workspaces/{id}", responses=SCOPED)


@_types.get("/source-types", summary="List source types", response_model=list[SourceTypeOut])
def list_source_types() -> list[SourceTypeOut]:
    """Every installed source connector with the JSON Schema of its config."""
    return [SourceTypeOut.of(t) for t in service.connector_types("source")]


@_types.get(
    "/source-types/{type}",
    summary="Get a source type",
    response_model=SourceTypeOut,
    responses=errors(404),
)
def get_source_type(type_name: TypePath) -> SourceTypeOut:
    """One installed source connector (404 when not installed)."""
    return SourceTypeOut.of(service.get_connector_type("source", type_name))


@_types.get(
    "/destination-types", summary="List destination types", response_model=list[DestinationTypeOut]
)
def list_destination_types() -> list[DestinationTypeOut]:
    """Every installed destination connector with its config's JSON Schema and capabilities."""
    return [DestinationTypeOut.of(t) for t in service.connector_types("destination")]


@_types.get(
    "/destination-types/{type}",
    summary="Get a destination type",
    response_model=DestinationTypeOut,
    responses=errors(404),
)
def get_destination_type(type_name: TypePath) -> DestinationTypeOut:
    """One installed destination connector (404 when not installed)."""
    return DestinationTypeOut.of(service.get_connector_type("destination", type_name))


@_scoped.post(
    "/sources/{sourceId}/check",
    summary="Test a source's connection",
    tags=["sources"],
    response_model=CheckOut,
)
def check_source(
    workspace: WorkspaceDep, session: SessionDep, ctx: CtxDep, source_id: SourcePath
) -> CheckOut:
    """Connect with the stored config; a failed test is still 200, with ``ok: false``."""
    outcome = service.check_source(
        session, secrets=ctx.secrets, workspace_id=workspace.id, source_id=str(source_id)
    )
    return CheckOut.of(outcome)


@_scoped.post(
    "/destinations/{destinationId}/check",
    summary="Test a destination's connection",
    tags=["destinations"],
    response_model=CheckOut,
)
def check_destination(
    workspace: WorkspaceDep, session: SessionDep, ctx: CtxDep, destination_id: DestinationPath
) -> CheckOut:
    """Connect with the stored config; a failed test is still 200, with ``ok: false``."""
    outcome = service.check_destination(
        session, secrets=ctx.secrets, workspace_id=workspace.id, destination_id=str(destination_id)
    )
    return CheckOut.of(outcome)


@_scoped.get(
    "/destinations/{destinationId}/objects",
    summary="List a destination's objects",
    tags=["destinations"],
    response_model=list[ObjectOut],
    responses=errors(409, 502),
)
def list_objects(
    workspace: WorkspaceDep, session: SessionDep, ctx: CtxDep, destination_id: DestinationPath
) -> list[ObjectOut]:
    """The tables or CRM objects the destination offers (``[]`` when it lists none)."""
    objects = service.list_objects(
        session, secrets=ctx.secrets, workspace_id=workspace.id, destination_id=str(destination_id)
    )
    return [ObjectOut.of(o) for o in objects]


@_scoped.get(
    "/destinations/{destinationId}/objects/{object}/fields",
    summary="List an object's fields",
    tags=["destinations"],
    response_model=list[FieldOut],
    responses=errors(409, 502),
)
def list_fields(
    workspace: WorkspaceDep,
    session: SessionDep,
    ctx: CtxDep,
    destination_id: DestinationPath,
    object_name: ObjectPath,
) -> list[FieldOut]:
    """The fields a mapping's ``destination_field`` can name (404 for an unknown object)."""
    obj = service.get_object(
        session,
        secrets=ctx.secrets,
        workspace_id=workspace.id,
        destination_id=str(destination_id),
        object_name=object_name,
    )
    return [FieldOut.of(f) for f in obj.fields]


router = APIRouter()
router.include_router(_types)
router.include_router(_scoped)
