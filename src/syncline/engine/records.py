"""Run records: the rows a run rejected, stored in bulk with the payload that was sent."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from syncline.domain.jsonsafe import json_safe
from syncline.store.tables import RunRecord, utcnow


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
