"""Run records (rejected rows) and JSON-safe payloads."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import math
import uuid
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from syncline.store.tables import RunRecord, utcnow


def json_safe(value: Any) -> Any:
    """A value the JSON column accepts, losing nothing a user needs to read."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    return str(value)


class RecordWriter:
    """Appends run records in bulk inserts."""

    def __init__(
        self, sessions: sessionmaker[Session], *, run_id: str, sync_id: str, workspace_id: str
    ) -> None:
        self.sessions = sessions
        self.run_id = run_id
        self.sync_id = sync_id
        self.workspace_id = workspace_id
        self.written = 0

    def write(
        self,
        rows: Iterable[tuple[str | None, str, str, str, dict[str, Any] | None]],
        *,
        status: str = "failed",
    ) -> int:
        """Store (primary_key, operation, error_class, message, payload) tuples."""
        now = utcnow()
        values = [
            {
                "run_id": self.run_id,
                "sync_id": self.sync_id,
                "workspace_id": self.workspace_id,
                "primary_key": pk,
                "operation": op,
                "status": status,
                "error_class": err_class,
                "error_message": message,
                "payload": json_safe(payload) if payload is not None else None,
                "created_at": now,
            }
            for pk, op, err_class, message, payload in rows
        ]
        if not values:
            return 0
        with self.sessions.begin() as s:
            s.execute(sa.insert(RunRecord), values)
        self.written += len(values)
        return len(values)
