"""Run log lines and audit events as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class RunLogOut(BaseModel):
    """One line a run logged (its ids are the run's: ``run_id``)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    run_id: uuid.UUID
    logged_at: datetime
    level: str
    logger: str
    message: str


class AuditEventOut(BaseModel):
    """Who (token id and name, channel api | cli | config) did what to which object, when."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    workspace_id: uuid.UUID
    actor_token_id: str | None
    actor_name: str
    channel: str
    action: str
    object_type: str
    object_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    created_at: datetime
