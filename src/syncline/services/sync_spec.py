"""The shape of a sync's configuration: what create accepts, and what an update may change.

Field-level checks live here (types, enums, ranges, a parsable schedule); rules that need
the store (the model's columns, the destination's modes, trigger cycles) live in
``sync_rules.py``. The API, the CLI and YAML apply all validate through these classes.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from syncline.connectors.sources.runlog import check_schema_name
from syncline.domain.enums import (
    ExecutionMode,
    FieldBehavior,
    FieldNormalization,
    FieldOrder,
    SyncMode,
    TriggerMode,
)
from syncline.domain.mapping import FieldMapping
from syncline.domain.schedule import WEEKDAYS, Frequency, parse_schedule
from syncline.domain.validation import storable_problem

Name = Annotated[str, Field(min_length=1, max_length=255)]
ColumnName = Annotated[str, Field(min_length=1, max_length=255)]
Description = Annotated[str, Field(max_length=10_000)]
INT32_MAX = 2**31 - 1

AlertType = Literal[
    "FailureAlertConfiguration",
    "InvalidRecordPercentAlertConfiguration",
    "FullSyncTriggerAlertConfiguration",
    "RecordCountDeviationAlertConfiguration",
    "RuntimeAlertConfiguration",
    "StatusAlertConfiguration",
]
Weekday = Literal["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
assert tuple(Weekday.__args__) == WEEKDAYS  # type: ignore[attr-defined]
UserStatus = Literal["draft", "active", "paused"]


class StorableModel(BaseModel):
    """A request body whose every string and number can be stored on SQLite and PostgreSQL."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        problem = storable_problem(data)
        if problem:
            raise ValueError(problem)
        return data


