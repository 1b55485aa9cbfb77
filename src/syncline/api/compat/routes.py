"""The vendor's Syncs API under ``/compat/census/api/v1``: a thin layer over the services.

Every handler translates the request (``convert.py``), calls the same service function as the
primary API, and shapes the answer (``views.py``) in the vendor's envelope.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse

from syncline.api.compat import ids
from syncline.api.compat.convert import common_fields, create_fields, place_fields
from syncline.api.compat.http import VendorRoute, VendorToken, envelope
from syncline.api.compat.schemas import MAX_ID, SyncCreateIn, SyncPatchIn, TriggerIn
from syncline.api.compat.views import (
    connection_view,
    run_view,
    sync_statuses,
    sync_view,
    type_views,
)
from syncline.api.deps import CtxDep, SessionDep
from syncline.domain.enums import RunMode
from syncline.domain.validation import ErrorDetail, ValidationError
from syncline.services import destinations as destination_service
from syncline.services import runs as run_service
from syncline.services import sources as source_service
from syncline.services import syncs as sync_service
from syncline.services.common import Page, PageRequest, get_scoped
from syncline.services.sync_spec import SyncPatch, SyncSpec
from syncline.store.tables import SyncRun

BASE = "/compat/census/api/v1"
router = APIRouter(prefix=BASE, tags=["compat: census"], route_class=VendorRoute)

IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
PageQ = Annotated[int, Query(ge=0, le=1_000_000, description="From 1 (0 is taken as 1).")]
PerPageQ = Annotated[int, Query(ge=1, le=100, description="At most 100.")]
OrderQ = Annotated[Literal["asc", "desc"], Query(description="By creation time.")]


def _page(page: int, per_page: int, order: Literal["asc", "desc"]) -> PageRequest:
    return PageRequest(page=max(page, 1), per_page=per_page, order=order)


def _listed(result: Page[Any], data: list[dict[str, Any]]) -> JSONResponse:
    """The vendor's list envelope with its ``pagination`` object."""
    per_page = result.request.per_page or max(result.total, 1)
    page, last = result.request.page, result.last_page
    return envelope(
        "success",
        data,
        pagination={
            "total_records": result.total,
            "per_page": per_page,
            "prev_page": page - 1 if page > 1 else None,
            "page": page,
            "next_page": page + 1 if page < last else None,
            "last_page": last,
        },
    )


