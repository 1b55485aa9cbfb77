"""SQLite source: a database file, opened read-only, streamed with ``fetchmany``.

SQLite columns have no fixed type, only a declared one. A model's column types come from the
declared types of the columns it selects (read off a temporary view of the model); a computed
column with no declared type takes the type of the first values of a small sample. Values are
then coerced to that type batch by batch, so every batch has the same schema.

A model cannot write: the file is opened ``mode=ro`` with ``PRAGMA query_only``, the SQL guard
admits one SELECT (and Python's sqlite3 runs one statement per call), and an authorizer lets
a model statement do nothing but read tables and call functions off a deny list. A progress
handler stops a statement that runs past its timeout.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import sqlite3
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from syncline.connectors.base import CheckResult, SourceError
from syncline.connectors.sources._common import (
    Converter,
    QueryTimeouts,
    as_text,
    batch_from_rows,
    limit_zero,
)
from syncline.connectors.sources._dbapi import DbApiSource
from syncline.connectors.sources._sqlguard import check_select, denied_functions

__all__ = ["SQLiteConfig", "SQLiteSource"]

_SAMPLE_ROWS = 100
_PROGRESS_STEPS = 1000  # virtual machine instructions between two looks at the clock
_READS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE}
_DENIED = denied_functions("sqlite")
_DECIMAL = re.compile(r"(?:DEC|NUM)\w*\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")


class SQLiteConfig(QueryTimeouts):
    """The SQLite database file; it is always opened read-only."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, description="Path of the SQLite database file.")


def _declared_type(decl: str) -> pa.DataType | None:
    """The Arrow type of a declared column type, after SQLite's own affinity rules."""
    d = decl.upper()
    if not d:
        return None
    if "BOOL" in d:
        return pa.bool_()
    if "INT" in d:
        return pa.int64()
    if d.startswith("DATETIME") or d.startswith("TIMESTAMP"):
        aware = "TZ" in d or "TIME ZONE" in d
        return pa.timestamp("us", tz="UTC" if aware else None)
    if d == "DATE":
        return pa.date32()
    if any(t in d for t in ("CHAR", "CLOB", "TEXT")):
        return pa.string()
    if "BLOB" in d:
        return pa.binary()
    if any(t in d for t in ("REAL", "FLOA", "DOUB")):
        return pa.float64()
    if m := _DECIMAL.match(d):
        precision, scale = int(m.group(1)), int(m.group(2) or 0)
        if 0 < precision <= 38 and scale <= precision:
            return pa.decimal128(precision, scale)
    return pa.float64()  # NUMERIC affinity: integers and reals


def _sampled_type(values: list[Any]) -> pa.DataType:
    """The Arrow type of an undeclared (computed) column, from the values it first holds."""
    kinds = {type(v) for v in values if v is not None}
    if kinds == {int}:
        return pa.int64()
    if kinds and kinds <= {int, float}:
        return pa.float64()
    if kinds == {bytes}:
        return pa.binary()
    return pa.string()


def _to_int(v: Any) -> int:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v if isinstance(v, int) else int(v)


def _to_bool(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "t", "yes", "y")
    return bool(v)


def _to_date(v: Any) -> dt.date:
    if isinstance(v, str):
        return dt.datetime.fromisoformat(v).date() if len(v) > 10 else dt.date.fromisoformat(v)
    raise ValueError(f"not a date: {v!r}")


def _to_datetime(v: Any) -> dt.datetime:
    if isinstance(v, str):
        return dt.datetime.fromisoformat(v)
    if isinstance(v, int | float):  # Unix time, as SQLite's unixepoch() gives it
        return dt.datetime.fromtimestamp(v, dt.UTC)
    raise ValueError(f"not a timestamp: {v!r}")


def _to_decimal(scale: int) -> Converter:
    quantum = Decimal(1).scaleb(-scale)

    def convert(v: Any) -> Decimal:
        # repr() of a float is its shortest exact-looking form: 1.1, not 1.100000000000000088...
        exact = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
        return exact.quantize(quantum, rounding=ROUND_HALF_EVEN)

    return convert


def _to_binary(v: Any) -> bytes:
    return v.encode() if isinstance(v, str) else bytes(v)


def _converter(type_: pa.DataType) -> Converter | None:
    """Coerces SQLite's loosely typed values to the column's Arrow type."""
    if pa.types.is_boolean(type_):
        return _to_bool
    if pa.types.is_integer(type_):
        return _to_int
    if pa.types.is_floating(type_):
        return float
    if pa.types.is_decimal(type_):
        return _to_decimal(type_.scale)
    if pa.types.is_date(type_):
        return _to_date
    if pa.types.is_timestamp(type_):
        return _to_datetime
    if pa.types.is_binary(type_):
        return _to_binary
    return as_text


