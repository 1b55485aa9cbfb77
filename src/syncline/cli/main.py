"""The ``syncline`` command: server, workers and administration of the metadata store."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from syncline.cli.common import _as_cli_user, _context, _setup_logging
from syncline.cli.config import apply_command, config_app, dbt_app, plan_command
from syncline.cli.remote import run_app, sync_app
from syncline.cli.secrets import secrets_app
from syncline.security.roles import Role
from syncline.settings import get_settings

if TYPE_CHECKING:
    pass

app = typer.Typer(help="Syncline: reverse ETL you run yourself.", no_args_is_help=True)
db_app = typer.Typer(help="The metadata store.", no_args_is_help=True)
workspace_app = typer.Typer(help="Workspaces (tenants).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(workspace_app, name="workspace")
app.add_typer(token_app, name="token")
app.add_typer(config_app, name="config")
app.add_typer(dbt_app, name="dbt")
app.add_typer(sync_app, name="sync")
app.add_typer(run_app, name="run")
app.add_typer(secrets_app, name="secrets")
app.command("plan")(plan_command)
app.command("apply")(apply_command)

console = Console()
err_console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only, for scripts.")]


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the metadata store's migrations (idempotent)."""
    from syncline.store.db import upgrade

    settings = get_settings()
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url(), revision)
    console.print(f"metadata store at {_redact(settings.resolved_database_url())} is up to date")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@workspace_app.command("create")
def workspace_create(name: str, as_json: JsonOpt = False) -> None:
    """Create a workspace and its first API token (shown once, stored hashed)."""
    from syncline.services.workspaces import create_workspace

    with _as_cli_user(), _context() as ctx, ctx.sessions.begin() as s:
        ws, token = create_workspace(s, name=name, pepper=ctx.token_pepper)
        out = {"id": ws.id, "name": ws.name, "token": token}
    if as_json:
        typer.echo(json.dumps(out))
        return
    console.print(f"workspace [bold]{out['name']}[/bold] id [cyan]{out['id']}[/cyan]")
    console.print(f"API token (shown once, keep it safe): [green]{out['token']}[/green]")


