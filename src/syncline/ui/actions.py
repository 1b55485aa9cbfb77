"""Dashboard actions on a sync and its runs: every one a CSRF-checked POST calling a service.

Roles come from security/roles.py like the API's: the paths end in ``trigger``, ``cancel``,
``retry`` or ``dry-run`` (operator) or anything else (editor). A refused action (a conflict,
a bad mapping) comes back to the page it was sent from as a message, never a stack trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from syncline.api.deps import CtxDep, SessionDep
from syncline.domain.validation import ValidationError
from syncline.services import dryrun, runs, syncs
from syncline.services.errors import ConflictError, NotFoundError, UpstreamError
from syncline.services.sync_spec import SyncPatch
from syncline.ui.render import not_found, render, workspace_name
from syncline.ui.session import UiSessionDep, read_form, verify_csrf

router = APIRouter(prefix="/ui", include_in_schema=False)
REFUSED: tuple[type[Exception], ...] = (ConflictError, UpstreamError, ValidationError, ValueError)


def _back(url: str, message: str = "") -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}msg={quote(message)}" if message else url, 303)


async def _checked(request: Request, ctx: Any) -> dict[str, str]:
    form = await read_form(request)
    verify_csrf(request, form, ctx)
    return form


def _attempt(url: str, action: Callable[[], str]) -> Response:
    """Run ``action``; go to the URL it returns, or back to ``url`` with the refusal."""
    try:
        return _back(action())
    except NotFoundError:
        return _back(url, "Not found (it may have been deleted).")
    except REFUSED as exc:
        return _back(url, str(exc))


@router.post("/syncs/{sync_id}/trigger")
async def run_now(
    request: Request, sync_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    await _checked(request, ctx)

    def act() -> str:
        run, _ = runs.trigger_run(
            session,
            queue=ctx.queue,
            workspace_id=live.workspace_id,
            sync_id=sync_id,
            triggered_by=live.token_id,
        )
        return f"/ui/syncs/{sync_id}/runs/{run.id}"

    return _attempt(f"/ui/syncs/{sync_id}", act)


async def _set_paused(
    request: Request, sync_id: str, session: Any, ctx: Any, live: Any, paused: bool
) -> Response:
    await _checked(request, ctx)

    def act() -> str:
        syncs.update_sync(
            session,
            workspace_id=live.workspace_id,
            sync_id=sync_id,
            patch=SyncPatch(paused=paused),
            secrets=ctx.secrets,
        )
        return f"/ui/syncs/{sync_id}?msg={'Paused' if paused else 'Resumed'}"

    return _attempt(f"/ui/syncs/{sync_id}", act)


@router.post("/syncs/{sync_id}/pause")
async def pause(
    request: Request, sync_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    return await _set_paused(request, sync_id, session, ctx, live, True)


@router.post("/syncs/{sync_id}/resume")
async def resume(
    request: Request, sync_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    return await _set_paused(request, sync_id, session, ctx, live, False)


@router.get("/syncs/{sync_id}/delete")
def confirm_delete(
    request: Request, sync_id: str, session: SessionDep, live: UiSessionDep
) -> HTMLResponse:
    try:
        sync = syncs.get_sync(session, workspace_id=live.workspace_id, sync_id=sync_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    return render(
        request,
        "confirm_delete.html",
        workspace=workspace_name(session, live.workspace_id),
        sync=sync,
    )


@router.post("/syncs/{sync_id}/delete")
async def delete(
    request: Request, sync_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    await _checked(request, ctx)

    def act() -> str:
        syncs.delete_sync(session, workspace_id=live.workspace_id, sync_id=sync_id)
        return "/ui/?msg=Sync+deleted"

    return _attempt(f"/ui/syncs/{sync_id}", act)


@router.post("/syncs/{sync_id}/dry-run")
async def dry_run(
    request: Request, sync_id: str, session: SessionDep, ctx: CtxDep, live: UiSessionDep
) -> Response:
    await _checked(request, ctx)
    try:
        sync = syncs.get_sync(session, workspace_id=live.workspace_id, sync_id=sync_id)
        plan = dryrun.dry_run_sync(
            session, ctx=ctx, workspace_id=live.workspace_id, sync_id=sync.id
        )
        error = plan.get("error", "")  # a failed connection check, as the API reports it
    except NotFoundError as exc:
        return not_found(request, exc)
    except REFUSED as exc:
        plan, error = {}, str(exc)
    return render(
        request,
        "dry_run.html",
        workspace=workspace_name(session, live.workspace_id),
        sync=sync,
        plan=plan,
        error=error,
    )


@router.post("/syncs/{sync_id}/runs/{run_id}/cancel")
async def cancel(
    request: Request,
    sync_id: str,
    run_id: str,
    session: SessionDep,
    ctx: CtxDep,
    live: UiSessionDep,
) -> Response:
    await _checked(request, ctx)
    url = f"/ui/syncs/{sync_id}/runs/{run_id}"

    def act() -> str:
        runs.cancel_run(
            session,
            workspace_id=live.workspace_id,
            sync_id=sync_id,
            run_id=run_id,
            requested_by=live.token_id,
            reason="cancelled from the dashboard",
        )
        return f"{url}?msg=Cancel+requested"

    return _attempt(url, act)


@router.post("/syncs/{sync_id}/runs/{run_id}/retry")
async def retry(
    request: Request,
    sync_id: str,
    run_id: str,
    session: SessionDep,
    ctx: CtxDep,
    live: UiSessionDep,
) -> Response:
    await _checked(request, ctx)

    def act() -> str:
        run = runs.retry_run(
            session,
            queue=ctx.queue,
            workspace_id=live.workspace_id,
            sync_id=sync_id,
            run_id=run_id,
            triggered_by=live.token_id,
        )
        return f"/ui/syncs/{sync_id}/runs/{run.id}"

    return _attempt(f"/ui/syncs/{sync_id}/runs/{run_id}", act)
