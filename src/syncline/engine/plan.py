"""Plan by mode: what each sync mode sends, and the mirror delete guard.

One table, read by runs (which send it) and dry runs (which preview it), so the two cannot
disagree about what a mode does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncline.connectors.base import Operation
from syncline.domain.enums import SyncMode
from syncline.engine.diff import SENDABLE, DiffCounts


class DeleteGuardError(Exception):
    """A mirror run would delete too much; nothing was deleted."""


@dataclass(frozen=True)
class Plan:
    """The sends of one mode, in order: (operation, diff classes); then, if ``deletes``,
    the removed keys are deleted last, behind the delete guard."""

    sends: tuple[tuple[Operation, tuple[str, ...]], ...]
    deletes: bool = False


_PLANS: dict[SyncMode, Plan] = {
    SyncMode.UPSERT: Plan(((Operation.UPSERT, SENDABLE),)),
    SyncMode.INSERT: Plan(((Operation.INSERT, ("added",)),)),
    SyncMode.UPDATE: Plan(((Operation.UPDATE, SENDABLE),)),
    SyncMode.MIRROR: Plan(((Operation.UPSERT, SENDABLE),), deletes=True),
    SyncMode.APPEND: Plan(((Operation.INSERT, ("added",)),)),
}


def plan_for(mode: SyncMode) -> Plan:
    """What ``mode`` sends."""
    return _PLANS[mode]


def planned_counts(plan: Plan, counts: DiffCounts) -> dict[str, int]:
    """How many records ``plan`` sends per operation, from the diff's counts (the live
    progress's "N of M sent")."""
    out: dict[str, int] = {}
    for operation, classes in plan.sends:
        n = sum(int(getattr(counts, cls)) for cls in classes)
        out[operation.value] = out.get(operation.value, 0) + n
    if plan.deletes:
        out[Operation.DELETE.value] = counts.removed
    return out


def preview(plan: Plan) -> dict[str, tuple[str, ...]]:
    """Which diff classes a plan turns into creates and updates in the destination.

    An upsert creates what is added and updates what changed; an insert creates; an update
    only updates (an added row is an update of a record the destination may hold).
    """
    out: dict[str, list[str]] = {"creates": [], "updates": []}
    for operation, classes in plan.sends:
        for cls in classes:
            creates = operation == Operation.INSERT or (
                operation == Operation.UPSERT and cls == "added"
            )
            out["creates" if creates else "updates"].append(cls)
    return {k: tuple(v) for k, v in out.items()}


def check_delete_guard(
    config: dict[str, Any] | None, removed: int, model_rows: int, snapshot_rows: int
) -> None:
    """Refuse a mirror delete of everything, or of more than ``mirror_max_delete_pct``
    percent of the snapshot, unless ``allow_mass_delete``; raises DeleteGuardError."""
    cfg = config or {}
    if removed == 0 or cfg.get("allow_mass_delete"):
        return
    if model_rows == 0:
        raise DeleteGuardError(
            f"the model returned zero rows: mirror would delete all {removed} records in the "
            "destination; nothing was deleted (set config.allow_mass_delete to allow it)"
        )
    pct = float(cfg.get("mirror_max_delete_pct", 50))
    share = 100.0 * removed / max(snapshot_rows, 1)
    if share > pct:
        raise DeleteGuardError(
            f"mirror would delete {removed} of {snapshot_rows} records ({share:.1f}%), more "
            f"than mirror_max_delete_pct={pct:g}%; nothing was deleted (raise the limit or set "
            "config.allow_mass_delete)"
        )
