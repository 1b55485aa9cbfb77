"""The difference between the files and the workspace: what ``apply`` would create, change
and (with ``prune``) delete.

Computing a plan reads the store and decrypts stored secrets to compare them, but writes
nothing and never runs a query on a warehouse, so ``syncline plan`` is safe in any CI job.
Rules that need the warehouse or the destination (a primary key the query lacks ...) are the
services' to check at apply time, exactly as for the API.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.orm import Session

from syncline.config.diff import (
    Change,
    compare,
    config_changes,
    current_model,
    current_sync,
    desired_model,
    desired_sync,
)
from syncline.config.errors import ConfigError, Origin
from syncline.config.loader import KINDS, Config, Entry
from syncline.config.state import StoreState, read_state
from syncline.domain.validation import ValidationError
from syncline.security.secrets import SecretBox, SecretError, Spec, secret_spec
from syncline.services.connections import connector_class
from syncline.store.tables import Model, Sync

__all__ = ["Action", "Op", "Plan", "build_plan"]

Op = Literal["create", "update", "delete", "unchanged", "unmanaged"]
CHANGES: tuple[Op, ...] = ("create", "update", "delete")


@dataclass
class Action:
    """One object's fate: its kind and name, what happens to it, and the fields that change."""

    op: Op
    kind: str
    name: str
    id: str | None = None
    origin: Origin | None = None
    changes: list[Change] = field(default_factory=list)
    note: str = ""
    decl: Any = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "op": self.op,
            "kind": self.kind,
            "name": self.name,
            "id": self.id,
            "file": self.origin.file if self.origin else None,
            "line": self.origin.line if self.origin else None,
            "changes": [c.as_dict() for c in self.changes],
            "note": self.note,
        }


@dataclass
class Plan:
    """The ordered actions: creates and updates by dependency, then deletes in reverse."""

    workspace_id: str
    prune: bool
    actions: list[Action]

    @property
    def has_changes(self) -> bool:
        return any(a.op in CHANGES for a in self.actions)

    def counts(self) -> dict[str, int]:
        """How many actions of each op (every op listed, zero included)."""
        found = Counter(a.op for a in self.actions)
        return {op: found.get(op, 0) for op in (*CHANGES, "unchanged", "unmanaged")}

    def as_dict(self) -> dict[str, Any]:
        return {
            "workspace_id": self.workspace_id,
            "prune": self.prune,
            "changes": self.has_changes,
            "counts": self.counts(),
            "actions": [a.as_dict() for a in self.actions],
        }


def _connection(
    kind: str, entry: Entry[Any], row: Any, secrets: SecretBox
) -> tuple[Op, list[Change]]:
    decl = entry.decl
    spec = _spec(kind, decl.type)
    if row is None:
        changes = config_changes(None, decl.config, spec=spec)
        return "create", [Change("type", None, decl.type), *changes]
    try:
        stored = secrets.decrypt_config(row.config or {})
    except SecretError as exc:
        raise ConfigError([f"{entry.origin}: {kind} {decl.name!r}: {exc}"]) from None
    changes = compare({"type": row.type}, {"type": decl.type})
    changes += config_changes(stored, decl.config, spec=spec)
    return ("update" if changes else "unchanged"), changes


def _spec(kind: str, type_name: str) -> Spec | None:
    """What the connector marks secret (None for a type not installed: names judge then)."""
    try:
        cls = connector_class("source" if kind == "source" else "destination", type_name)
    except ValidationError:
        return None
    return secret_spec(cls.config_model)


def _diff(kind: str, entry: Entry[Any], row: Any, state: StoreState, secrets: SecretBox) -> Action:
    decl = entry.decl
    if kind in ("source", "destination"):
        op, changes = _connection(kind, entry, row, secrets)
    elif kind == "model":
        before = None if row is None else current_model(row, state.names)
        changes = compare(before, desired_model(decl))
        op = "create" if row is None else ("update" if changes else "unchanged")
    else:
        after = desired_sync(decl)
        if row is None:
            changes = compare(None, {k: v for k, v in after.items() if _declared(decl, k)})
        else:
            before = current_sync(row, state.names, with_status="status" in after)
            changes = compare(before, after)
        op = "create" if row is None else ("update" if changes else "unchanged")
    if row is None:  # a create lists what it sets, not every empty default
        changes = [c for c in changes if c.after not in (None, "", [], {})]
    return Action(op, kind, decl.name, row.id if row else None, entry.origin, changes, decl=decl)


def _declared(decl: Any, key: str) -> bool:
    """Whether a sync field is worth showing on create: written in the file, or derived."""
    return key in decl.model_fields_set or key in ("model", "destination", "trigger_mode")


