"""Helpers shared by the SQL sources: wrapping model SQL and building Arrow batches from rows.

The DB-API sources (PostgreSQL, MySQL, SQLite) receive rows as tuples from their drivers. They
turn each chunk of at most ``batch_rows`` rows into one Arrow record batch column by column,
with the type fixed once by ``columns()``, so the schema never drifts between batches and no
more than one chunk of Python objects is alive at a time.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import pyarrow as pa
from pydantic import BaseModel, Field

from syncline.connectors.base import Column, SourceError
from syncline.connectors.sources._sqlguard import strip_sql

C = TypeVar("C")

__all__ = [
    "Converter",
    "OpenConnections",
    "QueryTimeouts",
    "as_text",
    "batch_from_rows",
    "check_batch_rows",
    "columns_from_schema",
    "default_converter",
    "limit_zero",
    "strip_sql",
]

RUN_TIMEOUT_SECONDS = 300.0
PREVIEW_TIMEOUT_SECONDS = 30.0


class QueryTimeouts(BaseModel):
    """How long one statement of a model may run on the source, in seconds.

    Runs and dry runs use ``statement_timeout_seconds``; previews, column discovery and
    connection checks, which a user waits for in the browser, use the shorter
    ``preview_timeout_seconds``. A statement past its limit is cancelled by the database.
    """

    statement_timeout_seconds: float = Field(
        default=RUN_TIMEOUT_SECONDS,
        ge=0,
        description="Longest a statement of a run may take, in seconds (0: no limit). "
        "A streaming read (MySQL, PostgreSQL binary COPY) is one statement.",
    )
    preview_timeout_seconds: float = Field(
        default=PREVIEW_TIMEOUT_SECONDS,
        gt=0,
        description="Longest a preview, column discovery or check may take, in seconds.",
    )


Converter = Callable[[Any], Any]
"""Turns one driver value into something ``pa.array`` accepts for the column's type."""


def limit_zero(sql: str) -> str:
    """A query with the model's columns and no rows: the database plans it but reads nothing."""
    return f"SELECT * FROM (\n{strip_sql(sql)}\n) AS syncline_q LIMIT 0"


def check_batch_rows(batch_rows: int) -> None:
    """Reject a batch size that would loop forever or make no sense.

    Raises:
        ValueError: ``batch_rows`` is not a positive integer.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")


def columns_from_schema(schema: pa.Schema) -> list[Column]:
    """The model's columns as the control plane shows them: name and Arrow type string."""
    return [Column(name=f.name, type=str(f.type), nullable=f.nullable) for f in schema]


def default_converter(type_: pa.DataType) -> Converter | None:
    """A per-value fix-up some Arrow types need from DB-API values, or None when none is.

    Timestamps need none: pyarrow converts aware datetimes to UTC and reads naive ones as UTC.
    """
    if pa.types.is_string(type_) or pa.types.is_large_string(type_):
        return as_text
    return None


def as_text(value: Any) -> Any:
    """Any value as text, for columns carried as strings (JSON, UUID, arrays, enums...)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


def batch_from_rows(
    rows: Sequence[Sequence[Any]],
    schema: pa.Schema,
    converters: Sequence[Converter | None] | None = None,
    *,
    source: str = "source",
) -> pa.RecordBatch:
    """One record batch from a chunk of row tuples, built column by column.

    Args:
        rows: the chunk, as the driver returned it (tuples of Python values).
        schema: the batch schema, from ``columns()``; every batch of a read uses the same one.
        converters: an optional per-column function applied to each non-null value first.
        source: the source's label, for error messages.

    Raises:
        SourceError: a value does not fit the column's type (e.g. a column whose values do not
            match the type the database declared).
    """
    if converters is None:
        converters = [default_converter(f.type) for f in schema]
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    arrays = []
    for values, field, convert in zip(columns, schema, converters, strict=True):
        try:
            if convert is not None:
                values = tuple(None if v is None else convert(v) for v in values)
            arrays.append(pa.array(values, type=field.type, from_pandas=False))
        except (pa.ArrowException, TypeError, ValueError, ArithmeticError) as exc:
            raise SourceError(
                f"{source}: column {field.name!r}: a value does not fit type {field.type}: {exc}"
            ) from exc
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class OpenConnections(Generic[C]):
    """The connections a source has open, so ``close()`` can end reads a consumer abandoned.

    Each read opens its own connection (reads may interleave); this is the one place that
    remembers them, thread-safely.
    """

    def __init__(self, closer: Callable[[C], None]) -> None:
        self._closer = closer
        self._open: list[C] = []
        self._lock = threading.Lock()

    def add(self, conn: C) -> C:
        with self._lock:
            self._open.append(conn)
        return conn

    def each(self) -> list[C]:
        """The connections open now (a copy: they may be released meanwhile)."""
        with self._lock:
            return list(self._open)

    def release(self, conn: C) -> None:
        """Forget and close one connection (its read finished or failed)."""
        with self._lock:
            self._open = [c for c in self._open if c is not conn]
        self._closer(conn)

    def close_all(self) -> None:
        """Close every connection still open."""
        with self._lock:
            conns, self._open = self._open, []
        for conn in conns:
            self._closer(conn)