def _spec(model: type[pydantic.BaseModel], values: dict[str, Any]) -> Any:
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as exc:
        raise ValidationError(
            [ErrorDetail(("body", *e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
        ) from None


def _sync_uuid(session: SessionDep, number: int) -> str:
    return ids.uuid_of(session, ids.SYNC, number, label="Sync")


@router.get("/syncs", summary="List syncs")
def list_syncs(
    token: VendorToken,
    session: SessionDep,
    page: PageQ = 1,
    per_page: PerPageQ = 25,
    order: OrderQ = "asc",
) -> JSONResponse:
    result = sync_service.list_syncs(
        session, workspace_id=token.workspace_id, page=_page(page, per_page, order)
    )
    statuses = sync_statuses(session, list(result.items))
    return _listed(result, [sync_view(session, s, statuses[s.id]) for s in result.items])


@router.post("/syncs", summary="Create a sync", status_code=201)
def create_sync(
    token: VendorToken, session: SessionDep, ctx: CtxDep, body: Annotated[SyncCreateIn, Body()]
) -> JSONResponse:
    values = create_fields(session, ctx, token.workspace_id, body)
    spec = _spec(SyncSpec, values)
    sync = sync_service.create_sync(
        session,
        queue=ctx.queue,
        workspace_id=token.workspace_id,
        created_by=token.id,
        spec=spec,
        validate_only=body.validate_only,
        secrets=ctx.secrets,
    )
    if body.validate_only:
        return envelope("success", {"valid": True})
    view = sync_view(session, sync, "ready")
    return envelope("created", {"sync_id": view["id"], **view}, code=201)


@router.get("/syncs/{sync_id}", summary="Fetch a sync")
def get_sync(token: VendorToken, session: SessionDep, sync_id: IdPath) -> JSONResponse:
    sync = sync_service.get_sync(
        session, workspace_id=token.workspace_id, sync_id=_sync_uuid(session, sync_id)
    )
    return envelope("success", sync_view(session, sync, sync_statuses(session, [sync])[sync.id]))


@router.patch("/syncs/{sync_id}", summary="Update a sync")
def update_sync(
    token: VendorToken,
    session: SessionDep,
    ctx: CtxDep,
    sync_id: IdPath,
    body: Annotated[SyncPatchIn, Body()],
) -> JSONResponse:
    uuid = _sync_uuid(session, sync_id)
    current = sync_service.get_sync(session, workspace_id=token.workspace_id, sync_id=uuid)
    sent = set(body.model_fields_set)
    values = {
        **place_fields(session, ctx, token.workspace_id, body, current),
        **common_fields(body, sent, current),
    }
    if values.get("label"):
        values["name"] = values["label"]
    patch = _spec(SyncPatch, values)
    sync = sync_service.update_sync(
        session, workspace_id=token.workspace_id, sync_id=uuid, patch=patch, secrets=ctx.secrets
    )
    status = sync_statuses(session, [sync])[sync.id]
    return envelope("updated", sync_view(session, sync, status))


@router.delete("/syncs/{sync_id}", summary="Delete a sync")
def delete_sync(token: VendorToken, session: SessionDep, sync_id: IdPath) -> JSONResponse:
    uuid = _sync_uuid(session, sync_id)
    sync_service.delete_sync(session, workspace_id=token.workspace_id, sync_id=uuid)
    return envelope("success", None)


@router.post("/syncs/{sync_id}/trigger", summary="Trigger a sync run")
def trigger_sync(
    token: VendorToken,
    session: SessionDep,
    ctx: CtxDep,
    sync_id: IdPath,
    body: Annotated[TriggerIn | None, Body()] = None,
    force_full_sync: bool | None = None,
) -> JSONResponse:
    """Start a run now (``force_full_sync``: a full run); an active run is returned as is."""
    full = force_full_sync if force_full_sync is not None else bool(body and body.force_full_sync)
    run, _created = run_service.trigger_run(
        session,
        queue=ctx.queue,
        workspace_id=token.workspace_id,
        sync_id=_sync_uuid(session, sync_id),
        triggered_by=token.id,
        run_mode=RunMode.FULL if full else RunMode.INCREMENTAL,
    )
    return envelope("success", {"sync_run_id": ids.int_of(session, ids.RUN, run.id)})


@router.get("/syncs/{sync_id}/sync_runs", summary="List a sync's runs")
def list_sync_runs(
    token: VendorToken,
    session: SessionDep,
    sync_id: IdPath,
    page: PageQ = 1,
    per_page: PerPageQ = 25,
    order: OrderQ = "desc",
) -> JSONResponse:
    result = run_service.list_runs(
        session,
        workspace_id=token.workspace_id,
        sync_id=_sync_uuid(session, sync_id),
        page=_page(page, per_page, order),
    )
    return _listed(result, [run_view(session, r) for r in result.items])


@router.get("/sync_runs/{run_id}", summary="Fetch a sync run")
def get_sync_run(token: VendorToken, session: SessionDep, run_id: IdPath) -> JSONResponse:
    uuid = ids.uuid_of(session, ids.RUN, run_id, label="Sync run")
    run = get_scoped(session, SyncRun, workspace_id=token.workspace_id, id=uuid, kind="Sync run")
    return envelope("success", run_view(session, run))


@router.get("/sources", summary="List sources")
def list_sources(
    token: VendorToken,
    session: SessionDep,
    page: PageQ = 1,
    per_page: PerPageQ = 25,
    order: OrderQ = "asc",
) -> JSONResponse:
    result = source_service.list_sources(
        session, workspace_id=token.workspace_id, page=_page(page, per_page, order)
    )
    return _listed(result, [connection_view(session, ids.SOURCE, s) for s in result.items])


@router.get("/sources/{source_id}", summary="Fetch a source")
def get_source(token: VendorToken, session: SessionDep, source_id: IdPath) -> JSONResponse:
    uuid = ids.uuid_of(session, ids.SOURCE, source_id, label="Source")
    row = source_service.get_source(session, workspace_id=token.workspace_id, source_id=uuid)
    return envelope("success", connection_view(session, ids.SOURCE, row))


@router.get("/destinations", summary="List destinations")
def list_destinations(
    token: VendorToken,
    session: SessionDep,
    page: PageQ = 1,
    per_page: PerPageQ = 25,
    order: OrderQ = "asc",
) -> JSONResponse:
    result = destination_service.list_destinations(
        session, workspace_id=token.workspace_id, page=_page(page, per_page, order)
    )
    return _listed(result, [connection_view(session, ids.DESTINATION, d) for d in result.items])


@router.get("/destinations/{destination_id}", summary="Fetch a destination")
def get_destination(
    token: VendorToken, session: SessionDep, destination_id: IdPath
) -> JSONResponse:
    uuid = ids.uuid_of(session, ids.DESTINATION, destination_id, label="Destination")
    row = destination_service.get_destination(
        session, workspace_id=token.workspace_id, destination_id=uuid
    )
    return envelope("success", connection_view(session, ids.DESTINATION, row))


@router.get("/source_types", summary="List source types")
def list_source_types(token: VendorToken) -> JSONResponse:
    return envelope("success", type_views(ids.SOURCE))


@router.get("/destination_types", summary="List destination types")
def list_destination_types(token: VendorToken) -> JSONResponse:
    return envelope("success", type_views(ids.DESTINATION))
