"""``syncline plan``, ``syncline apply``, ``syncline dbt import`` and ``syncline config schema``.

Exit codes follow ``terraform plan -detailed-exitcode`` so CI can tell drift from failure:
0 nothing to do, 1 error, 2 changes (plan only; apply exits 0 when it made them).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

__all__ = ["apply_command", "config_app", "dbt_app", "plan_command"]

dbt_app = typer.Typer(help="Import dbt models as Syncline models.", no_args_is_help=True)
config_app = typer.Typer(help="Config as code (YAML files).", no_args_is_help=True)

FilesOpt = Annotated[
    Path, typer.Option("-f", "--file", help="A YAML file, or a directory of *.yml/*.yaml files.")
]
WorkspaceOpt = Annotated[
    str, typer.Option("--workspace", envvar="SYNCLINE_WORKSPACE", help="Workspace id.")
]
PruneOpt = Annotated[bool, typer.Option("--prune", help="Delete what the files no longer declare.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON only, for scripts.")]


def _echo(lines: list[str]) -> None:
    styles = {"+": "green", "~": "yellow", "-": "red", "=": "bright_black", "?": "bright_black"}
    for line in lines:
        # Action lines are "  + kind 'name'"; the indented field lines below stay plain.
        colour = styles.get(line[2:3]) if line[:2] == "  " and line[3:4] == " " else None
        typer.echo(typer.style(line, fg=colour) if colour else line)


def _fail(problems: list[str], as_json: bool, **extra: Any) -> NoReturn:
    if as_json:
        typer.echo(json.dumps({"ok": False, "problems": problems, **extra}))
    else:
        for problem in problems:
            typer.echo(typer.style("error: ", fg="red") + problem, err=True)
    raise typer.Exit(1)


def _plan(ctx: Any, files: Path, workspace: str, prune: bool) -> Any:
    from syncline.config import build_plan, load_config

    config = load_config(files)
    with ctx.sessions() as session:
        return build_plan(
            session, secrets=ctx.secrets, workspace_id=workspace, config=config, prune=prune
        )


def plan_command(
    files: FilesOpt, workspace: WorkspaceOpt, prune: PruneOpt = False, as_json: JsonOpt = False
) -> None:
    """Show what apply would change. Exit 0: nothing to do, 2: changes, 1: error."""
    from syncline.cli.common import _context
    from syncline.config import ConfigError
    from syncline.config.render import render_plan

    with _context() as ctx:
        try:
            plan = _plan(ctx, files, workspace, prune)
        except ConfigError as exc:
            _fail(exc.problems, as_json)
    if as_json:
        typer.echo(json.dumps({"ok": True, **plan.as_dict()}))
    else:
        _echo(render_plan(plan))
    raise typer.Exit(2 if plan.has_changes else 0)


def apply_command(
    files: FilesOpt,
    workspace: WorkspaceOpt,
    prune: PruneOpt = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Make the workspace match the files: create, update and (with --prune) delete."""
    from syncline.cli.common import _context
    from syncline.config import ApplyError, ConfigError, apply_plan
    from syncline.config.render import render_apply, render_plan

    with _context() as ctx:
        try:
            plan = _plan(ctx, files, workspace, prune)
        except ConfigError as exc:
            _fail(exc.problems, as_json)
        if not as_json:
            _echo(render_plan(plan))
        if plan.has_changes and not yes:
            if as_json or not sys.stdin.isatty():
                _fail(["not applied: pass --yes to apply without a prompt"], as_json)
            if not typer.confirm("\nApply these changes?"):
                _fail(["not applied: cancelled"], as_json)
        try:
            done = apply_plan(ctx, plan) if plan.has_changes else []
        except ApplyError as exc:
            if not as_json:
                _echo(["", *render_apply(plan, exc.done, failed=True)])
            _fail(exc.problems, as_json, applied=[a.as_dict() for a in exc.done])
    if as_json:
        out = {"ok": True, "workspace_id": workspace, "applied": [a.as_dict() for a in done]}
        typer.echo(json.dumps(out))
    else:
        _echo(["", *render_apply(plan, done)])


@config_app.command("schema")
def schema_command(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of the YAML files (for editors and CI linting)."""
    from syncline.config.schema import schema_text

    text = schema_text()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@dbt_app.command("import")
def dbt_import(
    source: Annotated[str, typer.Option("--source", help="Syncline source the models read.")],
    workspace: WorkspaceOpt,
    manifest: Annotated[Path, typer.Option("--manifest", help="dbt's manifest.json.")] = Path(
        "target/manifest.json"
    ),
    select: Annotated[
        list[str] | None,
        typer.Option("--select", "-s", help="tag:NAME or a model name; repeatable."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, change nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create or update a Syncline model for each dbt model (never deletes). Exit 1 on errors."""
    from syncline.cli.common import _as_cli_user, _context
    from syncline.config.dbt import DbtImportError, import_models, manifest_models, read_manifest
    from syncline.config.dbt import select_models as choose

    try:
        models, warnings = choose(manifest_models(read_manifest(manifest)), select or [])
        with _as_cli_user(), _context() as ctx, ctx.sessions() as session:
            outcomes = import_models(
                session,
                secrets=ctx.secrets,
                workspace_id=workspace,
                source_name=source,
                models=models,
                dry_run=dry_run,
            )
    except DbtImportError as exc:
        _fail([str(exc)], as_json)
    failed = any(o.op == "error" for o in outcomes)
    if as_json:
        rows = [asdict(o) for o in outcomes]
        out = {"ok": not failed, "dry_run": dry_run, "warnings": warnings, "models": rows}
        typer.echo(json.dumps(out))
    else:
        _echo_import(outcomes, warnings, dry_run)
    raise typer.Exit(1 if failed else 0)


def _echo_import(outcomes: list[Any], warnings: list[str], dry_run: bool) -> None:
    symbols = {"create": "+", "update": "~", "unchanged": "=", "skip": "!", "error": "x"}
    for warning in warnings:
        typer.echo(typer.style("warning: ", fg="yellow") + warning, err=True)
    for o in outcomes:
        tail = f": {o.detail}" if o.detail else ""
        verb = {"skip": "skipped", "error": "failed", "create": "created", "update": "updated"}
        if dry_run:
            verb.update(create="to create", update="to update")
        line = f"  {symbols[o.op]} model {o.name!r} {verb.get(o.op, o.op)}{tail}"
        colour = {"skip": "yellow", "error": "red"}.get(o.op)
        typer.echo(typer.style(line, fg=colour) if colour else line)
    n = {op: sum(1 for o in outcomes if o.op == op) for op in symbols}
    prefix = "Dry run (nothing changed)" if dry_run else "Import"
    typer.echo(
        f"\n{prefix}: {n['create']} created, {n['update']} updated, {n['unchanged']} unchanged, "
        f"{n['skip']} skipped, {n['error']} failed."
    )
