"""Models in the browser: list, create, edit, delete, and preview a model's rows.

A model page shows its SQL, primary key and discovered columns; **Preview rows** (operator,
like the API's ``POST .../preview``) runs ``services.models.preview_model``, the same bounded
preview the API serves. Creating or editing runs the SQL once to discover the columns, in the
service; its refusals (bad SQL, a primary key that is not a column) show next to the field.
"""

from __future__ import annotations

from typing import Any

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from syncline.api.deps import CtxDep, SessionDep
from syncline.api.schemas.models import ModelCreate, ModelUpdate
from syncline.domain.validation import ValidationError
from syncline.services import models as service
from syncline.services.common import PageRequest
from syncline.services.errors import BusyError, ConflictError, NotFoundError
from syncline.services.sources import get_source, list_sources
from syncline.services.syncs import list_syncs
from syncline.store.tables import Model
from syncline.ui import forms
from syncline.ui.forms import back, checked_form
from syncline.ui.render import not_found, render, workspace_name
from syncline.ui.session import UiSessionDep

router = APIRouter(prefix="/ui", include_in_schema=False)
PER_PAGE = 50
PREVIEW_ROWS = 20
REFUSED = (pydantic.ValidationError, ValidationError, ValueError, BusyError)
FIELDS = ("name", "description", "source_id", "sql", "primary_key")


def _sources(session: Session, workspace_id: str) -> list[Any]:
    return list(
        list_sources(session, workspace_id=workspace_id, page=PageRequest(per_page=None)).items
    )


def _show(
    request: Request, session: Session, live: Any, template: str, **values: Any
) -> HTMLResponse:
    return render(
        request,
        template,
        workspace=workspace_name(session, live.workspace_id),
        section="models",
        message=request.query_params.get("msg", ""),
        **values,
    )


