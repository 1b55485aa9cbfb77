"""Writing config files and running plan/apply the way the CLI does, minus the process."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

from syncline.config import Action, Plan, apply_plan, build_plan, load_config
from syncline.context import AppContext


def write(directory: Path, name: str, text: str) -> Path:
    """Write a dedented YAML file into ``directory`` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def plan_of(
    ctx: AppContext,
    workspace_id: str,
    path: Path,
    env: Mapping[str, str] | None = None,
    *,
    prune: bool = False,
) -> Plan:
    config = load_config(path, env=env or {})
    with ctx.sessions() as session:
        return build_plan(
            session, secrets=ctx.secrets, workspace_id=workspace_id, config=config, prune=prune
        )


def apply_files(
    ctx: AppContext,
    workspace_id: str,
    path: Path,
    env: Mapping[str, str] | None = None,
    *,
    prune: bool = False,
) -> list[Action]:
    return apply_plan(ctx, plan_of(ctx, workspace_id, path, env, prune=prune))


def ops(plan: Plan) -> dict[tuple[str, str], str]:
    """``{(kind, name): op}`` of every action."""
    return {(a.kind, a.name): a.op for a in plan.actions}


def action(plan: Plan, kind: str, name: str) -> Action:
    return next(a for a in plan.actions if a.kind == kind and a.name == name)
