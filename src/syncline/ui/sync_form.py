"""Create and edit a sync in the browser: ``/ui/syncs/new`` and ``/ui/syncs/{id}/edit``.

The form is turned into the same ``SyncSpec`` / ``SyncPatch`` the API takes (ui/form_fields.py)
and handed to ``services.syncs`` (``validate_only`` for the Validate button), so every rule
stays there; errors come back next to the field they are about. The model preview, the
destination's objects and fields and the schedule's next fire times are htmx fragments from
the services the API uses (``services.models.preview_model``, ``services.catalog``).
"""

from __future__ import annotations

from typing import Any

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from syncline.api.deps import CtxDep, SessionDep
from syncline.domain.schedule import WEEKDAYS
from syncline.domain.validation import ValidationError
from syncline.services import catalog, syncs
from syncline.services.common import PageRequest
from syncline.services.destinations import list_destinations
from syncline.services.errors import ConflictError, NotFoundError, UpstreamError
from syncline.services.models import list_models, preview_model
from syncline.services.sync_spec import SyncPatch, SyncSpec
from syncline.store.tables import utcnow
from syncline.ui import form_fields as ff
from syncline.ui import views
from syncline.ui.render import not_found, render, workspace_name
from syncline.ui.session import UiSessionDep, read_form, verify_csrf

router = APIRouter(prefix="/ui", include_in_schema=False)
MODES = ("upsert", "insert", "update", "mirror", "append")
PREVIEW_ROWS = 10
CANNOT_LIST = (ConflictError, UpstreamError, NotFoundError)
Values = dict[str, Any]


def _values(sync: Any) -> Values:
    """The form's values for a stored sync (None: a new one)."""
    mapping = [dict(m) for m in (sync.field_mapping or [])] if sync else []
    return {
        "name": sync.name if sync else "",
        "model_id": sync.model_id if sync else "",
        "destination_id": sync.destination_id if sync else "",
        "sync_mode": sync.sync_mode if sync else "upsert",
        "primary_key": sync.primary_key if sync else "",
        "field_mapping": mapping,
        "alerts": ff.alert_fields(list(sync.alert_attributes or []) if sync else []),
        **ff.schedule_fields(sync.schedule if sync else None),
    }


def _from_form(form: dict[str, str], current: list[dict[str, Any]]) -> tuple[Values, Values]:
    """The API body the form describes, and errors found before the spec sees it."""
    errors: dict[str, str] = {}
    try:
        schedule = ff.schedule_from_form(form)
    except ValueError as exc:
        schedule, errors["schedule"] = None, str(exc)
    alerts, alert_errors = ff.alerts_from_form(form, current)
    body = {
        "name": form.get("name", "").strip(),
        "model_id": form.get("model_id", ""),
        "destination_id": form.get("destination_id", ""),
        "sync_mode": form.get("sync_mode", "upsert"),
        "primary_key": form.get("primary_key", "").strip(),
        "schedule": schedule,
        "field_mapping": ff.mapping_from_form(form),
        "alert_attributes": alerts,
    }
    return body, {**errors, **alert_errors}


def _redisplay(form: dict[str, str], body: Values) -> Values:
    """What the user typed, shown again (picker fields as typed, not as parsed)."""
    picker = {k: form.get(k, "") for k in ("sched_kind", "sched_every", "sched_time")}
    picker |= {k: form.get(k, "") for k in ("sched_day", "sched_cron")}
    return {**body, **picker, "alerts": ff.alert_fields(body["alert_attributes"]), "raw": form}


def _errors(exc: Exception, alerts: list[dict[str, Any]]) -> dict[str, str]:
    """Field key (``name``, ``field_mapping.0.source_column``, ``schedule``…) -> message."""
    if isinstance(exc, pydantic.ValidationError):
        pairs = [(tuple(e["loc"]), e["msg"]) for e in exc.errors()]
    elif isinstance(exc, ValidationError):
        pairs = [(tuple(e.loc), e.msg) for e in exc.errors]
    else:
        return {"": str(exc)}
    out: dict[str, str] = {}
    for loc, msg in pairs:
        parts = [str(p) for p in loc if p != "body"]
        if parts[:1] == ["schedule"]:
            parts = ["schedule"]  # the union's branches are one picker
        elif parts[:1] == ["alert_attributes"] and len(parts) > 1 and parts[1].isdigit():
            i = int(parts[1])
            parts = ["alert", str(alerts[i].get("type")) if i < len(alerts) else "?"]
        elif parts[:1] == ["field_mapping"] and len(parts) > 3:
            parts = parts[:3]  # constant_value.<type> -> the row's cell
        key = ".".join(parts)
        out[key] = f"{out[key]}; {msg}" if key in out else msg
    return out