def _references(config: Config) -> list[tuple[Entry[Any], str, str]]:
    """Every (entry, kind, name) reference between declared objects."""
    refs: list[tuple[Entry[Any], str, str]] = []
    for model in config.models.values():
        refs.append((model, "source", model.decl.source))
    for sync in config.syncs.values():
        refs.append((sync, "model", sync.decl.model))
        refs.append((sync, "destination", sync.decl.destination))
        refs.extend((sync, "sync", up) for up in sync.decl.trigger_after)
    return refs


def _check_references(config: Config, state: StoreState, problems: list[str]) -> set[str]:
    """Report references to nothing; return the ids of store-only objects that must stay."""
    kept: set[str] = set()
    for entry, kind, name in _references(config):
        if name in config.of(kind):
            continue
        try:
            row = state.find(kind, name)
        except ConfigError as exc:
            problems.append(f"{entry.origin}: {exc}")
            continue
        if row is None:
            problems.append(
                f"{entry.origin}: {_label(entry)} refers to {kind} {name!r}, which is neither "
                "declared in the files nor in the workspace"
            )
        else:
            kept.add(row.id)
    return _with_dependencies(kept, state)


def _with_dependencies(kept: set[str], state: StoreState) -> set[str]:
    """``kept`` and everything a kept object needs, or deleting that would fail half-way."""
    todo = list(kept)
    while todo:
        row = state.by_id.get(todo.pop())
        if isinstance(row, Sync):
            needs = [row.model_id, row.destination_id, *(row.trigger_after_sync_ids or [])]
        elif isinstance(row, Model):
            needs = [row.source_id]
        else:
            needs = []
        for dep in needs:
            if dep in state.by_id and dep not in kept:
                kept.add(dep)
                todo.append(dep)
    return kept


def _deletion_order(syncs: list[Any]) -> list[Any]:
    """Syncs to delete, downstream first: a sync cannot go while another triggers after it."""
    left = {s.id: s for s in syncs}
    order: list[Any] = []
    while left:
        upstreams = {u for s in left.values() for u in (s.trigger_after_sync_ids or [])}
        ready = [s for i, s in left.items() if i not in upstreams] or list(left.values())
        for s in ready:
            order.append(left.pop(s.id))
    return order


def _label(entry: Entry[Any]) -> str:
    kind = type(entry.decl).__name__.removesuffix("Decl").lower()
    return f"{kind} {entry.decl.name!r}"


def _sync_order(config: Config, problems: list[str]) -> list[str]:
    """Declared syncs with every declared upstream (``trigger_after``) before its dependents."""
    order: list[str] = []
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = " -> ".join([*path[path.index(name) :], name])
            problems.append(f"{config.syncs[name].origin}: trigger_after forms a cycle: {cycle}")
            return
        state[name] = "visiting"
        for up in config.syncs[name].decl.trigger_after:
            if up in config.syncs:
                visit(up, [*path, name])
        state[name] = "done"
        order.append(name)

    for name in config.syncs:
        visit(name, [])
    return order


def build_plan(
    session: Session,
    *,
    secrets: SecretBox,
    workspace_id: str,
    config: Config,
    prune: bool = False,
) -> Plan:
    """Compare ``config`` with the workspace.

    Args:
        session: a session on the metadata store (only read).
        secrets: the secret box, to compare stored secrets with the declared ones.
        workspace_id: the workspace the files describe.
        config: what :func:`syncline.config.loader.load_config` read.
        prune: plan to delete what the files do not declare (unless a declared object
            refers to it).

    Raises:
        ConfigError: an unknown workspace, a reference to nothing, an ambiguous name.
    """
    state = read_state(session, workspace_id=workspace_id)
    problems: list[str] = []
    kept = _check_references(config, state, problems)
    actions: list[Action] = []
    for kind in KINDS:
        entries = config.of(kind)
        names = _sync_order(config, problems) if kind == "sync" else list(entries)
        for name in names:
            try:
                row = state.find(kind, name)
            except ConfigError as exc:
                problems.append(f"{entries[name].origin}: {exc}")
                continue
            actions.append(_diff(kind, entries[name], row, state, secrets))
    for kind in reversed(KINDS):
        declared = config.of(kind)
        rows = [r for r in state.all(kind) if r.name not in declared]
        for row in _deletion_order(rows) if kind == "sync" else rows:
            if row.id in kept:
                note = "not in the files, but declared objects refer to it: kept"
                actions.append(Action("unmanaged", kind, row.name, row.id, note=note))
            elif prune:
                actions.append(Action("delete", kind, row.name, row.id))
            else:
                note = "not in the files: kept (--prune deletes it)"
                actions.append(Action("unmanaged", kind, row.name, row.id, note=note))
    if problems:
        raise ConfigError(problems)
    return Plan(workspace_id=workspace_id, prune=prune, actions=actions)
