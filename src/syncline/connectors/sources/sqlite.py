"""SQLite source: a database file, opened read-only, streamed with ``fetchmany``.

SQLite columns have no fixed type, only a declared one. A model's column types come from the
declared types of the columns it selects (read off a temporary view of the model); a computed
column with no declared type takes the type of the first values of a small sample. Values are
then coerced to that type batch by batch, so every batch has the same schema.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, ClassVar, Self

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from syncline.connectors.base import CheckResult, Column, SourceError
from syncline.connectors.sources._common import (
    Converter,
    OpenConnections,
    as_text,
    batch_from_rows,
    check_batch_rows,
    columns_from_schema,
    limit_zero,
    strip_sql,
)

__all__ = ["SQLiteConfig", "SQLiteSource"]

_SAMPLE_ROWS = 100
_DECIMAL = re.compile(r"(?:DEC|NUM)\w*\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")


class SQLiteConfig(BaseModel):
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


class SQLiteSource:
    """Reads models from a SQLite database file."""

    config_model: ClassVar[type[BaseModel]] = SQLiteConfig

    def __init__(self, config: SQLiteConfig) -> None:
        self.config = config
        self._label = f"SQLite {config.path}"
        self._conns: OpenConnections[sqlite3.Connection] = OpenConnections(lambda c: c.close())

    def _connect(self) -> sqlite3.Connection:
        """A new read-only connection (one per call: sqlite3 connections stay in their thread).

        Raises:
            SourceError: the file is missing or is not a database that can be opened.
        """
        path = Path(self.config.path).expanduser()
        if not path.is_file():
            raise SourceError(f"{self._label}: the database file does not exist")
        try:
            conn = sqlite3.connect(
                f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=10, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise SourceError(f"{self._label}: cannot open: {exc}", retryable=True) from exc
        return self._conns.add(conn)

    def _release(self, conn: sqlite3.Connection) -> None:
        self._conns.release(conn)

    def _error(self, exc: sqlite3.Error) -> SourceError:
        # A locked database is the one failure that goes away by waiting.
        retryable = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
        return SourceError(f"{self._label}: {exc}", retryable=retryable)

    def check(self) -> CheckResult:
        """Open the file and run ``SELECT 1`` against it; never raises."""
        try:
            conn = self._connect()
            try:
                # Reading the schema is what fails on a file that is not a database.
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                row = conn.execute("SELECT 1").fetchone()
            finally:
                self._release(conn)
        except SourceError as exc:
            return CheckResult(ok=False, message=str(exc))
        except sqlite3.Error as exc:
            return CheckResult(ok=False, message=str(self._error(exc)))
        if row != (1,):
            return CheckResult(ok=False, message=f"{self._label}: SELECT 1 returned {row!r}")
        return CheckResult(ok=True, message=f"opened {self._label}")

    def columns(self, sql: str) -> list[Column]:
        """The model's columns: declared types, or sampled ones for computed columns.

        Raises:
            SourceError: the file cannot be opened or the SQL is invalid.
        """
        return columns_from_schema(self.schema(sql))

    def schema(self, sql: str) -> pa.Schema:
        """The Arrow schema ``read(sql)`` yields.

        Raises:
            SourceError: the file cannot be opened or the SQL is invalid.
        """
        conn = self._connect()
        try:
            return self._schema(conn, strip_sql(sql))
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            self._release(conn)

    @staticmethod
    def _schema(conn: sqlite3.Connection, sql: str) -> pa.Schema:
        names = [d[0] for d in conn.execute(limit_zero(sql)).description or []]
        # A temporary view lives in the connection's temp schema, writable even read-only.
        conn.execute(f"CREATE TEMP VIEW syncline_model AS {sql}")
        try:
            decls = [row[2] for row in conn.execute("PRAGMA temp.table_info(syncline_model)")]
        finally:
            conn.execute("DROP VIEW temp.syncline_model")
        types: list[pa.DataType | None] = [_declared_type(d or "") for d in decls]
        if any(t is None for t in types):
            sample = conn.execute(
                f"SELECT * FROM (\n{sql}\n) AS syncline_q LIMIT {_SAMPLE_ROWS}"
            ).fetchall()
            columns = list(zip(*sample, strict=True)) if sample else [() for _ in types]
            types = [t or _sampled_type(list(v)) for t, v in zip(types, columns, strict=True)]
        return pa.schema(list(zip(names, types, strict=True)))

    def read(self, sql: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Stream the model as record batches of ``batch_rows`` rows (the last may be shorter).

        An empty result yields no batch at all.

        Raises:
            SourceError: the file cannot be opened, the query fails, or a value cannot be
                coerced to its column's type.
        """
        check_batch_rows(batch_rows)
        text = strip_sql(sql)
        conn = self._connect()
        try:
            schema = self._schema(conn, text)
            converters = [_converter(f.type) for f in schema]
            cur = conn.execute(text)
            while rows := cur.fetchmany(batch_rows):
                yield batch_from_rows(rows, schema, converters, source=self._label)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        finally:
            self._release(conn)

    def close(self) -> None:
        """Close every connection still open (a read abandoned by its consumer, for one)."""
        self._conns.close_all()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
