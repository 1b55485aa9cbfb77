"""Use cases for syncs: create, change, list and delete (runs are in ``runs.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.domain.enums import TriggerMode
from syncline.domain.schedule import LIVE_SCHEDULE, next_fire_time, parse_schedule
from syncline.domain.validation import ErrorDetail, ValidationError
from syncline.runs.queue import JobQueue
from syncline.runs.start import start_run
from syncline.security.secrets import SecretBox
from syncline.services.common import Page, PageRequest, get_scoped, paginate, utcnow
from syncline.services.errors import ConflictError
from syncline.services.sync_listing import SyncFilters, filter_parameters, sync_filter_clauses
from syncline.services.sync_rules import check_sync
from syncline.services.sync_spec import ScheduleObject, SyncPatch, SyncSpec
from syncline.store.tables import Sync, SyncRun

# Spec fields stored as they are named; status and paused are turned into ``status`` instead.
_STORED = tuple(f for f in SyncSpec.model_fields if f not in ("status", "paused"))


def list_syncs(
    session: Session,
    *,
    workspace_id: str,
    page: PageRequest,
    status: str | None = None,
    model_id: str | None = None,
    destination_id: str | None = None,
    q: str | None = None,
) -> Page[Sync]:
    """A page of the workspace's syncs, filtered by status, model, destination or name.

    The filters are the API list's own (``sync_listing``), so both lists agree on them."""
    filters = SyncFilters(status=status, model_id=model_id, destination_id=destination_id, q=q)
    stmt = (
        sa.select(Sync)
        .where(*sync_filter_clauses(Sync.__table__, filters))
        .params(filter_parameters(workspace_id, filters))
    )
    return paginate(session, stmt, page=page, order_by=[Sync.created_at, Sync.id])


def get_sync(session: Session, *, workspace_id: str, sync_id: str) -> Sync:
    """One sync of the workspace, or NotFoundError("Sync")."""
    return get_scoped(session, Sync, workspace_id=workspace_id, id=sync_id, kind="Sync")


def _stored_values(spec: SyncSpec) -> dict[str, Any]:
    """The spec as column values: JSON-ready, nulls dropped inside objects (echoed as given)."""
    data = spec.model_dump(mode="json", include=set(_STORED))
    data["field_mapping"] = [
        m.model_dump(mode="json", exclude_none=True) for m in spec.field_mapping
    ]
    data["alert_attributes"] = [
        a.model_dump(mode="json", exclude_none=True) for a in spec.alert_attributes
    ]
    if spec.schedule is not None and not isinstance(spec.schedule, str):
        data["schedule"] = spec.schedule.model_dump(mode="json", exclude_none=True)
    data["mode"] = spec.mode.type if spec.mode else "triggered"
    return data


def _live_create(spec: SyncSpec) -> SyncSpec:
    """A ``mode: live`` sync is the ``continuous`` schedule, started by the scheduler."""
    if not spec.is_live:
        return spec
    update: dict[str, Any] = {}
    if spec.schedule is None:
        update["schedule"] = ScheduleObject.model_validate(LIVE_SCHEDULE)
    if spec.trigger_mode is None:
        update["trigger_mode"] = TriggerMode.SCHEDULED
    return spec.model_copy(update=update)


def _live_update(merged: dict[str, Any], changes: dict[str, Any], was_live: bool) -> None:
    """Turning ``live`` on sets the continuous schedule; turning it off removes it."""
    mode = merged.get("mode")
    live = (mode.get("type") if isinstance(mode, dict) else mode) == "live"
    if live and "schedule" not in changes:
        merged["schedule"] = dict(LIVE_SCHEDULE)
    if live and "trigger_mode" not in changes:
        merged["trigger_mode"] = TriggerMode.SCHEDULED
    if not live and was_live and "schedule" not in changes:
        merged["schedule"] = None
        if "trigger_mode" not in changes:
            merged["trigger_mode"] = TriggerMode.MANUAL


def _spec_of(sync: Sync) -> dict[str, Any]:
    """The stored sync as a spec input, to merge an update into."""
    return {f: getattr(sync, f) for f in _STORED}


def _next_run_at(sync: Sync, now: datetime) -> datetime | None:
    """When the scheduler should start this sync next: only active, scheduled syncs fire."""
    if sync.status != "active" or sync.trigger_mode != TriggerMode.SCHEDULED:
        return None
    if sync.schedule is None:
        return None
    return next_fire_time(parse_schedule(sync.schedule), now)


