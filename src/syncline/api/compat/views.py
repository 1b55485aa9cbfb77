"""Syncline objects as the vendor shows them (seed 002's sync object, its sync run object)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from syncline.api.compat import ids
from syncline.api.compat.convert import DEFAULT_THRESHOLD, FAILURE, INVALID, destination_object
from syncline.api.compat.tables import table_of
from syncline.connectors import registry
from syncline.domain.health import Health
from syncline.services.health import sync_healths
from syncline.store.tables import Destination, Model, Source, Sync, SyncRun

_RUN_STATUS = {
    "pending": "queued",
    "running": "working",
    "completed": "completed",
    "failed": "failed",
    "cancelled": "failed",
}


def _ts(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def sync_statuses(session: Session, syncs: list[Sync]) -> dict[str, str]:
    """Seed 002's ``status`` (``ready``, ``up to date``, ``failing``): the sync's health
    (``domain.health.sync_health``, the one rule); a ``warning`` (the last run completed with
    rejected records) shows as ``up to date``, since that vocabulary has no fourth word."""
    healths = sync_healths(session, syncs)
    return {
        sid: (Health.UP_TO_DATE if health is Health.WARNING else health).value
        for sid, health in healths.items()
    }


def _schedule(value: Any) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(
        ("schedule_day", "schedule_hour", "schedule_minute", "cron_expression")
    )
    if value is None:
        return {**out, "schedule_frequency": "never"}
    if isinstance(value, str):
        return {**out, "schedule_frequency": "expression", "cron_expression": value}
    out["schedule_frequency"] = value.get("frequency")
    out["schedule_day"] = value.get("day")
    out["schedule_hour"] = value.get("hour")
    out["schedule_minute"] = value.get("minute")
    out["cron_expression"] = value.get("expression")
    return out


def _mapping(item: dict[str, Any], sync: Sync) -> dict[str, Any]:
    column = item.get("source_column")
    origin = (
        {"type": "column", "data": column}
        if column is not None
        else {"type": "constant_value", "data": item.get("constant_value")}
    )
    return {
        "from": origin,
        "to": item["destination_field"],
        "is_primary_identifier": column is not None and column == sync.primary_key,
        "sync_null_values": sync.sync_null_values,
        "generate_field": False,
        "preserve_values": False,
    }


def _source_object(session: Session, model: Model, source: Source) -> dict[str, Any]:
    table = table_of(model.sql, source.type)
    if table is not None:
        return {
            "type": "table",
            "table_catalog": table.catalog,
            "table_schema": table.schema,
            "table_name": table.name,
        }
    return {"type": "model", "id": ids.int_of(session, ids.MODEL, model.id), "name": model.name}


def _alerts(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    invalid = next((a for a in alerts if a.get("type") == INVALID), None)
    return {
        "failed_run_notifications_enabled": any(a.get("type") == FAILURE for a in alerts),
        "failed_record_notifications_enabled": invalid is not None,
        "failed_record_notifications_threshold_percent": int(
            (invalid or {}).get("threshold", DEFAULT_THRESHOLD)
        ),
    }


def sync_view(session: Session, sync: Sync, status: str) -> dict[str, Any]:
    """One sync as the vendor's sync object."""
    model = session.get(Model, sync.model_id)
    destination = session.get(Destination, sync.destination_id)
    assert model is not None and destination is not None  # foreign keys RESTRICT deletes
    source = session.get(Source, model.source_id)
    assert source is not None
    number = ids.int_of(session, ids.SYNC, sync.id)
    return {
        "id": number,
        "label": sync.label,
        "resource_identifier": f"sync:{number}",
        "created_at": _ts(sync.created_at),
        "updated_at": _ts(sync.updated_at),
        "operation": sync.sync_mode,
        "paused": sync.status == "paused",
        "status": status,
        "mappings": [_mapping(m, sync) for m in sync.field_mapping],
        "source_attributes": {
            "connection_id": ids.int_of(session, ids.SOURCE, source.id),
            "object": _source_object(session, model, source),
        },
        "destination_attributes": {
            "connection_id": ids.int_of(session, ids.DESTINATION, destination.id),
            "object": destination_object(destination),
        },
        "advanced_configuration": dict(sync.config or {}),
        "alert_attributes": list(sync.alert_attributes or []),
        **_alerts(list(sync.alert_attributes or [])),
        "field_behavior": sync.field_behavior,
        "field_normalization": sync.field_normalization,
        "field_order": sync.field_order,
        "high_water_mark_attributes": (
            {"column_name": sync.high_water_mark} if sync.high_water_mark else None
        ),
        "match_rate": None,
        "match_rate_updated_at": None,
        "mode": {"type": sync.mode or "triggered"},
        "triggers": None,
        **_schedule(sync.schedule),
    }


def run_view(session: Session, run: SyncRun) -> dict[str, Any]:
    """One run as the vendor's sync run object."""
    summary = run.summary or {}
    failed = run.status in ("failed", "cancelled")
    return {
        "id": ids.int_of(session, ids.RUN, run.id),
        "sync_id": ids.int_of(session, ids.SYNC, run.sync_id),
        "source_record_count": summary.get("model_rows"),
        "source_record_updates": summary.get("changed"),
        "source_record_deletes": summary.get("removed"),
        "records_processed": run.rows_synced + run.rows_failed,
        "records_updated": run.rows_synced,
        "records_failed": run.rows_failed,
        "records_invalid": 0,
        "created_at": _ts(run.created_at),
        "updated_at": _ts(run.updated_at),
        "completed_at": _ts(run.completed_at),
        "scheduled_execution_time": _ts(run.created_at),
        "error_code": run.result_reason_code if failed else None,
        "error_message": (run.error_message or None) if failed else None,
        "error_detail": None,
        "status": _RUN_STATUS.get(run.status, run.status),
        "canceled": run.status == "cancelled",
        "full_sync": run.run_mode == "full",
        "sync_trigger_reason": {"ui_tag": run.triggered_by or "", "ui_detail": run.trigger_ref},
    }


def connection_view(session: Session, kind: str, row: Source | Destination) -> dict[str, Any]:
    """A source or destination: the vendor's connection object (no secrets: only the type)."""
    return {
        "id": ids.int_of(session, kind, row.id),
        "name": row.name,
        "label": row.name,
        "type": row.type,
        "created_at": _ts(row.created_at),
        "updated_at": _ts(row.updated_at),
        "connection_details": {},
    }


def type_views(kind: str) -> list[dict[str, Any]]:
    """The installed source or destination types."""
    if kind == ids.SOURCE:
        return [{"name": n, "service_name": n} for n in sorted(registry.source_types())]
    out = []
    for name, cls in sorted(registry.destination_types().items()):
        caps = cls.capabilities
        out.append(
            {
                "name": name,
                "service_name": name,
                "supported_operations": sorted(m.value for m in caps.modes),
                "supports_field_ordering": caps.supports_field_ordering,
            }
        )
    return out