@workspace_app.command("list")
def workspace_list(as_json: JsonOpt = False) -> None:
    """List workspaces."""
    from syncline.services.workspaces import list_workspaces

    with _context() as ctx, ctx.sessions() as s:
        rows = [
            {"id": w.id, "name": w.name, "created_at": w.created_at.isoformat()}
            for w in list_workspaces(s)
        ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    table = Table("id", "name", "created_at")
    for r in rows:
        table.add_row(r["id"], r["name"], r["created_at"])
    console.print(table)


@token_app.command("create")
def token_create(
    workspace: Annotated[str, typer.Option("--workspace", help="Workspace id.")],
    name: Annotated[str, typer.Option(help="A label for the token.")] = "",
    role: Annotated[
        Role,
        typer.Option(case_sensitive=False, help="What the token may do (docs/security.md)."),
    ] = Role.ADMIN,
    as_json: JsonOpt = False,
) -> None:
    """Create another API token for a workspace (shown once), with a role."""
    from syncline.services.errors import NotFoundError
    from syncline.services.workspaces import create_token

    with _as_cli_user(), _context() as ctx:
        try:
            with ctx.sessions.begin() as s:
                tok, plain = create_token(
                    s, workspace_id=workspace, name=name, role=role, pepper=ctx.token_pepper
                )
                out = {
                    "id": tok.id,
                    "workspace_id": tok.workspace_id,
                    "role": tok.role,
                    "token": plain,
                }
        except (LookupError, NotFoundError) as exc:
            err_console.print(f"error: {exc}")
            raise typer.Exit(3) from None
    if as_json:
        typer.echo(json.dumps(out))
    else:
        console.print(
            f"API token (shown once): [green]{out['token']}[/green] "
            f"(id {out['id']}, role {out['role']})"
        )


@token_app.command("revoke")
def token_revoke(token_id: str) -> None:
    """Revoke an API token by its id; requests using it get 401 from then on."""
    from syncline.services.errors import NotFoundError
    from syncline.services.workspaces import revoke_token

    with _as_cli_user(), _context() as ctx:
        try:
            with ctx.sessions.begin() as s:
                revoke_token(s, token_id=token_id)
        except (LookupError, NotFoundError) as exc:
            err_console.print(f"error: {exc}")
            raise typer.Exit(3) from None
    console.print(f"token {token_id} revoked")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        bool, typer.Option("--workers/--no-workers", help="Run syncs in this process.")
    ] = True,
    api_workers: Annotated[
        int,
        typer.Option(
            min=1, help="API processes (uvicorn workers); runs stay in the parent process."
        ),
    ] = 1,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Run the API (and, by default, the scheduler and a worker pool) in one process.

    With ``--api-workers N`` the API is served by N processes and this one keeps only the
    runs, the scheduler and alert delivery (docs/operations.md, "Scaling the API").
    """
    import contextlib

    import uvicorn

    from syncline.api.app import create_app
    from syncline.api.heap import frozen_startup_heap
    from syncline.bootstrap import executor_hooks

    _setup_logging(log_level)
    settings = get_settings()
    from syncline.bootstrap import build_context
    from syncline.store.db import upgrade

    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url())
    ctx = build_context(settings)
    hooks = executor_hooks(ctx) if workers else []
    console.print(f"Syncline API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
    level = log_level.lower()
    if api_workers == 1:
        api = create_app(ctx, lifespan_hooks=[*hooks, frozen_startup_heap])
        uvicorn.run(api, host=host, port=port, log_level=level, timeout_graceful_shutdown=30)
        return
    with contextlib.ExitStack() as stack:
        for hook in [*hooks, frozen_startup_heap]:  # the runs, the scheduler and alerts: once
            stack.enter_context(hook(ctx))
        uvicorn.run(
            "syncline.api.asgi:build",
            factory=True,
            workers=api_workers,
            host=host,
            port=port,
            log_level=level,
            timeout_graceful_shutdown=30,
            # a worker builds its whole context before it answers; uvicorn's 5 s is too short
            # on a busy machine and it would restart workers forever
            timeout_worker_healthcheck=120,
        )


def _wait_for_signal() -> None:
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Runs executed at once.")] = 4,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Execute runs (any number of workers, on any machines, sharing one store).

    On PostgreSQL runs arrive as procrastinate jobs; on SQLite they are claimed from the store
    with conditional updates. Either way a run executes on exactly one worker, and heartbeats
    let the others notice a dead worker and resume its run.
    """
    from syncline.alerts.worker import alert_loop
    from syncline.bootstrap import make_executor
    from syncline.runlog.worker import run_log_loop

    _setup_logging(log_level)
    # alert checks and delivery, and run logs written into warehouses, beside the runs
    with _context() as ctx, alert_loop(ctx), run_log_loop(ctx):
        executor = make_executor(ctx, workers=concurrency)
        executor.start()
        backend = ctx.settings.resolved_backend()
        console.print(f"worker {executor.executor_id} started ({concurrency} slots, {backend})")
        _wait_for_signal()
        console.print("stopping: running runs stop within seconds and go back to pending")
        executor.stop()


@app.command()
def scheduler(
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
) -> None:
    """Turn due schedules into pending runs (several may run; one acts at a time)."""
    from syncline.scheduler.tick import scheduler_loop

    _setup_logging(log_level)
    with _context() as ctx, scheduler_loop(ctx):
        console.print("scheduler started")
        _wait_for_signal()


@app.command()
def demo(
    data_dir: Annotated[str, typer.Option(help="Where the demo keeps everything.")] = (
        "./syncline-demo"
    ),
    port: Annotated[int, typer.Option(help="Preferred port (another is used if taken).")] = 8000,
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the server up.")
    ] = False,
    customers: Annotated[int, typer.Option(help="Sample customers to generate.")] = 20_000,
) -> None:
    """Run the whole thing on embedded defaults: warehouse, syncs, runs, changes, diffs."""
    from pathlib import Path

    from syncline.cli.demo import run_demo

    _setup_logging("WARNING")
    run_demo(data_dir=Path(data_dir), port=port, keep_running=keep_running, customers=customers)


def main() -> None:  # pragma: no cover - console script entry
    app()