class _GuardedConnection(sqlite3.Connection):
    """A connection that knows its statement deadline and whether Syncline itself is talking.

    ``internal`` is true only around Syncline's own statements (the temporary view that reads
    declared types); every other statement passes the authorizer as a read or not at all.
    """

    internal = False
    timeout = 0.0
    deadline = math.inf

    def arm(self) -> None:
        """Start the clock of the next statement (or fetch)."""
        self.deadline = time.monotonic() + self.timeout if self.timeout > 0 else math.inf

    def authorize(self, action: int, arg1: str | None, arg2: str | None, *_: str | None) -> int:
        if self.internal or action in _READS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in _DENIED:
            return sqlite3.SQLITE_OK
        return sqlite3.SQLITE_DENY

    def past_deadline(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0


class SQLiteSource(DbApiSource[_GuardedConnection, SQLiteConfig]):
    """Reads models from a SQLite database file."""

    config_model: ClassVar[type[BaseModel]] = SQLiteConfig
    dialect: ClassVar[str] = "sqlite"
    driver_error: ClassVar[type[Exception]] = sqlite3.Error

    def __init__(self, config: SQLiteConfig) -> None:
        super().__init__(config, f"SQLite {config.path}", lambda c: c.close())

    def _open(self, timeout: float) -> _GuardedConnection:
        """A new read-only connection (one per call: sqlite3 connections stay in their thread).

        Raises:
            SourceError: the file is missing or is not a database that can be opened.
        """
        path = Path(self.config.path).expanduser()
        if not path.is_file():
            raise SourceError(f"{self._label}: the database file does not exist")
        try:
            conn = sqlite3.connect(
                f"{path.absolute().as_uri()}?mode=ro",
                uri=True,
                timeout=10,
                check_same_thread=False,
                factory=_GuardedConnection,
            )
        except sqlite3.Error as exc:
            raise SourceError(f"{self._label}: cannot open: {exc}", retryable=True) from exc
        assert isinstance(conn, _GuardedConnection)
        try:
            conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise SourceError(f"{self._label}: cannot open: {exc}") from exc
        conn.timeout = timeout
        conn.set_authorizer(conn.authorize)
        conn.set_progress_handler(conn.past_deadline, _PROGRESS_STEPS)
        return conn

    def _ping(self, conn: _GuardedConnection) -> Any:
        conn.arm()
        # Reading the schema is what fails on a file that is not a database.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn.execute("SELECT 1").fetchone()

    def check(self) -> CheckResult:
        """Open the file and run ``SELECT 1`` against it; never raises."""
        result = super().check()
        if result.ok:
            return CheckResult(ok=True, message=f"opened {self._label}")
        return result

    def _error(self, exc: Exception) -> SourceError:
        # A locked database is the one failure that goes away by waiting.
        retryable = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
        text = str(exc)
        if text == "interrupted":
            text = "the statement was stopped: it ran past the source's statement timeout"
        elif text == "not authorized":
            text = "not authorized: a model may only read (the statement was refused)"
        return SourceError(f"{self._label}: {text}", retryable=retryable)

    def _schema_on(self, conn: _GuardedConnection, sql: str) -> pa.Schema:
        conn.arm()
        names = [d[0] for d in conn.execute(_wrapped(limit_zero(sql))).description or []]
        types = self._declared_types(conn, sql)
        if any(t is None for t in types):
            sample = conn.execute(
                _wrapped(f"SELECT * FROM (\n{sql}\n) AS syncline_q LIMIT {_SAMPLE_ROWS}")
            ).fetchall()
            columns = list(zip(*sample, strict=True)) if sample else [() for _ in types]
            types = [t or _sampled_type(list(v)) for t, v in zip(types, columns, strict=True)]
        return pa.schema(list(zip(names, types, strict=True)))

    @staticmethod
    def _declared_types(conn: _GuardedConnection, sql: str) -> list[pa.DataType | None]:
        """Declared column types, off a temporary view of the (guarded) model SQL."""
        conn.internal = True
        try:
            # The view lives in the connection's temp schema, writable even read-only.
            conn.execute("PRAGMA query_only = OFF")
            conn.execute(f"CREATE TEMP VIEW syncline_model AS {sql}")
            try:
                decls = [row[2] for row in conn.execute("PRAGMA temp.table_info(syncline_model)")]
            finally:
                conn.execute("DROP VIEW temp.syncline_model")
                conn.execute("PRAGMA query_only = ON")
        finally:
            conn.internal = False
        return [_declared_type(d or "") for d in decls]

    def _batches(
        self, conn: _GuardedConnection, sql: str, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        schema = self._schema_on(conn, sql)
        converters = [_converter(f.type) for f in schema]
        conn.arm()
        cur = conn.execute(sql)
        while True:
            conn.arm()
            rows = cur.fetchmany(batch_rows)
            if not rows:
                return
            yield batch_from_rows(rows, schema, converters, source=self._label)


def _wrapped(sql: str) -> str:
    """Syncline's SELECT around the model, checked again: still one read-only statement."""
    return check_select(sql, dialect="sqlite")
