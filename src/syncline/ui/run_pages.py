"""Run pages: live progress (an htmx-polled fragment), summary, attempts, rejected records.

Rejected records are grouped by error class, paged, filterable by primary key or class, each
payload viewable on its own, and the filtered set downloadable as CSV.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from syncline.api.deps import SessionDep
from syncline.services.common import PageRequest
from syncline.services.errors import NotFoundError
from syncline.services.runs import get_run, list_records, record_error_counts
from syncline.services.syncs import get_sync
from syncline.store.tables import RunRecord, Sync, SyncRun
from syncline.ui import views
from syncline.ui.render import not_found, render, workspace_name
from syncline.ui.session import UiSessionDep

router = APIRouter(prefix="/ui", include_in_schema=False)
LIVE = ("pending", "running")
SUMMARY_KEYS = ("added", "changed", "removed", "unchanged", "rejected", "sent", "acknowledged")
PER_PAGE = 50


def _summary(summary: dict[str, Any]) -> list[tuple[str, Any]]:
    def total(value: Any) -> Any:
        return sum(value.values()) if isinstance(value, dict) else value

    return [(key, total(summary[key])) for key in SUMMARY_KEYS if key in summary]


def _load(session: Session, workspace_id: str, sync_id: str, run_id: str) -> tuple[Sync, SyncRun]:
    sync = get_sync(session, workspace_id=workspace_id, sync_id=sync_id)
    return sync, get_run(session, workspace_id=workspace_id, sync_id=sync.id, run_id=run_id)


def _live_values(run: SyncRun) -> dict[str, Any]:
    return {
        "run": run,
        "progress": views.progress(run),
        "summary": _summary(run.summary or {}),
        "live": run.status in LIVE,
    }


@router.get("/syncs/{sync_id}/runs/{run_id}")
def run_page(
    request: Request,
    sync_id: str,
    run_id: str,
    session: SessionDep,
    live: UiSessionDep,
    key: str = "",
    error_class: str = "",
    page: int = 1,
) -> HTMLResponse:
    try:
        sync, run = _load(session, live.workspace_id, sync_id, run_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    records = list_records(
        session,
        workspace_id=live.workspace_id,
        sync_id=sync.id,
        run_id=run.id,
        page=PageRequest(page=max(1, page), per_page=PER_PAGE),
        status="failed",
        error_class=error_class or None,
        primary_key=key or None,
    )
    return render(
        request,
        "run.html",
        workspace=workspace_name(session, live.workspace_id),
        sync=sync,
        records=records.items,
        total_records=records.total,
        page=max(1, page),
        last_page=records.last_page,
        groups=record_error_counts(
            session, workspace_id=live.workspace_id, sync_id=sync.id, run_id=run.id
        ),
        key=key,
        error_class=error_class,
        message=request.query_params.get("msg", ""),
        **_live_values(run),
    )


@router.get("/syncs/{sync_id}/runs/{run_id}/live")
def run_live(
    request: Request, sync_id: str, run_id: str, session: SessionDep, live: UiSessionDep
) -> HTMLResponse:
    """The progress fragment htmx polls every 2 s while the run is live.

    Once the run has finished, a polling request is told to reload the whole page, so the
    rejected records, the buttons and the details show the final state too.
    """
    try:
        sync, run = _load(session, live.workspace_id, sync_id, run_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    response = render(request, "_run_live.html", sync=sync, **_live_values(run))
    if run.status not in LIVE and request.headers.get("hx-request"):
        response.headers["HX-Refresh"] = "true"
    return response


@router.get("/syncs/{sync_id}/runs/{run_id}/records/{record_id}")
def record_page(
    request: Request,
    sync_id: str,
    run_id: str,
    record_id: int,
    session: SessionDep,
    live: UiSessionDep,
) -> HTMLResponse:
    try:
        sync, run = _load(session, live.workspace_id, sync_id, run_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    record = session.get(RunRecord, record_id)
    if record is None or record.run_id != run.id or record.workspace_id != live.workspace_id:
        return not_found(request, NotFoundError("Record"))
    return render(
        request,
        "record.html",
        workspace=workspace_name(session, live.workspace_id),
        sync=sync,
        run=run,
        record=record,
    )


@router.get("/syncs/{sync_id}/runs/{run_id}/records.csv")
def records_csv(
    request: Request,
    sync_id: str,
    run_id: str,
    session: SessionDep,
    live: UiSessionDep,
    key: str = "",
    error_class: str = "",
) -> Response:
    try:
        sync, run = _load(session, live.workspace_id, sync_id, run_id)
    except NotFoundError as exc:
        return not_found(request, exc)
    records = list_records(
        session,
        workspace_id=live.workspace_id,
        sync_id=sync.id,
        run_id=run.id,
        page=PageRequest(per_page=None),
        status="failed",
        error_class=error_class or None,
        primary_key=key or None,
    ).items

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        out = csv.writer(buf)
        out.writerow(["primary_key", "operation", "error_class", "error_message", "payload"])
        for r in records:
            payload = json.dumps(r.payload, sort_keys=True, default=str) if r.payload else ""
            out.writerow(
                [r.primary_key or "", r.operation, r.error_class, r.error_message, payload]
            )
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
        yield buf.getvalue()

    name = f"run-{run.id[:8]}-rejected.csv"
    return StreamingResponse(
        rows(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