def _form(
    request: Request,
    session: Session,
    live: Any,
    *,
    row: Model | None,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    errors = errors or {}
    response = _show(
        request,
        session,
        live,
        "model_form.html",
        row=row,
        values=values,
        sources=_sources(session, live.workspace_id),
        errors=errors,
        others=[msg for key, msg in errors.items() if key not in FIELDS],
    )
    response.status_code = 422 if errors else 200
    return response


def _values(row: Model | None, form: dict[str, str] | None = None) -> dict[str, str]:
    if form is not None:
        return {key: form.get(key, "") for key in FIELDS}
    if row is None:
        return dict.fromkeys(FIELDS, "")
    return {key: str(getattr(row, key) or "") for key in FIELDS}


@router.get("/models")
def list_page(
    request: Request, session: SessionDep, live: UiSessionDep, q: str = "", page: int = 1
) -> HTMLResponse:
    rows = service.list_models(
        session,
        workspace_id=live.workspace_id,
        page=PageRequest(page=max(1, page), per_page=PER_PAGE),
        q=q or None,
    )
    sources = {s.id: s.name for s in _sources(session, live.workspace_id)}
    return _show(request, session, live, "models.html", rows=rows, q=q, sources=sources)


@router.get("/models/new")
def new_form(request: Request, session: SessionDep, live: UiSessionDep) -> Response:
    values = _values(None)
    values["source_id"] = request.query_params.get("source_id", "")
    return _form(request, session, live, row=None, values=values)


@router.post("/models/new")
async def create(
    request: Request, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    form = await checked_form(request, ctx)
    try:
        body = ModelCreate.model_validate(
            {key: form.get(key, "").strip() for key in FIELDS if form.get(key, "").strip()}
            | {"description": form.get("description", "")}
        )
        row = service.create_model(
            session,
            secrets=ctx.secrets,
            workspace_id=live.workspace_id,
            name=body.name,
            description=body.description,
            source_id=str(body.source_id),
            sql=body.sql,
            primary_key=body.primary_key,
            settings=ctx.settings,
        )
    except REFUSED as exc:
        session.rollback()
        return _form(
            request,
            session,
            live,
            row=None,
            values=_values(None, form),
            errors=forms.field_errors(exc),
        )
    return back(f"/ui/models/{row.id}", "Model created")


def _detail(
    request: Request,
    session: Session,
    live: Any,
    model_id: str,
    preview: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None,
    preview_error: str = "",
) -> HTMLResponse:
    try:
        row = service.get_model(session, workspace_id=live.workspace_id, model_id=model_id)
        source = get_source(session, workspace_id=live.workspace_id, source_id=row.source_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    syncs = list_syncs(
        session, workspace_id=live.workspace_id, page=PageRequest(per_page=None), model_id=row.id
    ).items
    return _show(
        request,
        session,
        live,
        "model.html",
        row=row,
        source=source,
        syncs=syncs,
        preview=preview,
        preview_error=preview_error,
    )


@router.get("/models/{model_id}")
def detail(request: Request, model_id: str, session: SessionDep, live: UiSessionDep) -> Response:
    return _detail(request, session, live, model_id)


@router.post("/models/{model_id}/preview")
async def preview(
    request: Request, model_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    await checked_form(request, ctx)
    try:
        result = service.preview_model(
            session,
            secrets=ctx.secrets,
            workspace_id=live.workspace_id,
            model_id=model_id,
            limit=PREVIEW_ROWS,
            settings=ctx.settings,
        )
    except NotFoundError as exc:
        return not_found(request, exc)
    except (ValidationError, BusyError) as exc:
        session.rollback()
        return _detail(request, session, live, model_id, preview_error=str(exc))
    return _detail(request, session, live, model_id, preview=result)


@router.get("/models/{model_id}/edit")
def edit_form(request: Request, model_id: str, session: SessionDep, live: UiSessionDep) -> Response:
    try:
        row = service.get_model(session, workspace_id=live.workspace_id, model_id=model_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    return _form(request, session, live, row=row, values=_values(row))


@router.post("/models/{model_id}/edit")
async def edit(
    request: Request, model_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    form = await checked_form(request, ctx)
    try:
        row = service.get_model(session, workspace_id=live.workspace_id, model_id=model_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    try:
        body = ModelUpdate.model_validate(
            {key: form.get(key, "").strip() for key in FIELDS if key != "description"}
            | {"description": form.get("description", "")}
        )
        changed_sql = body.sql if body.sql != row.sql else None
        changed_source = (
            str(body.source_id) if body.source_id and str(body.source_id) != row.source_id else None
        )
        service.update_model(
            session,
            secrets=ctx.secrets,
            workspace_id=live.workspace_id,
            model_id=row.id,
            name=body.name,
            description=body.description,
            source_id=changed_source,
            sql=changed_sql,
            primary_key=body.primary_key,
            settings=ctx.settings,
        )
    except REFUSED as exc:
        session.rollback()
        return _form(
            request,
            session,
            live,
            row=row,
            values=_values(row, form),
            errors=forms.field_errors(exc),
        )
    return back(f"/ui/models/{row.id}", "Saved")


@router.get("/models/{model_id}/delete")
def confirm_delete(
    request: Request, model_id: str, session: SessionDep, live: UiSessionDep
) -> HTMLResponse:
    try:
        row = service.get_model(session, workspace_id=live.workspace_id, model_id=model_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    syncs = list_syncs(
        session, workspace_id=live.workspace_id, page=PageRequest(per_page=None), model_id=row.id
    ).items
    return _show(
        request,
        session,
        live,
        "confirm.html",
        title=f"Delete model “{row.name}”?",
        text="This deletes the model (its SQL and columns); the source's data is left as it is. "
        "It is refused while a sync reads it.",
        action=f"/ui/models/{row.id}/delete",
        cancel=f"/ui/models/{row.id}",
        users=[(f"/ui/syncs/{s.id}", s.name) for s in syncs],
        users_label="Syncs reading it",
    )


@router.post("/models/{model_id}/delete")
async def delete(
    request: Request, model_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    await checked_form(request, ctx)
    try:
        service.delete_model(session, workspace_id=live.workspace_id, model_id=model_id)
    except NotFoundError:
        return back("/ui/models", "Not found (it may have been deleted).")
    except ConflictError as exc:
        return back(f"/ui/models/{model_id}", str(exc))
    return back("/ui/models", "Model deleted")
