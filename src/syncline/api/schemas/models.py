"""Request and response shapes of models (a SQL query on a source) and their previews."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from syncline.services.sync_spec import PatchModel, StorableModel
from syncline.store.tables import Model

_EXAMPLE: dict[str, Any] = {
    "name": "Active customers",
    "description": "Customers with an order in the last 90 days",
    "source_id": "440e8400-e29b-41d4-a716-446655440000",
    "sql": "SELECT customer_id, email, first_name, last_name FROM customers",
    "primary_key": "customer_id",
}
_COLUMNS: list[Any] = [
    {"name": "customer_id", "type": "int64", "nullable": False},
    {"name": "email", "type": "string", "nullable": True},
    {"name": "first_name", "type": "string", "nullable": True},
    {"name": "last_name", "type": "string", "nullable": True},
]


class ModelCreate(StorableModel):
    """A model: the SQL is run on the source once to discover its columns."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    name: str = Field(min_length=1, max_length=255)
    description: str = Field(default="", max_length=10_000)
    source_id: uuid.UUID
    sql: str = Field(min_length=1, max_length=1_000_000)
    primary_key: str = Field(min_length=1, max_length=255)


class ModelUpdate(PatchModel):
    """Only the fields sent change; a new ``sql`` or ``source_id`` rediscovers the columns."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"description": "Paying customers"}]}
    )

    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=10_000)
    source_id: uuid.UUID | None = None
    sql: str | None = Field(default=None, min_length=1, max_length=1_000_000)
    primary_key: str | None = Field(default=None, min_length=1, max_length=255)


class ColumnOut(BaseModel):
    name: str
    type: str = Field(description="Arrow type name: int64, string, timestamp[us, tz=UTC] ...")
    nullable: bool = True


class ModelOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "770e8400-e29b-41d4-a716-446655440000",
                    "workspace_id": "660e8400-e29b-41d4-a716-446655440000",
                    **_EXAMPLE,
                    "columns": _COLUMNS,
                    "created_at": "2024-01-15T09:10:00Z",
                    "updated_at": "2024-01-15T09:10:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    workspace_id: uuid.UUID
    source_id: uuid.UUID
    name: str
    description: str
    sql: str
    primary_key: str
    columns: list[ColumnOut] | None = Field(
        description="Discovered from the source; null if unknown."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Model) -> Self:
        return cls.model_validate(row, from_attributes=True)


class PreviewIn(BaseModel):
    """How many rows of the model to show."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"limit": 20}]})

    limit: int = Field(default=20, ge=1, le=1000)


class PreviewOut(BaseModel):
    """The first rows of a model, JSON-safe (ISO datetimes, decimals as strings, bytes base64)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "columns": _COLUMNS[:2],
                    "rows": [{"customer_id": 1, "email": "ada@example.com"}],
                }
            ]
        }
    )

    columns: list[ColumnOut]
    rows: list[dict[str, Any]]