def create_sync(
    session: Session,
    *,
    queue: JobQueue,
    workspace_id: str,
    created_by: str | None,
    spec: SyncSpec,
    validate_only: bool = False,
    now: datetime | None = None,
    secrets: SecretBox | None = None,
) -> Sync:
    """Create a sync after checking it against the store.

    With ``validate_only`` nothing is written: the returned sync is what would be created,
    without an id or timestamps. A sync with ``trigger_mode: on_create`` (and active) gets its
    first run in the same transaction.
    """
    now = now or utcnow()
    spec = _live_create(spec)
    if spec.trigger_mode is None:
        spec = spec.model_copy(
            update={"trigger_mode": TriggerMode.SCHEDULED if spec.schedule else TriggerMode.MANUAL}
        )
    check_sync(session, workspace_id=workspace_id, spec=spec, secrets=secrets)
    status = spec.status or ("paused" if spec.paused else "active")
    sync = Sync(
        workspace_id=workspace_id,
        status=status,
        status_error="",
        created_by=created_by,
        state={},
        **_stored_values(spec),
    )
    sync.next_run_at = _next_run_at(sync, now)
    if validate_only:
        return sync
    session.add(sync)
    session.flush()
    if sync.trigger_mode == TriggerMode.ON_CREATE and sync.status == "active":
        start_run(session, queue=queue, sync=sync, triggered_by=created_by, trigger_ref="on_create")
    session.commit()
    return sync


def update_sync(
    session: Session,
    *,
    workspace_id: str,
    sync_id: str,
    patch: SyncPatch,
    now: datetime | None = None,
    secrets: SecretBox | None = None,
    validate_only: bool = False,
) -> Sync:
    """Apply a partial update, validated on the merged result as strictly as a create.

    With ``validate_only`` every check runs and nothing changes (the dashboard's Validate).

    ``paused: true/false`` sets status paused/active; leaving ``error`` (for instance by
    setting ``active``) clears ``status_error``. A new schedule without an explicit
    ``trigger_mode`` switches a manual sync to scheduled (and back when the schedule is removed).
    """
    now = now or utcnow()
    sync = get_sync(session, workspace_id=workspace_id, sync_id=sync_id)
    changes = patch.model_dump(mode="json", include=patch.model_fields_set)
    merged = {**_spec_of(sync), **changes}
    if (
        "schedule" in changes
        and "trigger_mode" not in changes
        and sync.trigger_mode in (TriggerMode.MANUAL, TriggerMode.SCHEDULED)
    ):
        merged["trigger_mode"] = (
            TriggerMode.SCHEDULED if changes["schedule"] is not None else TriggerMode.MANUAL
        )
    _live_update(merged, changes, was_live=sync.mode == "live")
    try:
        spec = SyncSpec.model_validate(merged)
    except pydantic.ValidationError as exc:
        # Only reachable when a stored value no longer fits (written by an older version).
        raise ValidationError(
            [ErrorDetail(("body", *e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
        ) from None
    check_sync(session, workspace_id=workspace_id, spec=spec, sync_id=sync.id, secrets=secrets)
    if validate_only:
        return sync
    before = (sync.status, sync.schedule, sync.trigger_mode)
    for name, value in _stored_values(spec).items():
        if getattr(sync, name) != value:
            setattr(sync, name, value)
    if patch.status is not None:
        sync.status = patch.status
    elif patch.paused is not None:
        sync.status = "paused" if patch.paused else "active"
    if sync.status != "error":
        sync.status_error = ""
    if (sync.status, sync.schedule, sync.trigger_mode) != before:
        sync.next_run_at = _next_run_at(sync, now)
    session.commit()
    return sync


def delete_sync(session: Session, *, workspace_id: str, sync_id: str) -> None:
    """Delete a sync and its history.

    Refused while a run is executing (cancel it first: a worker is writing to the destination)
    or while other syncs are set to trigger after this one.
    """
    sync = get_sync(session, workspace_id=workspace_id, sync_id=sync_id)
    running = session.scalar(
        sa.select(SyncRun.id).where(SyncRun.sync_id == sync.id, SyncRun.status == "running")
    )
    if running is not None:
        raise ConflictError(f"Sync has a running run ({running}); cancel it first")
    downstream = [
        f"{name} ({sid})"
        for sid, name, ups in session.execute(
            sa.select(Sync.id, Sync.name, Sync.trigger_after_sync_ids).where(
                Sync.workspace_id == workspace_id, Sync.id != sync.id
            )
        ).all()
        if sync.id in (ups or [])
    ]
    if downstream:
        raise ConflictError(f"Sync is an upstream trigger of syncs: {', '.join(downstream)}")
    session.execute(sa.delete(SyncRun).where(SyncRun.sync_id == sync.id))
    session.delete(sync)
    session.commit()