def _catalog(
    session: Session, ctx: Any, workspace_id: str, values: Values, wanted: str = ""
) -> Values:
    """The model's columns, the destination's objects and fields, and name matches."""
    models = list_models(session, workspace_id=workspace_id, page=PageRequest(per_page=None))
    model = next((m for m in models.items if m.id == values.get("model_id")), None)
    columns = [str(c.get("name")) for c in (model.columns or [])] if model else []
    objects: list[Any] = []
    target, problem = "", ""
    dest_id = str(values.get("destination_id") or "")
    if dest_id:
        try:
            objects = catalog.list_objects(
                session, secrets=ctx.secrets, workspace_id=workspace_id, destination_id=dest_id
            )
        except CANNOT_LIST as exc:
            problem = str(exc)
        dest = next((d for d in _dests(session, workspace_id) if d.id == dest_id), None)
        target = _target(dest, ctx) if dest is not None else ""
    names = [o.name for o in objects]
    chosen = wanted if wanted in names else (target if target in names else "")
    obj = next((o for o in objects if o.name == chosen), None)
    fields = list(obj.fields) if obj else []
    return {
        "columns": columns,
        "objects": names,
        "object": chosen,
        "target": target,
        "fields": fields,
        "catalog_problem": problem,
        "suggested": ff.suggestions(columns, [f.name for f in fields]),
    }


def _target(dest: Any, ctx: Any) -> str:
    """The object a destination writes to: named in its config, else its type's default."""
    config = dest.config or {}
    named = next((config[k] for k in catalog.OBJECT_KEYS if isinstance(config.get(k), str)), "")
    if named:
        return str(named)
    found = catalog.target_fields(dest.type, config, ctx.secrets)
    return found[0] if found else ""


def _dests(session: Session, workspace_id: str) -> list[Any]:
    page = list_destinations(session, workspace_id=workspace_id, page=PageRequest(per_page=None))
    return list(page.items)


def _schedule_preview(value: Any) -> Values:
    """The schedule in words and its next 3 fire times (UTC)."""
    return {
        "words": views.schedule_words(value),
        "fires": views.next_fires(value, utcnow()) if value is not None else [],
    }


def _page(
    request: Request,
    session: Session,
    ctx: Any,
    live: Any,
    form: Values,
    sync: Any = None,
    errors: dict[str, str] | None = None,
    ok: str = "",
) -> HTMLResponse:
    errors = errors or {}
    cat = _catalog(session, ctx, live.workspace_id, form, form.get("raw", {}).get("object", ""))
    if form.pop("suggest", False):
        form["field_mapping"] = ff.apply_suggestions(form["field_mapping"], cat["suggested"])
    try:
        schedule = ff.schedule_from_form(form)
        preview = _schedule_preview(schedule)
    except ValueError:
        preview = {"words": "", "fires": []}
    models = list_models(session, workspace_id=live.workspace_id, page=PageRequest(per_page=None))
    return render(
        request,
        "sync_form.html",
        status_code=422 if errors else 200,
        workspace=workspace_name(session, live.workspace_id),
        models=models.items,
        dests=_dests(session, live.workspace_id),
        modes=MODES,
        casts=ff.CASTS,
        constant_text=ff.constant_text,
        alert_types=ff.ALERTS,
        kinds=ff.KINDS,
        weekdays=WEEKDAYS,
        rows=ff.padded(form["field_mapping"]),
        form=form,
        sync=sync,
        errors=errors,
        ok=ok,
        sched=preview,
        **cat,
    )


@router.get("/syncs/new")
def new_form(request: Request, session: SessionDep, ctx: CtxDep, live: UiSessionDep) -> Response:
    return _page(request, session, ctx, live, _values(None))


