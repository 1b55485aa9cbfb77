"""Plans and apply results as text, in the shape Terraform users read without a legend.

Plain lines (colour is added by the terminal layer and dropped in CI logs), values as JSON so
strings, numbers and nulls are told apart, long values shortened, secrets never shown.
"""

from __future__ import annotations

import json
from typing import Any

from syncline.config.diff import Change
from syncline.config.plan import Action, Plan

__all__ = ["SYMBOLS", "render_apply", "render_plan"]

SYMBOLS = {"create": "+", "update": "~", "delete": "-", "unchanged": "=", "unmanaged": "?"}
_MAX_VALUE = 120


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _change(op: str, change: Change) -> str:
    if op == "create":
        shown = "(sensitive)" if change.sensitive else _value(change.after)
        return f"      {change.field} = {shown}"
    if change.sensitive:
        return f"      {change.field}: (sensitive)"
    return f"      {change.field}: {_value(change.before)} -> {_value(change.after)}"


def _action(action: Action) -> list[str]:
    symbol = SYMBOLS[action.op]
    head = f"  {symbol} {action.kind} {action.name!r}"
    if action.op == "unchanged":
        return [f"{head} (unchanged)"]
    if action.op == "delete":
        return [f"{head} ({action.id})"]
    if action.op == "unmanaged":
        return [f"{head}: {action.note}"]
    where = f"  # {action.origin}" if action.origin else ""
    return [head + where, *(_change(action.op, c) for c in action.changes)]


def _summary(plan: Plan) -> str:
    n = plan.counts()
    return (
        f"Plan: {n['create']} to create, {n['update']} to change, {n['delete']} to delete, "
        f"{n['unchanged']} unchanged."
    )


def render_plan(plan: Plan) -> list[str]:
    """The plan as lines: one block per object, then the counts."""
    lines = [f"Workspace {plan.workspace_id}:", ""]
    changing = [a for a in plan.actions if a.op != "unmanaged"]
    others = [a for a in plan.actions if a.op == "unmanaged"]
    for action in changing:
        lines.extend(_action(action))
    if others:
        lines += ["", "Not declared in the files:"]
        for action in others:
            lines.extend(_action(action))
    lines.append("")
    if plan.has_changes:
        lines.append(_summary(plan))
    elif others:
        lines.append("No changes. What the files declare matches the workspace.")
    else:
        lines.append("No changes. The workspace matches the files.")
    return lines


def render_apply(plan: Plan, done: list[Action], *, failed: bool = False) -> list[str]:
    """What an apply did: each action carried out, then the counts.

    With ``failed`` the summary says the apply stopped, so nobody reads a partial apply as
    a complete one.
    """
    if not done:
        if failed:
            return ["Nothing was applied."]
        return ["No changes. The workspace matches the files."]
    verbs = {"create": "created", "update": "updated", "delete": "deleted"}
    lines = [f"  {SYMBOLS[a.op]} {a.kind} {a.name!r} {verbs[a.op]} ({a.id})" for a in done]
    n = {op: sum(1 for a in done if a.op == op) for op in verbs}
    head = "Apply stopped at an error after" if failed else "Apply complete:"
    lines += ["", f"{head} {n['create']} created, {n['update']} changed, {n['delete']} deleted."]
    return lines
