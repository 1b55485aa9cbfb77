"""Field-by-field comparison of a declared object with the stored one.

Both sides are brought to the same shape before comparing: a stored sync is read back through
the same declaration class as the files, so defaults, nulls and nested objects normalise
alike and a second apply finds nothing to do. Secret values take part in the comparison but
never leave it: a :class:`Change` of a secret carries no values, only ``sensitive=True``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic

from syncline.config.schema import SyncDecl
from syncline.domain.enums import TriggerMode
from syncline.security.secrets import is_secret_key
from syncline.store.tables import Sync

__all__ = [
    "Change",
    "compare",
    "config_changes",
    "current_model",
    "current_sync",
    "declared_status",
    "desired_model",
    "desired_sync",
    "top_field",
]

# Sync fields compared as written; the identity, names of references and status are special.
_SYNC_PLAIN = tuple(
    f
    for f in SyncDecl.model_fields
    if f not in ("name", "model", "destination", "trigger_after", "status", "paused", "mode")
)


@dataclass(frozen=True)
class Change:
    """One field that differs; ``before``/``after`` are None for a sensitive field."""

    field: str
    before: Any = None
    after: Any = None
    sensitive: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "before": None if self.sensitive else self.before,
            "after": None if self.sensitive else self.after,
            "sensitive": self.sensitive,
        }


def _flatten(value: Any, path: tuple[str, ...], out: dict[tuple[str, ...], Any]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, (*path, str(key)), out)
    else:
        out[path] = value


def config_changes(
    before: dict[str, Any] | None,
    after: dict[str, Any],
    prefix: str = "config",
    spec: Mapping[str, Any] | None = None,
) -> list[Change]:
    """The leaves of a connector config that differ, secrets masked.

    A leaf is sensitive when the connector's ``spec`` marks it (what is encrypted: a URL with
    credentials, header values ...) or when any key on its path looks secret.
    """
    old: dict[tuple[str, ...], Any] = {}
    new: dict[tuple[str, ...], Any] = {}
    for key, item in (before or {}).items():
        _flatten(item, (str(key),), old)
    for key, item in after.items():
        _flatten(item, (str(key),), new)
    missing = object()
    changes = []
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path, missing), new.get(path, missing)
        if a == b:
            continue
        sensitive = _marked(path, spec or {}) or any(is_secret_key(p) for p in path)
        changes.append(
            Change(
                ".".join((prefix, *path)),
                None if a is missing else a,
                None if b is missing else b,
                sensitive,
            )
        )
    return changes


def _marked(path: tuple[str, ...], spec: Mapping[str, Any]) -> bool:
    node: Any = spec
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
        if node is None:
            return False
        if not isinstance(node, Mapping):
            return True
    return False


def _records(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(v, dict) for v in value)


def compare(before: dict[str, Any] | None, after: dict[str, Any]) -> list[Change]:
    """The fields of ``after`` whose value differs in ``before`` (None: everything is new).

    Lists of objects (``field_mapping``, ``alert_attributes``) are compared item by item, so
    changing one mapping of twenty shows that one, as ``field_mapping[3]``.
    """
    changes = []
    for name, value in after.items():
        old = None if before is None else before.get(name)
        if before is not None and old == value:
            continue
        if _records(value) or _records(old):
            olds = old if isinstance(old, list) else []
            news = value if isinstance(value, list) else []
            for i in range(max(len(olds), len(news))):
                a = olds[i] if i < len(olds) else None
                b = news[i] if i < len(news) else None
                if a != b:
                    changes.append(Change(f"{name}[{i}]", a, b))
        else:
            changes.append(Change(name, old, value))
    return changes


def top_field(change: Change) -> str:
    """The declared field a change is in: ``config.auth.token`` and ``field_mapping[2]`` too."""
    return re.split(r"[.\[]", change.field, maxsplit=1)[0]


def desired_model(decl: Any) -> dict[str, Any]:
    """A declared model as compared: its source by name, SQL, primary key and description."""
    return {
        "source": decl.source,
        "sql": decl.sql,
        "primary_key": decl.primary_key,
        "description": decl.description,
    }


def current_model(model: Any, names: dict[str, str]) -> dict[str, Any]:
    """A stored model in the shape of :func:`desired_model`."""
    return {
        "source": names.get(model.source_id, model.source_id),
        "sql": model.sql,
        "primary_key": model.primary_key,
        "description": model.description,
    }


def declared_status(decl: SyncDecl) -> str | None:
    """The status the files ask for (``paused: true`` is ``paused``), None when unmanaged."""
    if decl.status is not None:
        return decl.status
    if decl.paused is not None:
        return "paused" if decl.paused else "active"
    return None


def desired_sync(decl: SyncDecl) -> dict[str, Any]:
    """A declared sync as compared: JSON values, references by name, the effective trigger."""
    data = decl.model_dump(mode="json", exclude_none=True)
    view: dict[str, Any] = {"model": decl.model, "destination": decl.destination}
    view.update((f, data.get(f)) for f in _SYNC_PLAIN)
    view["trigger_after"] = list(decl.trigger_after)
    # The service picks scheduled/manual when none is given; compare with what it will store.
    view["trigger_mode"] = (decl.trigger_mode or _default_trigger(decl)).value
    # Seed 001's run mode: the service stores "triggered" when none is given.
    view["mode"] = decl.mode.type if decl.mode is not None else "triggered"
    status = declared_status(decl)
    if status is not None:
        view["status"] = status
    return view


def _default_trigger(decl: SyncDecl) -> TriggerMode:
    return TriggerMode.SCHEDULED if decl.schedule is not None else TriggerMode.MANUAL


def current_sync(sync: Sync, names: dict[str, str], *, with_status: bool) -> dict[str, Any]:
    """A stored sync in the shape of :func:`desired_sync`.

    ``error`` counts as ``active``: it is what a run did, not what anybody configured, so files
    saying "not paused" agree with it.
    """
    raw: dict[str, Any] = {f: getattr(sync, f) for f in _SYNC_PLAIN if f != "trigger_after"}
    raw.update(
        name=sync.name,
        model=names.get(sync.model_id, sync.model_id),
        destination=names.get(sync.destination_id, sync.destination_id),
        trigger_after=[names.get(i, i) for i in sync.trigger_after_sync_ids or []],
    )
    try:
        view = desired_sync(SyncDecl.model_validate(raw))
    except pydantic.ValidationError:
        # Stored by an older version in a shape that no longer validates: compare it raw, so
        # every field the files state differently is rewritten.
        view = {k: v for k, v in raw.items() if k != "name"}
    view["trigger_mode"] = sync.trigger_mode
    view["mode"] = sync.mode
    if with_status:
        view["status"] = "active" if sync.status == "error" else sync.status
    return view
