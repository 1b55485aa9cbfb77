"""Create and edit a sync in the browser: ``/ui/syncs/new`` and ``/ui/syncs/{id}/edit``.

The form is turned into the same ``SyncSpec`` / ``SyncPatch`` the API takes and handed to
``services.syncs`` (``validate_only`` for the Validate button), so every rule stays there;
errors come back next to the field they are about. Column and field suggestions come from
the model's discovered columns and the destination's catalog fields (``services.catalog``).
"""

from __future__ import annotations

from typing import Any

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from syncline.api.deps import CtxDep, SessionDep
from syncline.domain.validation import ValidationError
from syncline.services import syncs
from syncline.services.catalog import target_fields
from syncline.services.common import PageRequest
from syncline.services.destinations import list_destinations
from syncline.services.errors import NotFoundError
from syncline.services.models import list_models
from syncline.services.sync_spec import SyncPatch, SyncSpec
from syncline.ui.render import not_found, render, workspace_name
from syncline.ui.session import UiSessionDep, read_form, verify_csrf

router = APIRouter(prefix="/ui", include_in_schema=False)
MODES = ("upsert", "insert", "update", "mirror", "append")
ROWS = 8


def _values(sync: Any) -> dict[str, Any]:
    mapping = list(sync.field_mapping or []) if sync else []
    return {
        "name": sync.name if sync else "",
        "model_id": sync.model_id if sync else "",
        "destination_id": sync.destination_id if sync else "",
        "sync_mode": sync.sync_mode if sync else "upsert",
        "primary_key": sync.primary_key if sync else "",
        "schedule": sync.schedule if sync and isinstance(sync.schedule, str) else "",
        "mapping": mapping + [{}] * max(1, ROWS - len(mapping)),
    }


def _from_form(form: dict[str, str]) -> dict[str, Any]:
    mapping = []
    for i in range(ROWS * 4):
        src, dst = form.get(f"src_{i}", "").strip(), form.get(f"dst_{i}", "").strip()
        if src or dst:
            mapping.append({"source_column": src, "destination_field": dst})
    return {
        "name": form.get("name", "").strip(),
        "model_id": form.get("model_id", ""),
        "destination_id": form.get("destination_id", ""),
        "sync_mode": form.get("sync_mode", "upsert"),
        "primary_key": form.get("primary_key", "").strip(),
        "schedule": form.get("schedule", "").strip() or None,
        "field_mapping": mapping,
    }


def _errors(exc: Exception) -> dict[str, str]:
    """Field name (``name``, ``field_mapping.0.destination_field``…) -> message."""
    if isinstance(exc, pydantic.ValidationError):
        pairs = [(tuple(e["loc"]), e["msg"]) for e in exc.errors()]
    elif isinstance(exc, ValidationError):
        pairs = [(tuple(e.loc), e.msg) for e in exc.errors]
    else:
        return {"": str(exc)}
    out: dict[str, str] = {}
    for loc, msg in pairs:
        key = ".".join(str(p) for p in loc if p != "body")
        out[key] = f"{out[key]}; {msg}" if key in out else msg
    return out


def _choices(session: Session, ctx: Any, workspace_id: str, values: dict[str, Any]) -> Any:
    models = list_models(session, workspace_id=workspace_id, page=PageRequest(per_page=None))
    dests = list_destinations(session, workspace_id=workspace_id, page=PageRequest(per_page=None))
    columns: list[str] = []
    fields: list[str] = []
    for m in models.items:
        if m.id == values.get("model_id"):
            columns = [str(c.get("name")) for c in (m.columns or [])]
    for d in dests.items:
        if d.id == values.get("destination_id"):
            found = target_fields(d.type, d.config, ctx.secrets)
            fields = list(found[1]) if found else []
    return models.items, dests.items, columns, fields


def _page(request: Request, session: Session, ctx: Any, live: Any, **values: Any) -> HTMLResponse:
    form = values["form"]
    models, dests, columns, fields = _choices(session, ctx, live.workspace_id, form)
    lower = {f.lower(): f for f in fields}
    suggested = {c: lower[c.lower()] for c in columns if c.lower() in lower}
    return render(
        request,
        "sync_form.html",
        status_code=422 if values.get("errors") else 200,
        workspace=workspace_name(session, live.workspace_id),
        models=models,
        dests=dests,
        columns=columns,
        fields=fields,
        suggested=suggested,
        modes=MODES,
        **values,
    )


@router.get("/syncs/new")
def new_form(request: Request, session: SessionDep, ctx: CtxDep, live: UiSessionDep) -> Response:
    return _page(request, session, ctx, live, form=_values(None), sync=None, errors={}, ok="")


@router.get("/syncs/{sync_id}/edit")
def edit_form(
    request: Request, sync_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    try:
        sync = syncs.get_sync(session, workspace_id=live.workspace_id, sync_id=sync_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    return _page(request, session, ctx, live, form=_values(sync), sync=sync, errors={}, ok="")


def _redisplay(body: dict[str, Any]) -> dict[str, Any]:
    mapping = body["field_mapping"]
    return {
        **body,
        "schedule": body["schedule"] or "",
        "mapping": mapping + [{}] * max(1, ROWS - len(mapping)),
    }


@router.post("/syncs/new")
async def create(
    request: Request, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    form = await read_form(request)
    verify_csrf(request, form, ctx)
    body = _from_form(form)
    only = form.get("action") == "validate"
    try:
        spec = SyncSpec.model_validate(body)
        sync = syncs.create_sync(
            session,
            queue=ctx.queue,
            workspace_id=live.workspace_id,
            created_by=live.token_id,
            spec=spec,
            validate_only=only,
            secrets=ctx.secrets,
        )
    except (pydantic.ValidationError, ValidationError, ValueError) as exc:
        session.rollback()
        return _page(
            request,
            session,
            ctx,
            live,
            form=_redisplay(body),
            sync=None,
            errors=_errors(exc),
            ok="",
        )
    if only:
        return _page(
            request,
            session,
            ctx,
            live,
            form=_redisplay(body),
            sync=None,
            errors={},
            ok="Valid: nothing was saved yet.",
        )
    return RedirectResponse(f"/ui/syncs/{sync.id}?msg=Sync+created", 303)


@router.post("/syncs/{sync_id}/edit")
async def edit(
    request: Request, sync_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    form = await read_form(request)
    verify_csrf(request, form, ctx)
    try:
        sync = syncs.get_sync(session, workspace_id=live.workspace_id, sync_id=sync_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    body = _from_form(form)
    try:
        patch = SyncPatch.model_validate(body)
        syncs.update_sync(
            session,
            workspace_id=live.workspace_id,
            sync_id=sync.id,
            patch=patch,
            secrets=ctx.secrets,
        )
    except (pydantic.ValidationError, ValidationError, ValueError) as exc:
        session.rollback()
        return _page(
            request,
            session,
            ctx,
            live,
            form=_redisplay(body),
            sync=sync,
            errors=_errors(exc),
            ok="",
        )
    return RedirectResponse(f"/ui/syncs/{sync.id}?msg=Saved", 303)
