"""Alerts, alert channels and the audit trail in the browser.

* ``/ui/alerts``: what fired (type, sync, run, channel, delivered or not, when), from the alert
  outbox through ``alerts.service.list_events``, the statement the API's ``/alerts`` pages.
* ``/ui/alert-channels``: list, create (a form built from the channel's config model, secrets
  write-only), delete and test (``alerts.service``; testing needs operator, like the API).
* ``/ui/audit-events``: who changed what (``services.audit.list_events``), filtered by action,
  object type, actor and dates; editor and above, like ``GET .../audit-events``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from syncline.alerts import service as alerts
from syncline.alerts.channels import CONFIGS
from syncline.api.deps import CtxDep, SessionDep
from syncline.api.routes.alerts import ChannelCreate
from syncline.domain.validation import ValidationError
from syncline.security.secrets import mask_config
from syncline.services import audit
from syncline.services.common import PageRequest, paginate
from syncline.services.syncs import list_syncs
from syncline.store.alert_tables import AlertEvent
from syncline.ui import forms
from syncline.ui.forms import back, checked_form
from syncline.ui.render import render, workspace_name
from syncline.ui.session import UiSessionDep

router = APIRouter(prefix="/ui", include_in_schema=False)
PER_PAGE = 50
STATUSES = ("pending", "delivered", "failed", "undeliverable")
CHANNEL_NAMES = {"webhook": "JSON webhook (HMAC-signed)", "slack": "Slack", "email": "Email (SMTP)"}
OBJECT_PAGES = {
    "source": "/ui/sources/",
    "model": "/ui/models/",
    "destination": "/ui/destinations/",
    "sync": "/ui/syncs/",
}
ChannelPath = Annotated[str, Path(alias="channelId")]


def _show(
    request: Request, session: Session, live: Any, template: str, section: str, **values: Any
) -> HTMLResponse:
    return render(
        request,
        template,
        workspace=workspace_name(session, live.workspace_id),
        section=section,
        message=request.query_params.get("msg", ""),
        **values,
    )


def _sync_names(session: Session, workspace_id: str) -> dict[str, str]:
    page = list_syncs(session, workspace_id=workspace_id, page=PageRequest(per_page=None))
    return {s.id: s.name for s in page.items}


@router.get("/alerts")
def alerts_page(
    request: Request,
    session: SessionDep,
    live: UiSessionDep,
    status: str = "",
    sync_id: str = "",
    page: int = 1,
) -> HTMLResponse:
    stmt = alerts.list_events(
        session,
        live.workspace_id,
        sync_id=sync_id or None,
        status=status if status in STATUSES else None,
    )
    rows = paginate(
        session,
        stmt,
        page=PageRequest(page=max(1, page), per_page=PER_PAGE, order="desc"),
        order_by=[AlertEvent.created_at, AlertEvent.id],
    )
    args = {k: v for k, v in (("status", status), ("sync_id", sync_id)) if v}
    return _show(
        request,
        session,
        live,
        "alerts.html",
        "alerts",
        rows=rows,
        syncs=_sync_names(session, live.workspace_id),
        channels={c.id: c.name for c in alerts.list_channels(session, live.workspace_id)},
        statuses=STATUSES,
        status=status,
        sync_id=sync_id,
        args=args,
    )


def _channels_page(
    request: Request, session: Session, live: Any, tested: tuple[str, str] | None = None
) -> HTMLResponse:
    channels = alerts.list_channels(session, live.workspace_id)
    return _show(
        request,
        session,
        live,
        "alert_channels.html",
        "channels",
        channels=channels,
        masked={c.id: mask_config(c.config or {}) for c in channels},
        names=CHANNEL_NAMES,
        tested=tested,
    )


@router.get("/alert-channels")
def channels_page(request: Request, session: SessionDep, live: UiSessionDep) -> HTMLResponse:
    return _channels_page(request, session, live)


def _channel_fields(type_name: str) -> list[forms.ConfigField] | None:
    model = CONFIGS.get(type_name)
    return forms.fields_of(model.model_json_schema(by_alias=True)) if model else None


def _channel_form(
    request: Request,
    session: Session,
    live: Any,
    type_name: str,
    values: dict[str, str] | None = None,
    name: str = "",
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    fields = _channel_fields(type_name)
    errors = errors or {}
    known = {"name", "type", "config", *(f.input_name for f in fields or [])}
    response = _show(
        request,
        session,
        live,
        "alert_channel_form.html",
        "channels",
        type=type_name if fields is not None else "",
        names=CHANNEL_NAMES,
        fields=fields or [],
        values=values or {},
        form_name=name,
        errors=errors,
        others=[msg for key, msg in errors.items() if key not in known],
    )
    response.status_code = 422 if errors else 200
    return response


@router.get("/alert-channels/new")
def new_channel(
    request: Request, session: SessionDep, live: UiSessionDep, type: str = ""
) -> HTMLResponse:
    return _channel_form(request, session, live, type)


@router.post("/alert-channels/new")
async def create_channel(
    request: Request, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    form = await checked_form(request, ctx)
    type_name = form.get("type", "")
    fields = _channel_fields(type_name) or []
    try:
        config = forms.config_from_form(fields, form)
        body = ChannelCreate.model_validate(
            {"name": form.get("name", "").strip(), "type": type_name, "config": config}
        )
        alerts.create_channel(
            session, ctx.secrets, live.workspace_id, body.name, body.type, body.config
        )
    except (pydantic.ValidationError, ValidationError, ValueError) as exc:
        session.rollback()
        return _channel_form(
            request,
            session,
            live,
            type_name,
            values=forms.redisplay(fields, form),
            name=form.get("name", ""),
            errors=forms.field_errors(exc),
        )
    return back("/ui/alert-channels", "Channel created")


@router.post("/alert-channels/{channelId}/test")
async def test_channel(
    request: Request,
    channel_id: ChannelPath,
    session: SessionDep,
    ctx: CtxDep,
    live: UiSessionDep,
) -> Response:
    await checked_form(request, ctx)
    try:
        error = alerts.test_channel(session, ctx.secrets, live.workspace_id, channel_id)
    except alerts.ChannelNotFound:
        return back("/ui/alert-channels", "Not found (it may have been deleted).")
    return _channels_page(request, session, live, tested=(channel_id, error))


@router.get("/alert-channels/{channelId}/delete")
def confirm_delete_channel(
    request: Request, channel_id: ChannelPath, session: SessionDep, live: UiSessionDep
) -> Response:
    try:
        channel = alerts.get_channel(session, live.workspace_id, channel_id)
    except alerts.ChannelNotFound:
        return back("/ui/alert-channels", "Not found (it may have been deleted).")
    return _show(
        request,
        session,
        live,
        "confirm.html",
        "channels",
        title=f"Delete alert channel “{channel.name}”?",
        text="Alerts will no longer be sent there. Alerts it was sent keep their history.",
        action=f"/ui/alert-channels/{channel.id}/delete",
        cancel="/ui/alert-channels",
        users=[],
        users_label="",
    )


@router.post("/alert-channels/{channelId}/delete")
async def delete_channel(
    request: Request,
    channel_id: ChannelPath,
    session: SessionDep,
    ctx: CtxDep,
    live: UiSessionDep,
) -> Response:
    await checked_form(request, ctx)
    try:
        alerts.delete_channel(session, live.workspace_id, channel_id)
    except alerts.ChannelNotFound:
        return back("/ui/alert-channels", "Not found (it may have been deleted).")
    return back("/ui/alert-channels", "Channel deleted")


def _day(value: str, *, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` filter as a UTC instant (``end``: the start of the next day)."""
    if not value:
        return None
    start = datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


@router.get("/audit-events")
def audit_page(
    request: Request,
    session: SessionDep,
    live: UiSessionDep,
    action: str = "",
    object_type: str = "",
    actor: str = "",
    since: str = "",
    until: str = "",
    page: int = 1,
) -> HTMLResponse:
    error = ""
    try:
        start, end = _day(since), _day(until, end=True)
    except ValueError:
        start = end = None
        error = "Dates are YYYY-MM-DD."
    rows = audit.list_events(
        session,
        workspace_id=live.workspace_id,
        page=PageRequest(page=max(1, page), per_page=PER_PAGE, order="desc"),
        action=action.strip() or None,
        object_type=object_type or None,
        actor=actor.strip() or None,
        since=start,
        until=end,
    )
    filters = {"action": action, "object_type": object_type, "actor": actor}
    filters |= {"since": since, "until": until}
    return _show(
        request,
        session,
        live,
        "audit.html",
        "audit",
        rows=rows,
        filters=filters,
        args={k: v for k, v in filters.items() if v},
        object_types=sorted(set(audit.AUDITED.values())),
        pages=OBJECT_PAGES,
        error=error,
    )
