"""The YAML format of config as code: a workspace's sources, models, destinations and syncs.

Objects refer to each other by **name** (names are the identity across applies), never by id,
so the same files can be applied to any workspace. The field checks are those of the API:
syncs reuse the API's own field types, and the store-level rules run in the services at apply
time. The published JSON Schema (``docs/syncline-config.schema.json``) is generated from
these classes by :func:`json_schema`, so editors validate exactly what ``apply`` accepts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from syncline.domain.enums import (
    ExecutionMode,
    FieldBehavior,
    FieldNormalization,
    FieldOrder,
    SyncMode,
    TriggerMode,
)
from syncline.domain.mapping import FieldMapping
from syncline.domain.schedule import parse_schedule
from syncline.services.sync_spec import (
    INT32_MAX,
    AlertAttribute,
    ColumnName,
    Description,
    Label,
    Name,
    RunModeObject,
    ScheduleObject,
    StorableModel,
    UserStatus,
)

__all__ = [
    "ConfigFile",
    "DestinationDecl",
    "ModelDecl",
    "SourceDecl",
    "SyncDecl",
    "json_schema",
    "schema_text",
]

TypeName = Annotated[str, Field(min_length=1, max_length=64)]
ConnectorConfig = Annotated[
    dict[str, Any],
    Field(
        description="The connector's settings. Secret keys (password, token, api_key, dsn ...) "
        "must be a whole ${ENV_VAR} reference: secrets are never written in the files."
    ),
]


class Declared(StorableModel):
    """What every declared object shares: unknown keys are errors, so a typo never goes unseen."""

    model_config = ConfigDict(extra="forbid")

    name: Name = Field(description="Identity of the object across applies; unique per kind.")


class SourceDecl(Declared):
    """A warehouse connection models read from."""

    type: TypeName = Field(description="An installed source connector: duckdb, postgres ...")
    config: ConnectorConfig = Field(default_factory=dict)


class DestinationDecl(Declared):
    """Where syncs write."""

    type: TypeName = Field(description="An installed destination connector: postgres, file ...")
    config: ConnectorConfig = Field(default_factory=dict)


class ModelDecl(Declared):
    """A SQL query on a source, with the column that identifies a row."""

    description: Description = ""
    source: Name = Field(description="Name of the source the query runs on.")
    sql: str = Field(min_length=1, max_length=1_000_000)
    primary_key: ColumnName


class SyncDecl(Declared):
    """A sync: the API's sync body with the model, destination and upstreams named, not ids.

    ``status``/``paused`` are managed only when written: a sync whose files say neither keeps
    whatever status it was given in the UI or the API (it is created active).
    """

    description: Description = ""
    model: Name = Field(description="Name of the model to read.")
    destination: Name = Field(description="Name of the destination to write to.")
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
    trigger_after: list[Name] = Field(
        default_factory=list,
        max_length=100,
        description="Names of the syncs whose success triggers this one (trigger_mode after_sync).",
    )
    execution_mode: ExecutionMode = ExecutionMode.SEQUENTIAL
    execution_config: dict[str, Any] = Field(default_factory=dict)
    freshness_sla_seconds: int | None = Field(default=None, ge=1, le=INT32_MAX)
    max_auto_resume_attempts: int = Field(default=2, ge=0, le=100)
    label: Label | None = None
    mode: RunModeObject | None = None

    @field_validator("schedule", mode="before")
    @classmethod
    def _parsable_schedule(cls, value: Any) -> Any:
        if value is not None:
            parse_schedule(value)  # the API's parser, hence the API's message
        return value


class ConfigFile(BaseModel):
    """One YAML file; a directory of them is merged (names stay unique across all files)."""

    model_config = ConfigDict(
        extra="forbid",
        title="Syncline configuration",
        json_schema_extra={
            "description": "Sources, models, destinations and syncs of a Syncline workspace, "
            "applied with `syncline apply -f DIR --workspace ID`."
        },
    )

    version: Literal[1] = Field(default=1, description="Format version; 1 is the only one.")
    sources: list[SourceDecl] = Field(default_factory=list)
    models: list[ModelDecl] = Field(default_factory=list)
    destinations: list[DestinationDecl] = Field(default_factory=list)
    syncs: list[SyncDecl] = Field(default_factory=list)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one config file, as published in ``docs/``."""
    schema = ConfigFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def schema_text() -> str:
    """:func:`json_schema` as the text of the published file (stable key order, newline)."""
    import json

    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
