"""``syncline sync ...`` and ``syncline run ...``: operate syncs and runs on a running server.

These commands are thin clients of the REST API (see :mod:`syncline.cli.http`): people get
tables and a live view of a run, scripts get ``--json`` (the API's JSON, alone on stdout) and
exit codes they can branch on (listed in docs/cli.md).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from syncline.cli.follow import follow, show
from syncline.cli.http import (
    DEFAULT_URL,
    JsonOpt,
    TokenOpt,
    UrlOpt,
    WorkspaceOpt,
    connect,
    reported,
    stderr,
)
from syncline.cli.render import (
    dry_run_view,
    records_table,
    run_view,
    runs_table,
    sync_view,
    syncs_table,
)

sync_app = typer.Typer(help="Syncs on a running server (REST API).", no_args_is_help=True)
run_app = typer.Typer(help="Runs of a sync on a running server (REST API).", no_args_is_help=True)


PageOpt = Annotated[int, typer.Option("--page", help="Page number, from 1.")]
PerPageOpt = Annotated[int, typer.Option("--per-page", help="Items per page (1-100).")]
FullOpt = Annotated[bool, typer.Option("--full", help="Resend every row and rebuild the snapshot.")]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Follow the run live until it ends; exit 1 if it fails.")
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option("--timeout", help="With --wait: give up after SECONDS (exit 6).", min=0),
]


def _mode_body(full: bool) -> dict[str, Any] | None:
    return {"run_mode": "full"} if full else None


@sync_app.command("list")
def sync_list(
    status: Annotated[
        str | None, typer.Option(help="draft, active, paused or error.", show_default=False)
    ] = None,
    q: Annotated[str | None, typer.Option(help="Name contains.", show_default=False)] = None,
    page: PageOpt = 1,
    per_page: PerPageOpt = 25,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the workspace's syncs (oldest first)."""
    with reported(), connect(url, token, workspace) as api:
        ans = api.get("/syncs", status=status, q=q, page=page, per_page=per_page)
        show(ans.data, as_json, lambda: syncs_table(ans.data, ans.total))


@sync_app.command("get")
def sync_get(
    sync_id: str,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one sync: settings, schedule, field mapping."""
    with reported(), connect(url, token, workspace) as api:
        data = api.get(f"/syncs/{sync_id}").data
        show(data, as_json, lambda: sync_view(data))


@sync_app.command("trigger")
def sync_trigger(
    sync_id: str,
    full: FullOpt = False,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start a run now; with --wait, follow it and exit with its outcome.

    A sync has at most one active run: if one is already going, that run is followed.
    """
    with reported(), connect(url, token, workspace) as api:
        ans = api.post(f"/syncs/{sync_id}/trigger", _mode_body(full))
        if ans.status == 200 and not as_json:
            stderr().print(f"a run was already {ans.data['status']}: {ans.data['id']}")
        follow(api, ans.data, wait=wait, timeout=timeout, as_json=as_json)


def _set_status(
    url: str, token: str | None, workspace: str | None, sync_id: str, new: str, as_json: bool
) -> None:
    with reported(), connect(url, token, workspace) as api:
        data = api.put(f"/syncs/{sync_id}", {"status": new}).data
        show(data, as_json, lambda: f"sync {data['name']} ({data['id']}) is {data['status']}")


@sync_app.command("pause")
def sync_pause(
    sync_id: str,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stop scheduled runs (manual triggers still work)."""
    _set_status(url, token, workspace, sync_id, "paused", as_json)


@sync_app.command("resume")
def sync_resume(
    sync_id: str,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make the sync active again (also clears an error status)."""
    _set_status(url, token, workspace, sync_id, "active", as_json)


@sync_app.command("dry-run")
def sync_dry_run(
    sync_id: str,
    sample: Annotated[
        int | None, typer.Option(help="Sample records per outcome (0-100).", show_default=False)
    ] = None,
    full: FullOpt = False,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What a run would create, update and delete now, with samples; writes nothing."""
    body: dict[str, Any] = _mode_body(full) or {}
    if sample is not None:
        body["sample_size"] = sample
    with reported(), connect(url, token, workspace) as api:
        data = api.post(f"/syncs/{sync_id}/dry-run", body).data
        show(data, as_json, lambda: dry_run_view(data))
    if isinstance(data, dict) and data.get("ok") is False:
        raise typer.Exit(1)  # a connection check failed: a run now would fail too


@run_app.command("list")
def run_list(
    sync_id: str,
    status: Annotated[
        str | None,
        typer.Option(help="pending, running, completed, failed or cancelled.", show_default=False),
    ] = None,
    page: PageOpt = 1,
    per_page: PerPageOpt = 25,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A sync's run history, newest first."""
    with reported(), connect(url, token, workspace) as api:
        ans = api.get(f"/syncs/{sync_id}/runs", status=status, page=page, per_page=per_page)
        show(ans.data, as_json, lambda: runs_table(ans.data, ans.total))


@run_app.command("get")
def run_get(
    sync_id: str,
    run_id: str,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one run: outcome, counts, diff, attempts."""
    with reported(), connect(url, token, workspace) as api:
        data = api.get(f"/syncs/{sync_id}/runs/{run_id}").data
        show(data, as_json, lambda: run_view(data))


@run_app.command("cancel")
def run_cancel(
    sync_id: str,
    run_id: str,
    reason: Annotated[str, typer.Option(help="Why; kept on the run.")] = "",
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a pending run now, or ask a running one to stop at its next batch."""
    with reported(), connect(url, token, workspace) as api:
        body = {"reason": reason} if reason else None
        ans = api.post(f"/syncs/{sync_id}/runs/{run_id}/cancel", body)
        message = (
            f"cancel requested: run {run_id} stops at its next batch"
            if ans.status == 202
            else f"run {run_id} cancelled"
        )
        show(ans.data, as_json, lambda: message)


@run_app.command("retry")
def run_retry(
    sync_id: str,
    run_id: str,
    full: FullOpt = False,
    wait: WaitOpt = False,
    timeout: TimeoutOpt = None,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Retry a failed or cancelled run as a new, linked attempt (default: the same mode)."""
    with reported(), connect(url, token, workspace) as api:
        run = api.post(f"/syncs/{sync_id}/runs/{run_id}/retry", _mode_body(full)).data
        follow(api, run, wait=wait, timeout=timeout, as_json=as_json)


@run_app.command("records")
def run_records(
    sync_id: str,
    run_id: str,
    status: Annotated[
        str | None, typer.Option(help="failed or succeeded.", show_default=False)
    ] = None,
    operation: Annotated[
        str | None,
        typer.Option(help="upsert, insert, update or delete.", show_default=False),
    ] = None,
    page: PageOpt = 1,
    per_page: PerPageOpt = 25,
    url: UrlOpt = DEFAULT_URL,
    token: TokenOpt = None,
    workspace: WorkspaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A run's records: rejected rows with the reason and the payload sent."""
    with reported(), connect(url, token, workspace) as api:
        ans = api.get(
            f"/syncs/{sync_id}/runs/{run_id}/records",
            status=status,
            operation=operation,
            page=page,
            per_page=per_page,
        )
        show(ans.data, as_json, lambda: records_table(ans.data, ans.total))
