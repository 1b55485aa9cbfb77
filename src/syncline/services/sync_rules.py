"""Sync rules that need the store: the model and destination it names, their columns and modes.

Every problem is collected and reported at once, each with a ``loc`` into the request body,
so a user fixing a sync sees the whole list, not one error per round trip.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.connectors import registry
from syncline.domain.enums import FieldBehavior, SyncMode, TriggerMode
from syncline.domain.validation import Collector, find_cycle
from syncline.services.sync_spec import SyncSpec
from syncline.store.tables import Destination, Model, Sync


def _model(session: Session, workspace_id: str, model_id: str) -> Model | None:
    return session.scalar(
        sa.select(Model).where(Model.id == model_id, Model.workspace_id == workspace_id)
    )


def _destination(session: Session, workspace_id: str, destination_id: str) -> Destination | None:
    return session.scalar(
        sa.select(Destination).where(
            Destination.id == destination_id, Destination.workspace_id == workspace_id
        )
    )


def _check_destination(c: Collector, destination: Destination, mode: SyncMode) -> None:
    try:
        cls: Any = registry.destination_class(destination.type)
    except (registry.UnknownConnectorError, ImportError):
        c.add(("body", "destination_id"), f"destination type {destination.type!r} is not installed")
        return
    modes = sorted(m.value for m in cls.capabilities.modes)
    if mode.value not in modes:
        c.add(
            ("body", "sync_mode"),
            f"destination type {destination.type!r} does not support sync_mode {mode.value!r}; "
            f"supported: {', '.join(modes)}",
            "enum",
        )


def _check_columns(c: Collector, spec: SyncSpec, columns: list[dict[str, Any]]) -> None:
    names = [col["name"] for col in columns]
    listed = ", ".join(names)
    if spec.primary_key not in names:
        c.add(
            ("body", "primary_key"),
            f"primary_key {spec.primary_key!r} is not a column of the model; columns: {listed}",
        )
    for i, item in enumerate(spec.field_mapping):
        if item.source_column is not None and item.source_column not in names:
            c.add(
                ("body", "field_mapping", i, "source_column"),
                f"source_column {item.source_column!r} is not a column of the model; "
                f"columns: {listed}",
            )
    if spec.high_water_mark is not None and spec.high_water_mark not in names:
        c.add(
            ("body", "high_water_mark"),
            f"high_water_mark {spec.high_water_mark!r} is not a column of the model; "
            f"columns: {listed}",
        )


def _check_shape(c: Collector, spec: SyncSpec) -> None:
    all_props = spec.field_behavior == FieldBehavior.SYNC_ALL_PROPERTIES
    if not all_props and not spec.field_mapping:
        c.add(
            ("body", "field_mapping"),
            "field_mapping needs at least one mapping (or field_behavior sync_all_properties)",
            "too_short",
        )
    if spec.field_normalization is not None and not all_props:
        c.add(
            ("body", "field_normalization"),
            "field_normalization is only used with field_behavior sync_all_properties",
        )
    if spec.high_water_mark is not None and spec.sync_mode != SyncMode.APPEND:
        c.add(("body", "high_water_mark"), "high_water_mark is only used with sync_mode append")
    seen: dict[str, int] = {}
    for i, item in enumerate(spec.field_mapping):
        if item.destination_field in seen:
            c.add(
                ("body", "field_mapping", i, "destination_field"),
                f"destination_field {item.destination_field!r} is already mapped "
                f"(item {seen[item.destination_field]})",
            )
        seen.setdefault(item.destination_field, i)
    if spec.trigger_mode == TriggerMode.SCHEDULED and spec.schedule is None:
        c.add(("body", "trigger_mode"), "trigger_mode scheduled needs a schedule")
    if (
        spec.paused is not None
        and spec.status is not None
        and spec.paused != (spec.status == "paused")
    ):
        c.add(("body", "paused"), f"paused={spec.paused} contradicts status {spec.status!r}")


def _check_upstreams(
    c: Collector, session: Session, workspace_id: str, spec: SyncSpec, sync_id: str | None
) -> None:
    if not spec.trigger_after_sync_ids:
        return
    edges: dict[str, list[str]] = {
        sid: list(ups or [])
        for sid, ups in session.execute(
            sa.select(Sync.id, Sync.trigger_after_sync_ids).where(Sync.workspace_id == workspace_id)
        ).all()
    }
    wanted = [str(u) for u in spec.trigger_after_sync_ids]
    for i, upstream in enumerate(wanted):
        if upstream == sync_id:
            c.add(("body", "trigger_after_sync_ids", i), "a sync cannot trigger after itself")
        elif upstream not in edges:
            c.add(
                ("body", "trigger_after_sync_ids", i),
                f"sync {upstream} not found in this workspace",
                "not_found",
            )
    if sync_id is not None:
        edges[sync_id] = wanted
        cycle = find_cycle(edges, sync_id)
        if cycle is not None and len(cycle) > 2:
            c.add(
                ("body", "trigger_after_sync_ids"),
                "trigger_after_sync_ids would create a cycle: " + " -> ".join(cycle),
            )


def check_sync(
    session: Session, *, workspace_id: str, spec: SyncSpec, sync_id: str | None = None
) -> Model | None:
    """Check ``spec`` against the store; raise ValidationError listing every problem.

    Args:
        session: the open session.
        workspace_id: the workspace every referenced object must belong to.
        spec: the complete configuration (for an update: current values merged with changes).
        sync_id: the sync being updated, None when creating.

    Returns:
        The sync's model (for callers that need its columns).
    """
    c = Collector()
    _check_shape(c, spec)
    model = _model(session, workspace_id, str(spec.model_id))
    if model is None:
        c.add(("body", "model_id"), "model not found in this workspace", "not_found")
    elif model.columns is not None:
        _check_columns(c, spec, model.columns)
    destination = _destination(session, workspace_id, str(spec.destination_id))
    if destination is None:
        c.add(("body", "destination_id"), "destination not found in this workspace", "not_found")
    else:
        _check_destination(c, destination, spec.sync_mode)
    _check_upstreams(c, session, workspace_id, spec, sync_id)
    c.raise_if_any()
    return model
