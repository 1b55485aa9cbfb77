"""Request and response shapes of syncs (the seed 000 sync object and its extensions)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from syncline.domain.freshness import Freshness, freshness_status
from syncline.domain.health import Health
from syncline.security.redact import redact
from syncline.services.sync_listing import SyncView
from syncline.services.sync_spec import SyncPatch, SyncSpec
from syncline.store.tables import Sync

# The seed's create example, verbatim: the ids must name a model and destination of yours.
CREATE_EXAMPLE: dict[str, Any] = {
    "name": "Customers to Salesforce",
    "model_id": "770e8400-e29b-41d4-a716-446655440000",
    "destination_id": "880e8400-e29b-41d4-a716-446655440000",
    "field_mapping": [
        {"source_column": "email", "destination_field": "Email"},
        {"source_column": "first_name", "destination_field": "FirstName"},
    ],
    "sync_mode": "upsert",
    "primary_key": "customer_id",
    "schedule": "0 */6 * * *",
}
UPDATE_EXAMPLE: dict[str, Any] = {"schedule": "0 */12 * * *", "status": "paused"}
SYNC_EXAMPLE: dict[str, Any] = {
    "id": "550e8400-e29b-41d4-a716-446655440000",
    "workspace_id": "660e8400-e29b-41d4-a716-446655440000",
    "model_id": "770e8400-e29b-41d4-a716-446655440000",
    "destination_id": "880e8400-e29b-41d4-a716-446655440000",
    "name": "Customers to Salesforce",
    "description": "Sync active customers to Salesforce contacts",
    "field_mapping": [
        {"source_column": "email", "destination_field": "Email"},
        {"source_column": "first_name", "destination_field": "FirstName"},
        {"source_column": "last_name", "destination_field": "LastName"},
    ],
    "sync_mode": "upsert",
    "schedule": "0 */6 * * *",
    "config": {},
    "primary_key": "customer_id",
    "status": "active",
    "status_error": "",
    "created_by": "990e8400-e29b-41d4-a716-446655440000",
    "created_at": "2024-01-15T09:30:00Z",
    "updated_at": "2024-01-15T09:30:00Z",
    "last_synced_at": "2024-01-15T15:00:00Z",
    "last_run_id": "aae84000-e29b-41d4-a716-446655440000",
    "paused": False,
    "sync_null_values": True,
    "field_behavior": "specific_properties",
    "field_normalization": None,
    "field_order": None,
    "high_water_mark": None,
    "alert_attributes": [{"type": "FailureAlertConfiguration", "send_for": "first_time"}],
    "trigger_mode": "scheduled",
    "trigger_after_sync_ids": [],
    "execution_mode": "sequential",
    "execution_config": {},
    "freshness_sla_seconds": None,
    "max_auto_resume_attempts": 2,
    "next_run_at": "2024-01-15T18:00:00Z",
    "label": None,
    "mode": {"type": "triggered"},
    "health": "up to date",
}

_PREVIEW_EXAMPLE: dict[str, Any] = {
    **SYNC_EXAMPLE,
    **dict.fromkeys(("id", "created_at", "updated_at", "last_synced_at", "last_run_id")),
}


class SyncCreate(SyncSpec):
    """Create body. Unknown fields are rejected (422) so a typo never goes unnoticed."""

    model_config = ConfigDict(json_schema_extra={"examples": [CREATE_EXAMPLE]})

    validate_only: bool = Field(
        default=False,
        description="Check everything and answer 200 with the sync as it would be; save nothing.",
    )


class SyncUpdate(SyncPatch):
    """Update body: same fields as create, only those you want to change."""

    model_config = ConfigDict(json_schema_extra={"examples": [UPDATE_EXAMPLE]})


class SyncOut(BaseModel):
    """A sync (every seed 000 field, in its order, plus scheduling, alerting and execution)."""

    model_config = ConfigDict(json_schema_extra={"examples": [SYNC_EXAMPLE]})

    id: uuid.UUID
    workspace_id: uuid.UUID
    model_id: uuid.UUID
    destination_id: uuid.UUID
    name: str
    description: str
    field_mapping: list[dict[str, Any]]
    sync_mode: str
    schedule: str | dict[str, Any] | None = Field(description="Cron string or frequency object.")
    config: dict[str, Any]
    primary_key: str
    status: str = Field(description="draft, active, paused or error")
    status_error: str
    created_by: str | None = Field(description="Id of the API token that created the sync.")
    created_at: datetime
    updated_at: datetime
    last_synced_at: datetime | None
    last_run_id: uuid.UUID | None
    paused: bool
    sync_null_values: bool
    field_behavior: str
    field_normalization: str | None
    field_order: str | None
    high_water_mark: str | None
    alert_attributes: list[dict[str, Any]]
    trigger_mode: str
    trigger_after_sync_ids: list[uuid.UUID]
    execution_mode: str
    execution_config: dict[str, Any]
    freshness_sla_seconds: int | None
    max_auto_resume_attempts: int
    next_run_at: datetime | None = Field(description="When the scheduler starts it next (UTC).")
    last_success_at: datetime | None = Field(
        default=None, description="When a run of this sync last completed."
    )
    label: str | None = Field(default=None, description="Seed 001's free label.")
    mode: dict[str, str] = Field(
        default_factory=lambda: {"type": "triggered"},
        description="live (back to back, the continuous schedule) or triggered.",
    )
    freshness_status: Freshness | None = Field(
        default=None,
        description="With freshness_sla_seconds: fresh, stale (last success older than the "
        "SLA) or never_synced; null without an SLA.",
    )
    health: Health = Field(
        default=Health.READY,
        description="ready (no run has ended yet), up to date (the last run succeeded), "
        "failing (the last run failed, or status is error) or warning (the last run completed "
        "with rejected records); cancelled runs are passed over. Beside status, never instead.",
    )

    @classmethod
    def of(cls, row: Sync, *, health: Health = Health.READY) -> Self:
        """The API view of a sync row (``paused`` and ``freshness_status`` derived; ``health``
        from ``services.health``: a sync that never ran is ``ready``)."""
        values = {name: getattr(row, name, None) for name in cls.model_fields}
        return cls.model_validate(_derived(values, health, datetime.now(UTC)))


def _derived(values: dict[str, Any], health: Health, now: datetime) -> dict[str, Any]:
    """``values`` (a sync's columns by field name) with the fields the API derives."""
    values["health"] = health
    values["freshness_status"] = freshness_status(
        sla_seconds=values["freshness_sla_seconds"],
        last_success_at=values["last_success_at"],
        now=now,
    )
    values["paused"] = values["status"] == "paused"
    values["status_error"] = redact(values["status_error"] or "")
    values["description"] = values["description"] or ""
    values["mode"] = {"type": values["mode"] or "triggered"}
    return values


_LIST = TypeAdapter(list[SyncOut])


def sync_list_json(views: Sequence[SyncView]) -> bytes:
    """A JSON array of :class:`SyncOut`, byte for byte what ``list[SyncOut]`` as a FastAPI
    ``response_model`` renders, validated once and serialised once (issue 16: no ORM
    entities, no model per row, no second pass through the response model).

    Each view's columns go in as they are: the fields that are not columns have defaults or
    are derived, and the query's other columns are ignored like any unknown key.
    """
    now = datetime.now(UTC)
    rows = [_derived(dict(view.values), view.health, now) for view in views]
    return _LIST.dump_json(_LIST.validate_python(rows))


class SyncPreviewOut(SyncOut):
    """The sync a ``validate_only`` create would make: nothing saved, so no id yet."""

    model_config = ConfigDict(json_schema_extra={"examples": [_PREVIEW_EXAMPLE]})

    id: uuid.UUID | None = None  # type: ignore[assignment]
    created_at: datetime | None = None  # type: ignore[assignment]
    updated_at: datetime | None = None  # type: ignore[assignment]