@router.get("/syncs/{sync_id}/edit")
def edit_form(
    request: Request, sync_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    try:
        sync = syncs.get_sync(session, workspace_id=live.workspace_id, sync_id=sync_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    return _page(request, session, ctx, live, _values(sync), sync)


def _save(
    session: Session, ctx: Any, live: Any, sync: Any, body: Values, only: bool
) -> tuple[Any, dict[str, str]]:
    """Validate (and unless ``only``, save) through the services; errors by field."""
    try:
        if sync is None:
            saved = syncs.create_sync(
                session,
                queue=ctx.queue,
                workspace_id=live.workspace_id,
                created_by=live.token_id,
                spec=SyncSpec.model_validate(body),
                validate_only=only,
                secrets=ctx.secrets,
            )
        else:
            saved = syncs.update_sync(
                session,
                workspace_id=live.workspace_id,
                sync_id=sync.id,
                patch=SyncPatch.model_validate(body),
                secrets=ctx.secrets,
                validate_only=only,
            )
    except (pydantic.ValidationError, ValidationError, ValueError) as exc:
        session.rollback()
        return None, _errors(exc, body["alert_attributes"])
    return saved, {}


async def _post(request: Request, session: Session, ctx: Any, live: Any, sync: Any) -> Response:
    form = await read_form(request)
    verify_csrf(request, form, ctx)
    body, early = _from_form(form, list(sync.alert_attributes or []) if sync else [])
    shown = _redisplay(form, body)
    action = form.get("action", "save")
    if action == "suggest":
        shown["suggest"] = True
        return _page(request, session, ctx, live, shown, sync)
    if early:
        return _page(request, session, ctx, live, shown, sync, early)
    saved, errors = _save(session, ctx, live, sync, body, only=action == "validate")
    if errors:
        return _page(request, session, ctx, live, shown, sync, errors)
    if action == "validate":
        return _page(request, session, ctx, live, shown, sync, ok="Valid: nothing was saved yet.")
    done = "Saved" if sync else "Sync+created"
    return RedirectResponse(f"/ui/syncs/{saved.id}?msg={done}", 303)


@router.post("/syncs/new")
async def create(
    request: Request, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    return await _post(request, session, ctx, live, None)


@router.post("/syncs/{sync_id}/edit")
async def edit(
    request: Request, sync_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    try:
        sync = syncs.get_sync(session, workspace_id=live.workspace_id, sync_id=sync_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    return await _post(request, session, ctx, live, sync)


@router.post("/syncs/form/preview")
async def model_preview(
    request: Request, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    """The model's first rows (the API's model preview; operator role, like the API)."""
    form = await read_form(request)
    verify_csrf(request, form, ctx)
    columns: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    error = ""
    try:
        columns, rows = preview_model(
            session,
            secrets=ctx.secrets,
            workspace_id=live.workspace_id,
            model_id=form.get("model_id", ""),
            limit=PREVIEW_ROWS,
            settings=ctx.settings,
        )
    except (NotFoundError, ValidationError, ConflictError, UpstreamError) as exc:
        error = str(exc)
    return render(request, "_form_preview.html", columns=columns, rows=rows, error=error)


@router.post("/syncs/form/catalog")
async def catalog_fragment(
    request: Request, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    """The destination's objects and fields and the suggested matches, for the chosen pair."""
    form = await read_form(request)
    verify_csrf(request, form, ctx)
    cat = _catalog(session, ctx, live.workspace_id, form, form.get("object", ""))
    return render(request, "_form_catalog.html", **cat)


@router.post("/syncs/form/schedule")
async def schedule_fragment(request: Request, ctx: CtxDep, live: UiSessionDep) -> Response:
    """The picked schedule in words with its next 3 fire times, or why it is not valid."""
    form = await read_form(request)
    verify_csrf(request, form, ctx)
    try:
        value = ff.schedule_from_form(form)
        SyncPatch.model_validate({"schedule": value})
        sched, error = _schedule_preview(value), ""
    except (ValueError, pydantic.ValidationError) as exc:
        sched, error = {"words": "", "fires": []}, _errors(exc, []).get("schedule", str(exc))
    return render(request, "_form_schedule.html", sched=sched, error=error)
