"""MySQL / MariaDB source: streams a model through an unbuffered cursor, one batch per fetch.

PyMySQL's ``SSCursor`` reads rows off the socket as they are fetched instead of buffering the
whole result, so memory stays bounded by ``batch_rows``. Each read has its own connection,
in a read-only session in UTC.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar, Self

import pyarrow as pa
import pymysql
import pymysql.cursors
from pydantic import BaseModel, ConfigDict, Field
from pymysql.constants import FIELD_TYPE

from syncline.connectors.base import CheckResult, Column, SourceError
from syncline.connectors.sources._common import (
    Converter,
    OpenConnections,
    batch_from_rows,
    check_batch_rows,
    columns_from_schema,
    default_converter,
    limit_zero,
    strip_sql,
)

__all__ = ["MySQLConfig", "MySQLSource"]

_UNSIGNED = 32  # column flag
_BINARY_CHARSET = 63
# Signed and unsigned Arrow types of the integer column types.
_INTS: dict[int, tuple[pa.DataType, pa.DataType]] = {
    FIELD_TYPE.TINY: (pa.int8(), pa.int16()),
    FIELD_TYPE.SHORT: (pa.int16(), pa.int32()),
    FIELD_TYPE.INT24: (pa.int32(), pa.int32()),
    FIELD_TYPE.LONG: (pa.int32(), pa.int64()),
    FIELD_TYPE.LONGLONG: (pa.int64(), pa.uint64()),
    FIELD_TYPE.YEAR: (pa.int16(), pa.int16()),
}
_FIXED: dict[int, pa.DataType] = {
    FIELD_TYPE.FLOAT: pa.float32(),
    FIELD_TYPE.DOUBLE: pa.float64(),
    FIELD_TYPE.DATE: pa.date32(),
    FIELD_TYPE.NEWDATE: pa.date32(),
    FIELD_TYPE.DATETIME: pa.timestamp("us"),
    # TIMESTAMP is stored in UTC; the session's time zone is UTC, so values come back in UTC.
    FIELD_TYPE.TIMESTAMP: pa.timestamp("us", tz="UTC"),
    FIELD_TYPE.TIME: pa.duration("us"),
    FIELD_TYPE.BIT: pa.binary(),
    FIELD_TYPE.GEOMETRY: pa.binary(),
    FIELD_TYPE.JSON: pa.string(),
}
_RETRYABLE_CODES = {1040, 1053, 1205, 1213}  # too many connections, shutdown, lock wait, deadlock


class MySQLConfig(BaseModel):
    """Connection settings of a MySQL or MariaDB server."""

    # Validation errors must not echo the config: it holds a password or DSN.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    host: str
    port: int = Field(default=3306, ge=1, le=65535)
    user: str
    password: str = ""
    database: str
    connect_timeout: int = Field(default=10, ge=1, description="Seconds to wait to connect.")


def _arrow_type(field: Any) -> pa.DataType:
    """The Arrow type of a result column, from its protocol type, flags and charset."""
    code = field.type_code
    unsigned = bool(field.flags & _UNSIGNED)
    if code == FIELD_TYPE.TINY and field.length == 1:
        return pa.bool_()  # TINYINT(1), what BOOLEAN is
    if code in _INTS:
        return _INTS[code][unsigned]
    if code in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        scale = int(field.scale)
        precision = int(field.length) - (0 if unsigned else 1) - (1 if scale else 0)
        precision = max(precision, scale, 1)
        return (
            pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(precision, scale)
        )
    if code in _FIXED:
        return _FIXED[code]
    if field.charsetnr == _BINARY_CHARSET and code != FIELD_TYPE.NULL:
        return pa.binary()  # BLOB, BINARY, VARBINARY
    return pa.string()  # text types, ENUM, SET, NULL


def _no_zero_date(value: Any) -> Any:
    # PyMySQL returns '0000-00-00' style "zero dates" as strings: there is no such date.
    return None if isinstance(value, str) else value


def _converter(type_: pa.DataType) -> Converter | None:
    if pa.types.is_boolean(type_):
        return bool
    if pa.types.is_date(type_) or pa.types.is_timestamp(type_):
        return _no_zero_date
    return default_converter(type_)


def _abandon(conn: pymysql.Connection[Any]) -> None:
    """Close a connection without reading what is left of an unbuffered result.

    PyMySQL would otherwise drain the rest of the result (possibly millions of rows) when the
    cursor or the result is closed or garbage-collected.
    """
    result = getattr(conn, "_result", None)
    if result is not None:
        result.unbuffered_active = False
    with contextlib.suppress(pymysql.Error, OSError):
        conn.close()


class MySQLSource:
    """Reads models from MySQL or MariaDB."""

    config_model: ClassVar[type[BaseModel]] = MySQLConfig

    def __init__(self, config: MySQLConfig) -> None:
        self.config = config
        self._label = f"MySQL {config.host}:{config.port}/{config.database}"
        self._conns: OpenConnections[pymysql.Connection[Any]] = OpenConnections(_abandon)

    def _connect(self) -> pymysql.Connection[Any]:
        """A new unbuffered connection: read-only, UTC, and patient with slow consumers.

        Raises:
            SourceError: the server cannot be reached or refused the login.
        """
        cfg = self.config
        try:
            conn = pymysql.connect(
                host=cfg.host,
                port=cfg.port,
                user=cfg.user,
                password=cfg.password,
                database=cfg.database,
                connect_timeout=cfg.connect_timeout,
                charset="utf8mb4",
                cursorclass=pymysql.cursors.SSCursor,
                init_command="SET SESSION time_zone = '+00:00', "
                # A slow consumer must not make the server drop a half-read result.
                "SESSION net_write_timeout = 3600",
            )
        except pymysql.Error as exc:
            raise self._error(exc, connecting=True) from exc
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION TRANSACTION READ ONLY")
        except pymysql.Error as exc:
            conn.close()
            raise self._error(exc, connecting=True) from exc
        return self._conns.add(conn)

    def _release(self, conn: pymysql.Connection[Any]) -> None:
        self._conns.release(conn)

    def _error(self, exc: pymysql.Error, *, connecting: bool = False) -> SourceError:
        """A SourceError carrying the server's message; connection-level failures retry."""
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = exc.args[1] if len(exc.args) > 1 else str(exc)
        retryable = code is not None and (code >= 2000 or code in _RETRYABLE_CODES)
        what = "cannot connect: " if connecting else ""
        prefix = f"({code}) " if code is not None else ""
        return SourceError(f"{self._label}: {what}{prefix}{text}", retryable=retryable)

    def check(self) -> CheckResult:
        """Connect and run ``SELECT 1``; never raises."""
        try:
            conn = self._connect()
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                    row = cur.fetchone()
            finally:
                self._release(conn)
        except SourceError as exc:
            return CheckResult(ok=False, message=str(exc))
        except pymysql.Error as exc:
            return CheckResult(ok=False, message=str(self._error(exc)))
        if row != (1,):
            return CheckResult(ok=False, message=f"{self._label}: SELECT 1 returned {row!r}")
        return CheckResult(ok=True, message=f"connected to {self._label}")

    def columns(self, sql: str) -> list[Column]:
        """The model's columns, from the result metadata of the SQL wrapped in ``LIMIT 0``.

        Raises:
            SourceError: the server is unreachable or the SQL is invalid.
        """
        return columns_from_schema(self.schema(sql))

    def schema(self, sql: str) -> pa.Schema:
        """The Arrow schema ``read(sql)`` yields.

        Raises:
            SourceError: the server is unreachable or the SQL is invalid.
        """
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                cur.execute(limit_zero(sql))
                return self._schema_of(cur)
        except pymysql.Error as exc:
            raise self._error(exc) from exc
        finally:
            self._release(conn)

    @staticmethod
    def _schema_of(cur: pymysql.cursors.Cursor) -> pa.Schema:
        # The result is the only place PyMySQL keeps column flags and charsets.
        result = getattr(cur, "_result", None)
        fields = result.fields if result is not None and result.fields else []
        return pa.schema([(f.name, _arrow_type(f)) for f in fields])

    def read(self, sql: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Stream the model as record batches of ``batch_rows`` rows (the last may be shorter).

        An empty result yields no batch at all.

        Raises:
            SourceError: the server is unreachable or the query fails, even mid-stream.
        """
        check_batch_rows(batch_rows)
        text = strip_sql(sql)
        conn = self._connect()
        try:
            cur = conn.cursor()
            cur.execute(text)
            schema = self._schema_of(cur)
            converters = [_converter(f.type) for f in schema]
            while rows := cur.fetchmany(batch_rows):
                yield batch_from_rows(rows, schema, converters, source=self._label)
        except pymysql.Error as exc:
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
