"""The read-only web dashboard: server-rendered Jinja2 pages under ``/ui``.

Login takes an API token and opens a server-side session (ui/session.py): the cookie holds
a session id, never the token. Every page reads only the session's workspace, through the
same services the API calls; every form carries a CSRF token. No JavaScript.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from syncline.api.deps import CtxDep, SessionDep
from syncline.api.ratelimit import client_ip, rate_limits
from syncline.services.common import PageRequest
from syncline.services.errors import NotFoundError
from syncline.services.runs import get_run, list_records, list_runs
from syncline.services.syncs import get_sync, list_syncs
from syncline.services.ui_sessions import close_session, find_session, open_session
from syncline.services.workspaces import authenticate
from syncline.store.tables import Workspace
from syncline.ui.session import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    LoginRequired,
    UiSessionDep,
    csrf_token,
    read_form,
    set_login_csrf_cookie,
    verify_csrf,
)

HERE = Path(__file__).parent
LIVE = ("pending", "running")
SUMMARY_KEYS = ("added", "changed", "removed", "unchanged", "rejected", "sent", "acknowledged")

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"], default=True),
)
templates.filters["pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True, default=str)

router = APIRouter(prefix="/ui", include_in_schema=False)
_COOKIE_OPTS: dict[str, Any] = {"path": "/ui", "httponly": True, "samesite": "strict"}


def _render(request: Request, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    html = templates.get_template(name).render(csrf_token=csrf_token(request), **values)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _not_found(request: Request, exc: NotFoundError) -> HTMLResponse:
    return _render(request, "not_found.html", status_code=404, what=exc.kind, workspace=None)


def _workspace_name(session: Session, workspace_id: str) -> str:
    workspace = session.get(Workspace, workspace_id)
    return workspace.name if workspace is not None else ""


def _all_syncs(session: Session, workspace_id: str) -> Iterator[Any]:
    page = 1
    while True:
        result = list_syncs(
            session, workspace_id=workspace_id, page=PageRequest(page=page, per_page=200)
        )
        yield from result.items
        if page >= result.last_page:
            return
        page += 1


def _summary(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    def total(value: Any) -> Any:
        return sum(value.values()) if isinstance(value, dict) else value

    return [(key, total(summary[key])) for key in SUMMARY_KEYS if key in summary]


def _login_page(request: Request, status_code: int = 200, error: str | None = None) -> Response:
    response = _render(request, "login.html", status_code=status_code, error=error, workspace=None)
    set_login_csrf_cookie(request, response)
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
async def login(request: Request, session: SessionDep, ctx: CtxDep) -> Response:
    form = await read_form(request)
    verify_csrf(request, form, ctx)
    limits, ip = rate_limits(request), client_ip(request)
    limits.check_failures(ip)
    raw = form.get("token", "").strip()
    token = authenticate(session, token=raw, pepper=ctx.token_pepper) if raw else None
    if token is None:
        limits.fail(ip)
        return _login_page(request, status_code=401, error="Invalid or revoked API token.")
    limits.hit_token(token.id)
    session_id, _ = open_session(session, token=token, ttl=ctx.settings.ui_session_ttl)
    response = RedirectResponse("/ui/", status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(COOKIE, session_id, secure=secure, **_COOKIE_OPTS)
    response.delete_cookie(LOGIN_CSRF_COOKIE, **_COOKIE_OPTS)
    return response


@router.post("/logout")
async def logout(request: Request, session: SessionDep, ctx: CtxDep) -> Response:
    live = find_session(session, session_id=request.cookies.get(COOKIE, "").strip())
    if live is not None:
        request.state.ui_session = live
        verify_csrf(request, await read_form(request), ctx)
        close_session(session, session_id=live.id)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, **_COOKIE_OPTS)
    return response


@router.get("/")
def dashboard(request: Request, session: SessionDep, live: UiSessionDep) -> HTMLResponse:
    syncs = list(_all_syncs(session, live.workspace_id))
    counts: dict[str, int] = {}
    for sync in syncs:
        counts[sync.status] = counts.get(sync.status, 0) + 1
    return _render(
        request,
        "dashboard.html",
        workspace=_workspace_name(session, live.workspace_id),
        syncs=syncs,
        counts=sorted(counts.items()),
    )


@router.get("/syncs/{sync_id}")
def sync_page(
    request: Request, sync_id: str, session: SessionDep, live: UiSessionDep
) -> HTMLResponse:
    try:
        sync = get_sync(session, workspace_id=live.workspace_id, sync_id=sync_id)
    except NotFoundError as exc:
        return _not_found(request, exc)
    runs = list_runs(
        session,
        workspace_id=live.workspace_id,
        sync_id=sync.id,
        page=PageRequest(per_page=25, order="desc"),
    )
    return _render(
        request,
        "sync.html",
        workspace=_workspace_name(session, live.workspace_id),
        sync=sync,
        runs=runs.items,
        total_runs=runs.total,
        refresh=any(r.status in LIVE for r in runs.items),
    )


@router.get("/syncs/{sync_id}/runs/{run_id}")
def run_page(
    request: Request, sync_id: str, run_id: str, session: SessionDep, live: UiSessionDep
) -> HTMLResponse:
    try:
        sync = get_sync(session, workspace_id=live.workspace_id, sync_id=sync_id)
        run = get_run(session, workspace_id=live.workspace_id, sync_id=sync.id, run_id=run_id)
    except NotFoundError as exc:
        return _not_found(request, exc)
    records = list_records(
        session,
        workspace_id=live.workspace_id,
        sync_id=sync.id,
        run_id=run.id,
        page=PageRequest(per_page=100),
        status="failed",
    )
    return _render(
        request,
        "run.html",
        workspace=_workspace_name(session, live.workspace_id),
        sync=sync,
        run=run,
        summary=_summary(run.summary or {}),
        records=records.items,
        total_records=records.total,
        refresh=run.status in LIVE,
    )


async def _login_required(request: Request, exc: Exception) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    if request.cookies.get(COOKIE):
        response.delete_cookie(COOKIE, **_COOKIE_OPTS)
    return response


def install_ui(app: FastAPI) -> None:
    """Add the dashboard pages, their static files and their error pages to ``app``."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.add_exception_handler(LoginRequired, _login_required)
