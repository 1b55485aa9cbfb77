"""Response shapes of the connector catalog: types, connection checks, destination objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from syncline.connectors.base import Capabilities, FieldSchema, ObjectSchema
from syncline.services.catalog import CheckOutcome, ConnectorType

_SCHEMA_EXAMPLE: dict[str, Any] = {
    "title": "PostgresDestinationConfig",
    "type": "object",
    "properties": {
        "dsn": {"type": "string", "title": "Dsn", "writeOnly": True, "format": "password"},
        "table": {"type": "string", "title": "Table"},
    },
    "required": ["dsn", "table"],
}


class CapabilitiesOut(BaseModel):
    """What a destination type can do; sync validation enforces ``modes``."""

    modes: list[str] = Field(description="Supported sync modes, sorted.")
    max_batch_rows: int
    rate_limit_per_second: float | None
    supports_delete: bool
    lists_fields: bool = Field(description="Whether objects() lists fields mappings can use.")

    @classmethod
    def of(cls, caps: Capabilities) -> Self:
        return cls(
            modes=sorted(m.value for m in caps.modes),
            max_batch_rows=caps.max_batch_rows,
            rate_limit_per_second=caps.rate_limit_per_second,
            supports_delete=caps.supports_delete,
            lists_fields=caps.lists_fields,
        )


class SourceTypeOut(BaseModel):
    """An installed source connector and the JSON Schema of its ``config``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "duckdb",
                    "name": "DuckDB",
                    "description": "Reads models from DuckDB, streaming Arrow record batches.",
                    "config_schema": {"type": "object", "properties": {"path": {}}},
                }
            ]
        }
    )

    type: str = Field(description="The value of a source's ``type``.")
    name: str = Field(description="Display name.")
    description: str
    config_schema: dict[str, Any] = Field(
        description="JSON Schema of ``config``; secrets are marked writeOnly, format password."
    )

    @classmethod
    def of(cls, item: ConnectorType) -> Self:
        return cls(
            type=item.type,
            name=item.name,
            description=item.description,
            config_schema=item.config_schema,
        )


class DestinationTypeOut(SourceTypeOut):
    """An installed destination connector, its config's JSON Schema and its capabilities."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "postgres",
                    "name": "PostgreSQL",
                    "description": "Writes change batches into one PostgreSQL table.",
                    "config_schema": _SCHEMA_EXAMPLE,
                    "capabilities": {
                        "modes": ["append", "insert", "mirror", "update", "upsert"],
                        "max_batch_rows": 50000,
                        "rate_limit_per_second": None,
                        "supports_delete": True,
                        "lists_fields": True,
                    },
                }
            ]
        }
    )

    capabilities: CapabilitiesOut

    @classmethod
    def of(cls, item: ConnectorType) -> Self:
        assert item.capabilities is not None  # every destination class declares them
        return cls(
            type=item.type,
            name=item.name,
            description=item.description,
            config_schema=item.config_schema,
            capabilities=CapabilitiesOut.of(item.capabilities),
        )


class CheckOut(BaseModel):
    """A connection test that ran: ``ok`` false means the connector found a problem."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": True,
                    "message": 'connected; table "public"."contacts" exists',
                    "checked_at": "2024-01-15T09:00:00Z",
                }
            ]
        }
    )

    ok: bool
    message: str = Field(description="What the connector found; secrets are masked.")
    checked_at: datetime

    @classmethod
    def of(cls, outcome: CheckOutcome) -> Self:
        return cls(ok=outcome.ok, message=outcome.message, checked_at=outcome.checked_at)


class ObjectOut(BaseModel):
    """An object of a destination (a table, a CRM object type)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "contacts", "supports_field_ordering": False, "fields_count": 4}]
        }
    )

    name: str
    supports_field_ordering: bool
    fields_count: int

    @classmethod
    def of(cls, obj: ObjectSchema) -> Self:
        return cls(
            name=obj.name,
            supports_field_ordering=obj.supports_field_ordering,
            fields_count=len(obj.fields),
        )


class FieldOut(BaseModel):
    """A field of a destination object, as a ``destination_field`` may name it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "email", "type": "text", "required": False, "is_key": False}]
        }
    )

    name: str
    type: str
    required: bool
    is_key: bool

    @classmethod
    def of(cls, field: FieldSchema) -> Self:
        return cls(name=field.name, type=field.type, required=field.required, is_key=field.is_key)
