"""Translate the vendor's sync body into Syncline's sync fields; no rule is checked here.

Whatever the translation produces goes through ``SyncSpec``/``SyncPatch`` and ``check_sync``
exactly like a primary-API request, so both APIs accept and refuse the same syncs. Problems
that exist only in the vendor's vocabulary (an unsupported source object, a constant as the
primary identifier) are reported here, at the vendor's field names.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from syncline.api.compat import ids
from syncline.api.compat.schemas import Mapping, SourceObject, SyncCreateIn, SyncFields
from syncline.api.compat.tables import TableRef, table_sql
from syncline.context import AppContext
from syncline.domain.validation import Collector
from syncline.services import destinations as destination_service
from syncline.services import models as model_service
from syncline.services import sources as source_service
from syncline.services.common import PageRequest
from syncline.store.tables import Destination, Model, Sync

FAILURE = "FailureAlertConfiguration"
INVALID = "InvalidRecordPercentAlertConfiguration"
DEFAULT_THRESHOLD = 75
# Config keys naming the object a destination writes to, by destination type.
OBJECT_KEYS = ("object", "sobject", "object_type", "table")
_ALL = PageRequest(per_page=None)


def destination_object(destination: Destination) -> str:
    """The object a destination writes to, as the vendor names it."""
    config = destination.config or {}
    for key in OBJECT_KEYS:
        if isinstance(config.get(key), str):
            return str(config[key])
    return destination.name


def _mappings(items: list[Mapping], c: Collector) -> tuple[list[dict[str, Any]], str | None]:
    """Field mappings and the primary identifier's column."""
    out: list[dict[str, Any]] = []
    key: str | None = None
    for i, m in enumerate(items):
        if m.from_.type == "column":
            if not isinstance(m.from_.data, str) or not m.from_.data:
                c.add(("body", "mappings", i, "from", "data"), "a column mapping names a column")
                continue
            out.append({"source_column": m.from_.data, "destination_field": m.to})
        else:
            data = m.from_.data
            value = data.get("value") if isinstance(data, dict) and "value" in data else data
            out.append({"constant_value": value, "destination_field": m.to})
        if m.is_primary_identifier:
            if m.from_.type != "column":
                c.add(
                    ("body", "mappings", i, "is_primary_identifier"),
                    "the primary identifier must be mapped from a column, not a constant",
                )
            elif key is None:
                key = m.from_.data
    return out, key


def _null_values(items: list[Mapping], c: Collector) -> bool | None:
    given = {m.sync_null_values for m in items if m.sync_null_values is not None}
    if len(given) > 1:
        c.add(
            ("body", "mappings"),
            "sync_null_values applies to the whole sync in Syncline; send the same value on "
            "every mapping",
        )
        return None
    return given.pop() if given else None


def _schedule(body: SyncFields, sent: set[str]) -> tuple[bool, Any]:
    """``(given, schedule)``: the frequency fields as a Syncline schedule."""
    if not sent & {"schedule_frequency", "cron_expression"}:
        return False, None
    freq = body.schedule_frequency or ("expression" if body.cron_expression else "never")
    if body.mode is not None and body.mode.type == "live" and freq in ("never", "continuous"):
        return False, None  # live sets the continuous schedule itself
    if freq == "never":
        return True, None
    if freq == "expression":
        return True, {"frequency": "expression", "expression": body.cron_expression}
    values = {
        "frequency": freq,
        "day": body.schedule_day,
        "hour": body.schedule_hour,
        "minute": body.schedule_minute,
    }
    return True, {k: v for k, v in values.items() if v is not None}


def _alerts(body: SyncFields, sent: set[str], current: list[dict[str, Any]]) -> Any:
    """``alert_attributes``, or the deprecated notification switches folded into them."""
    if "alert_attributes" in sent:
        return body.alert_attributes or []
    deprecated = {
        "failed_run_notifications_enabled",
        "failed_record_notifications_enabled",
        "failed_record_notifications_threshold_percent",
    }
    if not sent & deprecated:
        return None
    alerts = list(current)
    if body.failed_run_notifications_enabled is not None:
        alerts = [a for a in alerts if a.get("type") != FAILURE]
        if body.failed_run_notifications_enabled:
            alerts.append({"type": FAILURE, "send_for": "first_time"})
    record_sent = sent & {
        "failed_record_notifications_enabled",
        "failed_record_notifications_threshold_percent",
    }
    if record_sent:
        had = next((a for a in current if a.get("type") == INVALID), None)
        enabled = body.failed_record_notifications_enabled
        enabled = (had is not None) if enabled is None else enabled
        alerts = [a for a in alerts if a.get("type") != INVALID]
        if enabled:
            pct = body.failed_record_notifications_threshold_percent or DEFAULT_THRESHOLD
            alerts.append({"type": INVALID, "send_for": "first_time", "threshold": pct})
    return alerts


