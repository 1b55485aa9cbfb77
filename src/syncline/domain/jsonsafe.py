"""Turning warehouse values into JSON: what a model preview sends to the browser."""

from __future__ import annotations

import base64
import math
import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any


def json_safe(value: Any) -> Any:
    """One value as JSON can carry it.

    Datetimes, dates and times become ISO 8601 (aware datetimes in UTC with ``Z``), decimals
    become strings (no silent float rounding of money), bytes become base64, NaN and infinities
    become null (JSON has no such numbers).
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() == timedelta(0):
            return value.replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [json_safe(v) for v in value]
    return str(value)


def json_safe_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every value of every row through :func:`json_safe`."""
    return [{k: json_safe(v) for k, v in row.items()} for row in rows]
