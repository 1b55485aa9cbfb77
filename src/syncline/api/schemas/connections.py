"""Request and response shapes of sources and destinations (connector connections)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from syncline.api.schemas.catalog import CheckOut
from syncline.security.secrets import mask_config
from syncline.services.catalog import CheckOutcome
from syncline.services.sync_spec import PatchModel, StorableModel
from syncline.store.tables import Destination, Source

Name = Field(min_length=1, max_length=255)
TypeName = Field(min_length=1, max_length=64)

_SOURCE_EXAMPLE: dict[str, Any] = {
    "name": "Warehouse",
    "type": "duckdb",
    "config": {"path": "/data/wh.duckdb"},
}
_DEST_EXAMPLE: dict[str, Any] = {
    "name": "CRM export",
    "type": "file",
    "config": {"path": "/exports", "format": "csv"},
}


class ConnectionCreate(StorableModel):
    """A connection: its ``type`` (an installed connector) and the connector's ``config``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Name
    type: str = TypeName
    config: dict[str, Any] = Field(
        default_factory=dict,
        description="Connector settings; secrets are encrypted at rest and shown as ********.",
    )


class ConnectionUpdate(PatchModel):
    """Only the fields sent change; a ``config`` replaces the whole config.

    Send ``********`` as a secret's value to keep the stored secret.
    """

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    type: str | None = Field(default=None, min_length=1, max_length=64)
    config: dict[str, Any] | None = None


class SourceCreate(ConnectionCreate):
    model_config = ConfigDict(json_schema_extra={"examples": [_SOURCE_EXAMPLE]})


class SourceUpdate(ConnectionUpdate):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Main warehouse"}]})


class DestinationCreate(ConnectionCreate):
    model_config = ConfigDict(json_schema_extra={"examples": [_DEST_EXAMPLE]})


class DestinationUpdate(ConnectionUpdate):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"config": {"path": "/exports", "format": "jsonl"}}]}
    )


class ConnectionOut(BaseModel):
    id: uuid.UUID
    workspace_id: uuid.UUID
    name: str
    type: str
    config: dict[str, Any] = Field(description="The config with every secret shown as ********.")
    created_at: datetime
    updated_at: datetime
    check: CheckOut | None = Field(
        default=None,
        description="On create and update: the connection check run after saving (a failed "
        "check does not undo the save); null when skipped with ?check=false, and on reads.",
    )

    @classmethod
    def of(cls, row: Source | Destination, *, check: CheckOutcome | None = None) -> Self:
        """The API view of a stored connection: secrets masked, never decrypted."""
        return cls(
            check=None if check is None else CheckOut.of(check),
            id=uuid.UUID(row.id),
            workspace_id=uuid.UUID(row.workspace_id),
            name=row.name,
            type=row.type,
            config=mask_config(row.config or {}),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class SourceOut(ConnectionOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "440e8400-e29b-41d4-a716-446655440000",
                    "workspace_id": "660e8400-e29b-41d4-a716-446655440000",
                    **_SOURCE_EXAMPLE,
                    "created_at": "2024-01-15T09:00:00Z",
                    "updated_at": "2024-01-15T09:00:00Z",
                }
            ]
        }
    )


class DestinationOut(ConnectionOut):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "880e8400-e29b-41d4-a716-446655440000",
                    "workspace_id": "660e8400-e29b-41d4-a716-446655440000",
                    **_DEST_EXAMPLE,
                    "created_at": "2024-01-15T09:00:00Z",
                    "updated_at": "2024-01-15T09:00:00Z",
                }
            ]
        }
    )
