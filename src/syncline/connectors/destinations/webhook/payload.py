"""What the webhook destination sends: JSON-safe records, the request body, its headers.

Arrow values become JSON-native values once, before any template sees them, so a template's
``tojson`` and the default body agree: timestamps and dates as ISO 8601, decimals as strings
(no float rounding), bytes as base64, maps as objects, non-finite floats as strings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

import pyarrow as pa
from jinja2 import Template, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from syncline.connectors.base import DestinationError

#: The variables a ``payload_template`` can use (documented in docs/destinations/webhook.md).
TEMPLATE_VARIABLES = (
    "records",
    "idempotency_keys",
    "operation",
    "sync_id",
    "run_id",
    "batch_seq",
    "request_index",
    "key_field",
)


def _duration(value: timedelta) -> str:
    """ISO 8601 duration in seconds (``PT90.5S``), the one form every parser reads."""
    seconds = value / timedelta(seconds=1)
    return f"PT{seconds:g}S" if seconds >= 0 else f"-PT{-seconds:g}S"


def jsonable(value: Any) -> Any:
    """One Arrow-produced Python value as a JSON-native value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, timedelta):
        return _duration(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): jsonable(v) for k, v in value}  # an Arrow map's (key, value) pairs
        return [jsonable(v) for v in value]
    return str(value)


def records_of(table: pa.Table, *, skip_nulls: bool) -> list[dict[str, Any]]:
    """The rows as JSON-native dicts; with ``skip_nulls`` a NULL field is left out entirely.

    Leaving the field out is how JSON APIs say "do not touch" (PATCH semantics).
    """
    rows = table.to_pylist()
    if skip_nulls:
        return [{k: jsonable(v) for k, v in row.items() if v is not None} for row in rows]
    return [{k: jsonable(v) for k, v in row.items()} for row in rows]


@lru_cache(maxsize=32)
def compile_template(source: str) -> Template:
    """The template in a sandbox that also forbids changing any object (lists, dicts...).

    Raises:
        ValueError: the template does not parse.
    """
    env = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)
    try:
        return env.from_string(source)
    except TemplateError as exc:
        raise ValueError(f"payload_template does not parse: {exc}") from exc


def render_body(template: str | None, variables: dict[str, Any]) -> bytes:
    """The request body: the default JSON object, or the template's output (must be JSON).

    Raises:
        DestinationError: the template reached for something the sandbox forbids, failed, or
            did not produce JSON. Not retryable: it is a configuration problem.
    """
    if template is None:
        body = {
            "operation": variables["operation"],
            "sync_id": variables["sync_id"],
            "run_id": variables["run_id"],
            "batch_seq": variables["batch_seq"],
            "records": variables["records"],
            "idempotency_keys": variables["idempotency_keys"],
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    try:
        text = compile_template(template).render(**variables)
    except SecurityError as exc:
        raise DestinationError(
            f"payload_template is not allowed to do that (sandboxed template): {exc}"
        ) from exc
    except (TemplateError, ValueError, TypeError, ArithmeticError) as exc:
        raise DestinationError(f"payload_template failed: {exc}") from exc
    try:
        json.loads(text)
    except ValueError as exc:
        snippet = text[:200].replace("\n", " ")
        raise DestinationError(
            f"payload_template did not produce JSON ({exc}); it rendered: {snippet}"
        ) from exc
    return text.encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact body bytes (as GitHub signs webhooks)."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sample_variables() -> dict[str, Any]:
    """Variables to try a template with when the config is validated."""
    return {
        "records": [{"id": 1, "email": "a@example.com"}],
        "idempotency_keys": ["0" * 32],
        "operation": "upsert",
        "sync_id": "sync",
        "run_id": "run",
        "batch_seq": 1,
        "request_index": 0,
        "key_field": "id",
    }