class PatchModel(StorableModel):
    """A partial update: omitted fields stay as they are, ``null`` only clears nullable ones.

    Fields are typed ``X | None`` so that "not sent" has a value; the JSON schema hides that
    ``None`` for fields listed outside ``NULLABLE`` and a validator refuses an explicit null.
    """

    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError(f"{info.field_name} cannot be null; omit it to keep the current value")
        return value

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        for name, prop in schema.get("properties", {}).items():
            options = prop.get("anyOf")
            if name in cls.NULLABLE or not options:
                continue
            kept = [o for o in options if o.get("type") != "null"]
            prop.pop("anyOf")
            prop.pop("default", None)
            if len(kept) == 1:
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept
        return schema

    def changes(self) -> dict[str, Any]:
        """The fields the request sent, as plain Python values."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class ScheduleObject(BaseModel):
    """A schedule by frequency, with ``day``, ``hour``, ``minute`` or ``expression`` as needed."""

    model_config = ConfigDict(extra="forbid")

    frequency: Frequency
    day: Weekday | None = None
    hour: int | None = Field(default=None, ge=0, le=23)
    minute: int | None = Field(default=None, ge=0, le=59)
    expression: str | None = Field(default=None, max_length=255)


class RunModeObject(BaseModel):
    """Seed 001's ``mode``: ``live`` runs back to back, ``triggered`` on schedule or by hand."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["live", "triggered"]

    @model_validator(mode="before")
    @classmethod
    def _from_stored(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value


Label = Annotated[str, Field(max_length=255)]


class AlertAttribute(BaseModel):
    """One alert rule: a ``type`` and free options (thresholds, channels ...)."""

    model_config = ConfigDict(extra="allow")

    type: AlertType
    send_for: Literal["first_time", "every_time"] | None = None


def _check_execution_config(value: Any) -> Any:
    """``shards`` (fan-out execution modes) must be a whole number from 1 to 64."""
    if isinstance(value, dict) and "shards" in value:
        n = value["shards"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 64:
            raise ValueError("execution_config.shards must be an integer from 1 to 64")
    return value


def _check_config(value: Any) -> Any:
    """``warehouse_run_logs`` is a boolean; ``warehouse_run_logs_schema`` a plain identifier;
    ``load_parallelism`` a whole number from 1 to 8."""
    if not isinstance(value, dict):
        return value
    if "load_parallelism" in value:
        n = value["load_parallelism"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 8:
            raise ValueError("config.load_parallelism must be an integer from 1 to 8")
    if "warehouse_run_logs" in value and not isinstance(value["warehouse_run_logs"], bool):
        raise ValueError("config.warehouse_run_logs must be true or false")
    schema = value.get("warehouse_run_logs_schema")
    if schema is not None:
        if not isinstance(schema, str):
            raise ValueError("config.warehouse_run_logs_schema must be a string")
        check_schema_name(schema)
    return value


def _check_schedule(value: Any) -> Any:
    if value is not None:
        parse_schedule(value)  # ValueError -> one 422 at "schedule" with the parser's message
    return value


class SyncSpec(StorableModel):
    """Everything a sync is configured with; the create body."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = ""
    model_id: uuid.UUID
    destination_id: uuid.UUID
    field_mapping: list[FieldMapping] = Field(default_factory=list, max_length=1000)
    sync_mode: SyncMode
    schedule: str | ScheduleObject | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    primary_key: ColumnName
    status: UserStatus | None = None
    paused: bool | None = None
    sync_null_values: bool = True
    field_behavior: FieldBehavior = FieldBehavior.SPECIFIC_PROPERTIES
    field_normalization: FieldNormalization | None = None
    field_order: FieldOrder | None = None
    high_water_mark: ColumnName | None = None
    alert_attributes: list[AlertAttribute] = Field(default_factory=list, max_length=50)
    trigger_mode: TriggerMode | None = None
    trigger_after_sync_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    execution_mode: ExecutionMode = ExecutionMode.SEQUENTIAL
    execution_config: dict[str, Any] = Field(default_factory=dict)
    freshness_sla_seconds: int | None = Field(default=None, ge=1, le=INT32_MAX)
    max_auto_resume_attempts: int = Field(default=2, ge=0, le=100)
    label: Label | None = None
    mode: RunModeObject | None = None

    @field_validator("schedule", mode="before")
    @classmethod
    def _parsable_schedule(cls, value: Any) -> Any:
        return _check_schedule(value)

    @field_validator("execution_config", mode="after")
    @classmethod
    def _valid_execution_config(cls, value: Any) -> Any:
        return _check_execution_config(value)

    @field_validator("config", mode="after")
    @classmethod
    def _valid_config(cls, value: Any) -> Any:
        return _check_config(value)

    @property
    def is_live(self) -> bool:
        return self.mode is not None and self.mode.type == "live"


class SyncPatch(PatchModel):
    """A partial update: only the fields present change, validated as strictly as create."""

    model_config = ConfigDict(extra="forbid")

    NULLABLE: ClassVar[frozenset[str]] = frozenset(
        {
            "schedule",
            "field_normalization",
            "field_order",
            "high_water_mark",
            "freshness_sla_seconds",
            "label",
        }
    )

    name: Name | None = None
    description: Description | None = None
    model_id: uuid.UUID | None = None
    destination_id: uuid.UUID | None = None
    field_mapping: Annotated[list[FieldMapping], Field(max_length=1000)] | None = None
    sync_mode: SyncMode | None = None
    schedule: str | ScheduleObject | None = None
    config: dict[str, Any] | None = None
    primary_key: ColumnName | None = None
    status: UserStatus | None = None
    paused: bool | None = None
    sync_null_values: bool | None = None
    field_behavior: FieldBehavior | None = None
    field_normalization: FieldNormalization | None = None
    field_order: FieldOrder | None = None
    high_water_mark: ColumnName | None = None
    alert_attributes: Annotated[list[AlertAttribute], Field(max_length=50)] | None = None
    trigger_mode: TriggerMode | None = None
    trigger_after_sync_ids: Annotated[list[uuid.UUID], Field(max_length=100)] | None = None
    execution_mode: ExecutionMode | None = None
    execution_config: dict[str, Any] | None = None
    freshness_sla_seconds: int | None = Field(default=None, ge=1, le=INT32_MAX)
    max_auto_resume_attempts: int | None = Field(default=None, ge=0, le=100)
    label: Label | None = None
    mode: RunModeObject | None = None

    @field_validator("schedule", mode="before")
    @classmethod
    def _parsable_schedule(cls, value: Any) -> Any:
        return _check_schedule(value)

    @field_validator("execution_config", mode="after")
    @classmethod
    def _valid_execution_config(cls, value: Any) -> Any:
        return _check_execution_config(value)

    @field_validator("config", mode="after")
    @classmethod
    def _valid_config(cls, value: Any) -> Any:
        return _check_config(value)
