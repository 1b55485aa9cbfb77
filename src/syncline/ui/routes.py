"""The web dashboard: server-rendered Jinja2 pages under ``/ui`` (sign-in, syncs list, sync).

Login takes an API token and opens a server-side session (ui/session.py): the cookie holds
a session id, never the token. Every page reads only the session's workspace, through the
same services the API calls; every form carries a CSRF token. Actions live in ui/actions.py,
run pages in ui/run_pages.py; the only script is the vendored htmx (static/VENDORED.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session

from syncline.api.deps import CtxDep, SessionDep
from syncline.api.ratelimit import client_ip, rate_limits
from syncline.services.common import PageRequest
from syncline.services.errors import NotFoundError
from syncline.services.runs import list_runs
from syncline.services.syncs import get_sync, list_syncs
from syncline.services.ui_sessions import close_session, find_session, open_session
from syncline.services.workspaces import authenticate
from syncline.store.tables import SyncRun, utcnow
from syncline.ui import (
    actions,
    alert_pages,
    connection_pages,
    model_pages,
    run_pages,
    sync_form,
    views,
)
from syncline.ui.render import names, not_found, render, workspace_name
from syncline.ui.session import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    LoginRequired,
    UiSessionDep,
    read_form,
    set_login_csrf_cookie,
    verify_csrf,
)

HERE = Path(__file__).parent
LIVE = ("pending", "running")
SUMMARY_KEYS = ("added", "changed", "removed", "unchanged", "rejected", "sent", "acknowledged")

router = APIRouter(prefix="/ui", include_in_schema=False)
_COOKIE_OPTS: dict[str, Any] = {"path": "/ui", "httponly": True, "samesite": "strict"}


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


def safe_next(value: str | None) -> str:
    """Where to go after login: a same-origin dashboard path only, else the dashboard."""
    if not value or not value.startswith("/ui/") or value.startswith("/ui//") or "\\" in value:
        return "/ui/"
    parts = urlsplit(value)
    return "/ui/" if parts.scheme or parts.netloc else value


def _login_page(
    request: Request, status_code: int = 200, error: str | None = None, next_url: str = "/ui/"
) -> Response:
    response = render(
        request,
        "login.html",
        status_code=status_code,
        error=error,
        workspace=None,
        next_url=safe_next(next_url),
    )
    set_login_csrf_cookie(request, response)
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/ui/") -> Response:
    return _login_page(request, next_url=next)


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
        return _login_page(
            request,
            status_code=401,
            error="Invalid or revoked API token.",
            next_url=form.get("next", "/ui/"),
        )
    limits.hit_token(token.id)
    session_id, _ = open_session(session, token=token, ttl=ctx.settings.ui_session_ttl)
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
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


def _last_run(session: Session, workspace_id: str, sync_id: str) -> SyncRun | None:
    page = list_runs(
        session,
        workspace_id=workspace_id,
        sync_id=sync_id,
        page=PageRequest(per_page=1, order="desc"),
    )
    return page.items[0] if page.items else None


@router.get("/")
def dashboard(
    request: Request,
    session: SessionDep,
    live: UiSessionDep,
    q: str = "",
    health: str = "",
) -> HTMLResponse:
    rows = []
    counts: dict[str, int] = dict.fromkeys(views.HEALTHS, 0)
    for sync in _all_syncs(session, live.workspace_id):
        last = _last_run(session, live.workspace_id, sync.id)
        chip = views.health(session, sync)
        counts[chip] += 1
        if q and q.lower() not in sync.name.lower():
            continue
        if health and chip != health:
            continue
        model, dest = names(session, live.workspace_id, sync)
        rows.append({"sync": sync, "last": last, "health": chip, "model": model, "dest": dest})
    return render(
        request,
        "dashboard.html",
        workspace=workspace_name(session, live.workspace_id),
        rows=rows,
        counts=list(counts.items()),
        q=q,
        health=health,
    )


@router.get("/syncs/{sync_id}")
def sync_page(
    request: Request, sync_id: str, session: SessionDep, live: UiSessionDep
) -> HTMLResponse:
    try:
        sync = get_sync(session, workspace_id=live.workspace_id, sync_id=sync_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    runs = list_runs(
        session,
        workspace_id=live.workspace_id,
        sync_id=sync.id,
        page=PageRequest(per_page=25, order="desc"),
    )
    model, dest = names(session, live.workspace_id, sync)
    return render(
        request,
        "sync.html",
        workspace=workspace_name(session, live.workspace_id),
        sync=sync,
        model=model,
        dest=dest,
        health=views.health(session, sync),
        runs=runs.items,
        total_runs=runs.total,
        chart=views.chart(list(runs.items)),
        fires=views.next_fires(sync.schedule, utcnow()) if sync.schedule else [],
        message=request.query_params.get("msg", ""),
    )


async def _login_required(request: Request, exc: Exception) -> Response:
    path = request.url.path
    query = f"?{request.url.query}" if request.url.query else ""
    target = "/ui/login" if path == "/ui/" else f"/ui/login?next={quote(path + query, safe='/')}"
    response = RedirectResponse(target, status_code=303)
    if request.cookies.get(COOKIE):
        response.delete_cookie(COOKIE, **_COOKIE_OPTS)
    return response


def install_ui(app: FastAPI) -> None:
    """Add the dashboard pages, their static files and their error pages to ``app``."""
    app.include_router(sync_form.router)  # first: /syncs/new before /syncs/{sync_id}
    app.include_router(router)
    app.include_router(actions.router)
    app.include_router(run_pages.router)
    for pages in (connection_pages, model_pages, alert_pages):
        app.include_router(pages.router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.add_exception_handler(LoginRequired, _login_required)
