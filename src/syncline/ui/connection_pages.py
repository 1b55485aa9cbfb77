"""Sources and destinations in the browser: list, create, edit, delete, test the connection.

One implementation serves both kinds (like ``api/routes/connections.py``); the work is the
services': ``services.sources`` / ``services.destinations`` create, update and delete with the
connector's own validation and encrypt the secrets, ``services.catalog`` tests the connection.
The form (ui/forms.py) is built from the connector's config schema; secrets are write-only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pydantic
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from syncline.api.deps import CtxDep, SessionDep
from syncline.api.schemas.connections import ConnectionCreate, ConnectionUpdate
from syncline.context import AppContext
from syncline.domain.validation import ValidationError
from syncline.security.secrets import mask_config
from syncline.services import catalog
from syncline.services.common import PageRequest
from syncline.services.connections import Connections, connector_class, seal_config
from syncline.services.destinations import DESTINATIONS
from syncline.services.errors import ConflictError, NotFoundError
from syncline.services.models import list_models
from syncline.services.sources import SOURCES
from syncline.services.syncs import list_syncs
from syncline.ui import forms
from syncline.ui.forms import back, checked_form
from syncline.ui.render import not_found, render, workspace_name
from syncline.ui.session import UiSessionDep

router = APIRouter(prefix="/ui", include_in_schema=False)
PER_PAGE = 50


class _Refused(Exception):
    """Field errors already worked out (see :func:`_schema_errors`)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def _errors(exc: Exception) -> dict[str, str]:
    return exc.errors if isinstance(exc, _Refused) else forms.field_errors(exc)


@dataclass(frozen=True)
class Kind:
    """What differs between the pages of sources and of destinations."""

    plural: str  # the path: "sources"
    label: str  # "Source"
    service: Connections[Any]
    check: Callable[..., catalog.CheckOutcome]
    users_label: str  # "Models reading from it"
    users: Callable[[Session, str, str], list[tuple[str, str]]]  # (url, name) of the users

    @property
    def kind(self) -> catalog.Kind:
        return self.service.kind

    @property
    def singular(self) -> str:
        return self.label.lower()


def _models_of(session: Session, workspace_id: str, source_id: str) -> list[tuple[str, str]]:
    page = list_models(
        session, workspace_id=workspace_id, page=PageRequest(per_page=None), source_id=source_id
    )
    return [(f"/ui/models/{m.id}", m.name) for m in page.items]


def _syncs_of(session: Session, workspace_id: str, destination_id: str) -> list[tuple[str, str]]:
    page = list_syncs(
        session,
        workspace_id=workspace_id,
        page=PageRequest(per_page=None),
        destination_id=destination_id,
    )
    return [(f"/ui/syncs/{s.id}", s.name) for s in page.items]


def _check_source(session: Session, ctx: AppContext, workspace_id: str, id: str) -> Any:
    return catalog.check_source(
        session, secrets=ctx.secrets, workspace_id=workspace_id, source_id=id
    )


def _check_destination(session: Session, ctx: AppContext, workspace_id: str, id: str) -> Any:
    return catalog.check_destination(
        session, secrets=ctx.secrets, workspace_id=workspace_id, destination_id=id
    )


KINDS = (
    Kind("sources", "Source", SOURCES, _check_source, "Models reading from it", _models_of),
    Kind(
        "destinations",
        "Destination",
        DESTINATIONS,
        _check_destination,
        "Syncs writing to it",
        _syncs_of,
    ),
)


