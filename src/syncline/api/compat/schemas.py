"""The vendor's request bodies (seeds 001 and 002), as it spells them.

Only shapes live here; every rule (modes, columns, schedules, alerts) is checked by the same
``SyncSpec`` and ``check_sync`` as the primary API once ``convert.py`` has translated the body.
Fields the vendor documents that Syncline has no use for are accepted and ignored where that
is harmless, and refused where silently ignoring them would mislead (docs/compat.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Frequency = Literal[
    "never", "continuous", "quarter_hourly", "hourly", "daily", "weekly", "expression"
]
Operation = Literal["append", "insert", "mirror", "update", "upsert"]

MAX_ID = 2**63 - 1
"""The largest integer id: the store's INTEGER / BIGINT is 64-bit, and a larger one in a body
raised ``OverflowError`` from the driver (a 500) instead of the 422 a path id gets."""
IdInt = Annotated[int, Field(ge=1, le=MAX_ID)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MappingFrom(Body):
    """A column (``data`` is its name) or a constant (``data`` is the value)."""

    type: Literal["column", "constant_value"]
    data: Any = None


class Mapping(Body):
    from_: MappingFrom = Field(alias="from")
    to: str = Field(min_length=1, max_length=255)
    is_primary_identifier: bool = False
    sync_null_values: bool | None = None
    # Accepted and ignored: Syncline never creates destination fields nor skips by field.
    generate_field: bool | None = None
    preserve_values: bool | None = None
    operation: str | None = None
    lookup_object: str | None = None
    lookup_field: str | None = None
    follow_source_type: bool | None = None


class SourceObject(Body):
    type: Literal["table", "model", "segment", "topic", "cohort"]
    table_catalog: str | None = Field(default=None, max_length=255)
    table_schema: str | None = Field(default=None, max_length=255)
    table_name: str | None = Field(default=None, max_length=255)
    id: IdInt | None = None
    name: str | None = None


class SourceAttributes(Body):
    connection_id: IdInt
    object: SourceObject


class DestinationAttributes(Body):
    connection_id: IdInt
    object: str | None = Field(default=None, max_length=255)
    lead_conversion_setting: Any = None  # accepted and ignored (Salesforce lead conversion)


class HighWaterMark(Body):
    column_name: str = Field(min_length=1, max_length=255)


class ModeIn(Body):
    type: Literal["live", "triggered"]


class SyncFields(Body):
    """Every field of the vendor's sync body; all optional here (PATCH sends a subset)."""

    label: str | None = Field(default=None, max_length=255)
    operation: Operation | None = None
    source_attributes: SourceAttributes | None = None
    destination_attributes: DestinationAttributes | None = None
    mappings: list[Mapping] | None = Field(default=None, max_length=1000)
    field_behavior: Literal["specific_properties", "sync_all_properties"] | None = None
    field_normalization: (
        Literal[
            "start_case",
            "lower_case",
            "upper_case",
            "camel_case",
            "snake_case",
            "match_source_names",
        ]
        | None
    ) = None
    field_order: Literal["alphabetical_column_name", "mapping_order"] | None = None
    high_water_mark_attributes: HighWaterMark | None = None
    schedule_frequency: Frequency | None = None
    schedule_day: str | None = None
    schedule_hour: int | None = None
    schedule_minute: int | None = None
    cron_expression: str | None = Field(default=None, max_length=255)
    mode: ModeIn | None = None
    paused: bool | None = None
    alert_attributes: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    failed_record_notifications_enabled: bool | None = None
    failed_record_notifications_threshold_percent: int | None = Field(default=None, ge=0, le=100)
    failed_run_notifications_enabled: bool | None = None
    advanced_configuration: dict[str, Any] | None = None
    triggers: dict[str, Any] | None = None


class SyncCreateIn(SyncFields):
    operation: Operation
    source_attributes: SourceAttributes
    destination_attributes: DestinationAttributes
    mappings: list[Mapping] = Field(max_length=1000)
    validate_only: bool = False


class SyncPatchIn(SyncFields):
    pass


class TriggerIn(Body):
    force_full_sync: bool = False
