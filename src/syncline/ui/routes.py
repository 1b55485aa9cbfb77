"""The read-only web dashboard: server-rendered Jinja2 pages under ``/ui``.

Login takes an API token and keeps it in an HttpOnly, SameSite=Strict cookie; every page
authenticates it like the API does and reads only the token's workspace, through the same
services the API calls. The token is never rendered. No JavaScript.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from syncline.api.deps import get_session
from syncline.services.common import PageRequest
from syncline.services.errors import NotFoundError
from syncline.services.runs import get_run, list_records, list_runs
from syncline.services.syncs import get_sync, list_syncs
from syncline.services.workspaces import authenticate
from syncline.store.tables import ApiToken, Workspace

COOKIE = "syncline_token"
HERE = Path(__file__).parent
LIVE = ("pending", "running")
SUMMARY_KEYS = ("added", "changed", "removed", "unchanged", "rejected", "sent", "acknowledged")

templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"], default=True),
)
templates.filters["pretty"] = lambda value: json.dumps(value, indent=2, sort_keys=True, default=str)

router = APIRouter(prefix="/ui", include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]


class LoginRequired(Exception):
    """No valid token cookie: the handler redirects to the login page."""


def _render(name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    html = templates.get_template(name).render(**values)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def get_ui_token(request: Request, session: SessionDep) -> ApiToken:
    """The live token of the cookie, or LoginRequired."""
    raw = request.cookies.get(COOKIE, "").strip()
    token = authenticate(session, token=raw) if raw else None
    if token is None:
        raise LoginRequired()
    return token


TokenDep = Annotated[ApiToken, Depends(get_ui_token)]


def _not_found(exc: NotFoundError) -> HTMLResponse:
    return _render("not_found.html", status_code=404, what=exc.kind, workspace=None)


def _workspace_name(session: Session, token: ApiToken) -> str:
    workspace = session.get(Workspace, token.workspace_id)
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


@router.get("/login")
def login_form() -> HTMLResponse:
    return _render("login.html", error=None, workspace=None)


@router.post("/login")
async def login(request: Request, session: SessionDep) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    raw = (form.get("token") or [""])[0].strip()
    if not raw or authenticate(session, token=raw) is None:
        return _render(
            "login.html", status_code=401, error="Invalid or revoked API token.", workspace=None
        )
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(
        COOKIE,
        raw,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/ui",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


@router.get("/")
def dashboard(session: SessionDep, token: TokenDep) -> HTMLResponse:
    syncs = list(_all_syncs(session, token.workspace_id))
    counts: dict[str, int] = {}
    for sync in syncs:
        counts[sync.status] = counts.get(sync.status, 0) + 1
    return _render(
        "dashboard.html",
        workspace=_workspace_name(session, token),
        syncs=syncs,
        counts=sorted(counts.items()),
    )


@router.get("/syncs/{sync_id}")
def sync_page(sync_id: str, session: SessionDep, token: TokenDep) -> HTMLResponse:
    try:
        sync = get_sync(session, workspace_id=token.workspace_id, sync_id=sync_id)
    except NotFoundError as exc:
        return _not_found(exc)
    runs = list_runs(
        session,
        workspace_id=token.workspace_id,
        sync_id=sync.id,
        page=PageRequest(per_page=25, order="desc"),
    )
    return _render(
        "sync.html",
        workspace=_workspace_name(session, token),
        sync=sync,
        runs=runs.items,
        total_runs=runs.total,
        refresh=any(r.status in LIVE for r in runs.items),
    )


@router.get("/syncs/{sync_id}/runs/{run_id}")
def run_page(sync_id: str, run_id: str, session: SessionDep, token: TokenDep) -> HTMLResponse:
    try:
        sync = get_sync(session, workspace_id=token.workspace_id, sync_id=sync_id)
        run = get_run(session, workspace_id=token.workspace_id, sync_id=sync.id, run_id=run_id)
    except NotFoundError as exc:
        return _not_found(exc)
    records = list_records(
        session,
        workspace_id=token.workspace_id,
        sync_id=sync.id,
        run_id=run.id,
        page=PageRequest(per_page=100),
        status="failed",
    )
    return _render(
        "run.html",
        workspace=_workspace_name(session, token),
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
        response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


def install_ui(app: FastAPI) -> None:
    """Add the dashboard pages, their static files and their error pages to ``app``."""
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    app.add_exception_handler(LoginRequired, _login_required)