def _schema_errors(
    k: Kind,
    ctx: AppContext,
    exc: pydantic.ValidationError,
    type_name: str,
    config: Any,
    previous: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The request schema's errors (the name...) and, with them, the config's own errors.

    The service would only check the config once the name is valid; asking the connector's
    model now too shows every problem of the form at once.
    """
    errors = forms.field_errors(exc)
    try:
        seal_config(ctx.secrets, connector_class(k.kind, type_name), config, previous=previous)
    except ValidationError as more:
        errors = forms.field_errors(more) | errors
    return errors


def _types(kind: Kind) -> list[catalog.ConnectorType]:
    return catalog.connector_types(kind.kind)


def _fields(kind: Kind, type_name: str) -> list[forms.ConfigField] | None:
    try:
        return forms.fields_of(catalog.get_connector_type(kind.kind, type_name).config_schema)
    except NotFoundError:
        return None


def _routes(k: Kind) -> None:
    base = f"/{k.plural}"

    def show(
        request: Request, session: Session, live: Any, template: str, **values: Any
    ) -> HTMLResponse:
        return render(
            request,
            template,
            workspace=workspace_name(session, live.workspace_id),
            k=k,
            section=k.plural,
            message=request.query_params.get("msg", ""),
            **values,
        )

    def form_page(
        request: Request,
        session: Session,
        live: Any,
        *,
        type_name: str,
        row: Any = None,
        values: dict[str, str] | None = None,
        name: str = "",
        errors: dict[str, str] | None = None,
    ) -> Response:
        fields = _fields(k, type_name)
        if fields is None:  # no (or an unknown) type yet: pick one first
            picker = show(
                request,
                session,
                live,
                "connection_types.html",
                types=_types(k),
                error=(errors or {}).get("type", ""),
            )
            picker.status_code = 422 if errors else 200
            return picker
        masked = mask_config(row.config or {}) if row is not None else {}
        errors = errors or {}
        known = {"name", "config", *(f.input_name for f in fields)}
        response = show(
            request,
            session,
            live,
            "connection_form.html",
            row=row,
            type=catalog.get_connector_type(k.kind, type_name),
            fields=fields,
            values=values if values is not None else forms.shown_values(fields, masked),
            stored=forms.stored_secrets(fields, masked),
            form_name=name or (row.name if row is not None else ""),
            errors=errors,
            others=[msg for key, msg in errors.items() if key not in known],
        )
        response.status_code = 422 if errors else 200
        return response

    @router.get(base, name=f"ui_{k.plural}")
    def list_page(
        request: Request, session: SessionDep, live: UiSessionDep, q: str = "", page: int = 1
    ) -> HTMLResponse:
        rows = k.service.list(
            session,
            workspace_id=live.workspace_id,
            page=PageRequest(page=max(1, page), per_page=PER_PAGE),
            q=q or None,
        )
        names = {t.type: t.name for t in _types(k)}
        return show(request, session, live, "connections.html", rows=rows, q=q, names=names)

    @router.get(f"{base}/new", name=f"ui_new_{k.singular}")
    def new_form(
        request: Request, session: SessionDep, live: UiSessionDep, type: str = ""
    ) -> Response:
        return form_page(request, session, live, type_name=type)

    @router.post(f"{base}/new", name=f"ui_create_{k.singular}")
    async def create(
        request: Request, session: SessionDep, ctx: CtxDep, live: UiSessionDep
    ) -> Response:
        form = await checked_form(request, ctx)
        type_name = form.get("type", "")
        fields = _fields(k, type_name) or []
        config: dict[str, Any] = {}
        try:
            config = forms.config_from_form(fields, form)
            try:
                body = ConnectionCreate.model_validate(
                    {"name": form.get("name", "").strip(), "type": type_name, "config": config}
                )
            except pydantic.ValidationError as exc:
                raise _Refused(_schema_errors(k, ctx, exc, type_name, config)) from None
            row = k.service.create(
                session,
                secrets=ctx.secrets,
                workspace_id=live.workspace_id,
                name=body.name,
                type=body.type,
                config=body.config,
            )
        except (_Refused, ValidationError, ValueError) as exc:
            session.rollback()
            return form_page(
                request,
                session,
                live,
                type_name=type_name,
                values=forms.redisplay(fields, form),
                name=form.get("name", ""),
                errors=_errors(exc),
            )
        return back(f"/ui{base}/{row.id}", f"{k.label} created")

    @router.get(f"{base}/{{item_id}}", name=f"ui_{k.singular}")
    def detail(
        request: Request, item_id: str, session: SessionDep, live: UiSessionDep
    ) -> HTMLResponse:
        return _detail(request, session, live, item_id, None)

    def _detail(
        request: Request, session: Session, live: Any, item_id: str, check: Any
    ) -> HTMLResponse:
        try:
            row = k.service.get(session, workspace_id=live.workspace_id, id=item_id)
        except NotFoundError as exc:
            return not_found(request, exc)
        fields = _fields(k, row.type) or []
        masked = mask_config(row.config or {})
        return show(
            request,
            session,
            live,
            "connection.html",
            row=row,
            fields=fields,
            shown=forms.shown_values(fields, masked),
            stored=forms.stored_secrets(fields, masked),
            extra={key: v for key, v in masked.items() if key not in {f.name for f in fields}},
            users=k.users(session, live.workspace_id, row.id),
            check=check,
        )

    @router.post(f"{base}/{{item_id}}/check", name=f"ui_check_{k.singular}")
    async def check(
        request: Request, item_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
    ) -> Response:
        await checked_form(request, ctx)
        try:
            outcome = k.check(session, ctx, live.workspace_id, item_id)
        except NotFoundError as exc:
            return not_found(request, exc)
        return _detail(request, session, live, item_id, outcome)

    @router.get(f"{base}/{{item_id}}/edit", name=f"ui_edit_{k.singular}")
    def edit_form(
        request: Request, item_id: str, session: SessionDep, live: UiSessionDep
    ) -> Response:
        try:
            row = k.service.get(session, workspace_id=live.workspace_id, id=item_id)
        except NotFoundError as exc:
            return not_found(request, exc)
        return form_page(request, session, live, type_name=row.type, row=row)

    @router.post(f"{base}/{{item_id}}/edit", name=f"ui_update_{k.singular}")
    async def edit(
        request: Request, item_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
    ) -> Response:
        form = await checked_form(request, ctx)
        try:
            row = k.service.get(session, workspace_id=live.workspace_id, id=item_id)
        except NotFoundError as exc:
            return not_found(request, exc)
        fields = _fields(k, row.type) or []
        stored = forms.stored_secrets(fields, mask_config(row.config or {}))
        try:
            config = forms.config_from_form(fields, form, stored=stored)
            try:
                body = ConnectionUpdate.model_validate(
                    {"name": form.get("name", "").strip(), "config": config}
                )
            except pydantic.ValidationError as exc:
                errors = _schema_errors(k, ctx, exc, row.type, config, row.config)
                raise _Refused(errors) from None
            k.service.update(
                session,
                secrets=ctx.secrets,
                workspace_id=live.workspace_id,
                id=row.id,
                name=body.name,
                config=body.config,
            )
        except (_Refused, ValidationError, ValueError, ConflictError) as exc:
            session.rollback()
            return form_page(
                request,
                session,
                live,
                type_name=row.type,
                row=row,
                values=forms.redisplay(fields, form),
                name=form.get("name", ""),
                errors=_errors(exc),
            )
        return back(f"/ui{base}/{row.id}", "Saved")

    @router.get(f"{base}/{{item_id}}/delete", name=f"ui_confirm_delete_{k.singular}")
    def confirm_delete(
        request: Request, item_id: str, session: SessionDep, live: UiSessionDep
    ) -> HTMLResponse:
        try:
            row = k.service.get(session, workspace_id=live.workspace_id, id=item_id)
        except NotFoundError as exc:
            return not_found(request, exc)
        return show(
            request,
            session,
            live,
            "confirm.html",
            title=f"Delete {k.singular} “{row.name}”?",
            text=f"This deletes the {k.singular} and its stored credentials. "
            f"It is refused while anything uses it.",
            action=f"/ui{base}/{row.id}/delete",
            cancel=f"/ui{base}/{row.id}",
            users=k.users(session, live.workspace_id, row.id),
            users_label=k.users_label,
        )

    @router.post(f"{base}/{{item_id}}/delete", name=f"ui_delete_{k.singular}")
    async def delete(
        request: Request, item_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
    ) -> Response:
        await checked_form(request, ctx)
        try:
            k.service.delete(session, workspace_id=live.workspace_id, id=item_id)
        except NotFoundError:
            return back(f"/ui{base}", "Not found (it may have been deleted).")
        except ConflictError as exc:
            return back(f"/ui{base}/{item_id}", str(exc))
        return back(f"/ui{base}", f"{k.label} deleted")


for _kind in KINDS:
    _routes(_kind)
