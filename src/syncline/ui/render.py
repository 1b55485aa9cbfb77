"""Rendering shared by every dashboard page: the Jinja2 environment and small lookups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from syncline.security.roles import allows, required_role
from syncline.services.destinations import get_destination
from syncline.services.errors import NotFoundError
from syncline.services.models import get_model
from syncline.store.tables import Sync, Workspace
from syncline.ui import form_fields, views
from syncline.ui.session import csrf_token

HERE = Path(__file__).parent

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"], default=True),
)
templates.filters["pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True, default=str)
templates.filters["words"] = views.schedule_words
templates.filters["duration"] = views.duration
templates.filters["outcome"] = views.outcome
templates.filters["alert"] = form_fields.alert_words
templates.filters["num"] = lambda value: f"{int(value or 0):,}"
# may(role, "GET", "/ui/audit-events"): whether to offer a link the role table would refuse
templates.globals["may"] = lambda role, method, path: (
    bool(role) and allows(role, required_role(method, path))
)


def render(request: Request, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    live = getattr(request.state, "ui_session", None)
    html = templates.get_template(name).render(
        csrf_token=csrf_token(request), role=live.role if live else "", **values
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def not_found(request: Request, exc: NotFoundError) -> HTMLResponse:
    return render(request, "not_found.html", status_code=404, what=exc.kind, workspace=None)


def workspace_name(session: Session, workspace_id: str) -> str:
    workspace = session.get(Workspace, workspace_id)
    return workspace.name if workspace is not None else ""


def names(session: Session, workspace_id: str, sync: Sync) -> tuple[str, str]:
    """The names of a sync's model and destination (they are in the same workspace)."""
    try:
        model = get_model(session, workspace_id=workspace_id, model_id=sync.model_id).name
        dest = get_destination(
            session, workspace_id=workspace_id, destination_id=sync.destination_id
        ).name
    except NotFoundError:
        return ("?", "?")
    return (model, dest)