def common_fields(body: SyncFields, sent: set[str], current: Sync | None) -> dict[str, Any]:
    """The fields that translate one to one (or nearly), for create and update alike."""
    c = Collector()
    out: dict[str, Any] = {}
    for name in ("label", "field_behavior", "field_normalization", "field_order", "paused"):
        if name in sent:
            out[name] = getattr(body, name)
    if "operation" in sent and body.operation is not None:
        out["sync_mode"] = body.operation
    if "mode" in sent and body.mode is not None:
        out["mode"] = {"type": body.mode.type}
    if "high_water_mark_attributes" in sent:
        hwm = body.high_water_mark_attributes
        out["high_water_mark"] = hwm.column_name if hwm else None
    if "advanced_configuration" in sent:
        out["config"] = body.advanced_configuration or {}
    given, schedule = _schedule(body, sent)
    if given:
        out["schedule"] = schedule
    alerts = _alerts(body, sent, list(current.alert_attributes) if current else [])
    if alerts is not None:
        out["alert_attributes"] = alerts
    if body.triggers and any(v is not None for v in body.triggers.values()):
        c.add(
            ("body", "triggers"),
            "triggers after dbt Cloud or Fivetran jobs are not supported here; chain syncs "
            "with trigger_after_sync_ids in the Syncline API",
        )
    if body.mappings is not None:
        null_values = _null_values(body.mappings, c)
        if null_values is not None:
            out["sync_null_values"] = null_values
    c.raise_if_any()
    return out


def _model_for(
    session: Session,
    ctx: AppContext,
    workspace_id: str,
    source_id: str,
    obj: SourceObject,
    key: str | None,
    c: Collector,
) -> tuple[str | None, str | None]:
    """The model a source object stands for, and the primary key column."""
    loc = ("body", "source_attributes", "object")
    if obj.type == "model":
        if obj.id is None:
            c.add((*loc, "id"), "a model source object needs the model's id")
            return None, None
        model_id = ids.uuid_of(session, ids.MODEL, obj.id, label="Model")
        model = model_service.get_model(session, workspace_id=workspace_id, model_id=model_id)
        if model.source_id != source_id:
            c.add((*loc, "id"), "the model does not read from source_attributes.connection_id")
        return model.id, key or model.primary_key
    if obj.type != "table":
        c.add((*loc, "type"), f"source objects of type {obj.type!r} are not supported")
        return None, None
    if not obj.table_name:
        c.add((*loc, "table_name"), "a table source object needs table_name")
        return None, None
    if key is None:
        c.add(("body", "mappings"), "a table source needs one mapping with is_primary_identifier")
        return None, None
    source = source_service.get_source(session, workspace_id=workspace_id, source_id=source_id)
    sql = table_sql(TableRef(obj.table_catalog, obj.table_schema, obj.table_name), source.type)
    page = model_service.list_models(
        session, workspace_id=workspace_id, page=_ALL, source_id=source_id
    )
    same = next((m for m in page.items if m.sql == sql and m.primary_key == key), None)
    if same is not None:
        return same.id, key
    name = ".".join(p for p in (obj.table_schema, obj.table_name) if p)
    model = model_service.create_model(
        session,
        secrets=ctx.secrets,
        workspace_id=workspace_id,
        name=name,
        source_id=source_id,
        sql=sql,
        primary_key=key,
        description="Made for a sync of the compatibility API (a table source object).",
    )
    return model.id, key


def place_fields(
    session: Session, ctx: AppContext, workspace_id: str, body: SyncFields, current: Sync | None
) -> dict[str, Any]:
    """``model_id``, ``destination_id``, ``field_mapping`` and ``primary_key`` from the body."""
    c = Collector()
    out: dict[str, Any] = {}
    key: str | None = None
    if body.mappings is not None:
        out["field_mapping"], key = _mappings(body.mappings, c)
    if body.destination_attributes is not None:
        attrs = body.destination_attributes
        dest_id = ids.uuid_of(session, ids.DESTINATION, attrs.connection_id, label="Destination")
        dest = destination_service.get_destination(
            session, workspace_id=workspace_id, destination_id=dest_id
        )
        configured = destination_object(dest)
        if attrs.object and dest.name != configured and attrs.object.lower() != configured.lower():
            c.add(
                ("body", "destination_attributes", "object"),
                f"destination {attrs.connection_id} writes to {configured!r}; make one "
                "destination per object",
            )
        out["destination_id"] = dest.id
    if body.source_attributes is not None:
        attrs_s = body.source_attributes
        source_id = ids.uuid_of(session, ids.SOURCE, attrs_s.connection_id, label="Source")
        source_service.get_source(session, workspace_id=workspace_id, source_id=source_id)
        model_id, pk = _model_for(session, ctx, workspace_id, source_id, attrs_s.object, key, c)
        if model_id is not None:
            out["model_id"] = model_id
        if pk is not None:
            out["primary_key"] = pk
    elif key is not None and current is not None:
        out["primary_key"] = key
    c.raise_if_any()
    return out


def create_fields(
    session: Session, ctx: AppContext, workspace_id: str, body: SyncCreateIn
) -> dict[str, Any]:
    """A full ``SyncSpec`` input from a create body."""
    sent = set(body.model_fields_set)
    values = {
        **place_fields(session, ctx, workspace_id, body, None),
        **common_fields(body, sent, None),
    }
    if not values.get("label"):
        model = session.get(Model, values.get("model_id")) if values.get("model_id") else None
        dest = session.get(Destination, values.get("destination_id"))
        parts = [model.name if model else "source", destination_object(dest) if dest else "?"]
        values["name"] = " to ".join(parts)
    else:
        values["name"] = values["label"]
    return values
