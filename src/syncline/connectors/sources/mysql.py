"""MySQL / MariaDB source: streams a model through an unbuffered cursor, one batch per fetch.

PyMySQL's ``SSCursor`` reads rows off the socket as they are fetched instead of buffering the
whole result, so memory stays bounded by ``batch_rows``. Each read has its own connection
in UTC. A model passes the SQL guard, runs without the multi-statement capability (the
server refuses a second statement), inside ``START TRANSACTION READ ONLY``, under
``max_execution_time`` (MySQL) or ``max_statement_time`` (MariaDB).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import pyarrow as pa
import pymysql
import pymysql.cursors
from pydantic import BaseModel, ConfigDict, Field
from pymysql.constants import FIELD_TYPE

from syncline.connectors._netguard import GuardedHost, guarded_addresses
from syncline.connectors.base import ConnectorError, SourceError
from syncline.connectors.sources._common import (
    Converter,
    QueryTimeouts,
    batch_from_rows,
    default_converter,
    limit_zero,
)
from syncline.connectors.sources._dbapi import DbApiSource
from syncline.connectors.sources._sqlguard import check_select
from syncline.domain.secrets import Secret

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


class MySQLConfig(QueryTimeouts):
    """Connection settings of a MySQL or MariaDB server."""

    # Validation errors must not echo the config: it holds a password or DSN.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    host: GuardedHost
    port: int = Field(default=3306, ge=1, le=65535)
    user: str
    password: Secret = ""
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


class MySQLSource(DbApiSource["pymysql.Connection[Any]", MySQLConfig]):
    """Reads models from MySQL or MariaDB."""

    config_model: ClassVar[type[BaseModel]] = MySQLConfig
    dialect: ClassVar[str] = "mysql"
    driver_error: ClassVar[type[Exception]] = pymysql.Error

    def __init__(self, config: MySQLConfig) -> None:
        super().__init__(config, f"MySQL {config.host}:{config.port}/{config.database}", _abandon)

    def _cancel(self, conn: pymysql.Connection[Any]) -> None:
        """``KILL QUERY`` the statement of ``conn``, from a connection of its own."""
        killer = self._open(self.config.preview_timeout_seconds)
        try:
            with killer.cursor() as cur:
                cur.execute("KILL QUERY %s", (conn.thread_id(),))  # type: ignore[no-untyped-call]
        finally:
            killer.close()

    def _open(self, timeout: float) -> pymysql.Connection[Any]:
        """A new unbuffered connection: UTC, a statement timeout, patient with slow consumers.

        Raises:
            SourceError: the server cannot be reached or refused the login.
        """
        cfg = self.config
        try:
            [address, *_] = guarded_addresses(cfg.host, what="MySQL")
        except ConnectorError as exc:
            raise SourceError(f"{self._label}: {exc}", retryable=exc.retryable) from exc
        try:
            conn = pymysql.connect(
                host=address,
                port=cfg.port,
                user=cfg.user,
                password=cfg.password,
                database=cfg.database,
                connect_timeout=cfg.connect_timeout,
                charset="utf8mb4",
                cursorclass=pymysql.cursors.SSCursor,
                # No CLIENT.MULTI_STATEMENTS: the server runs one statement per query.
                client_flag=0,
                init_command="SET SESSION time_zone = '+00:00', "
                # A slow consumer must not make the server drop a half-read result.
                "SESSION net_write_timeout = 3600",
            )
        except pymysql.Error as exc:
            raise self._error(exc, connecting=True) from exc
        try:
            with conn.cursor() as cur:
                cur.execute("SET SESSION TRANSACTION READ ONLY")
                if "mariadb" in str(conn.get_server_info()).lower():  # type: ignore[no-untyped-call]
                    cur.execute(f"SET SESSION max_statement_time = {float(timeout)}")
                else:
                    cur.execute(f"SET SESSION max_execution_time = {round(timeout * 1000)}")
        except pymysql.Error as exc:
            conn.close()
            raise self._error(exc, connecting=True) from exc
        return conn

    def _error(self, exc: Exception, *, connecting: bool = False) -> SourceError:
        """A SourceError carrying the server's message; connection-level failures retry."""
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        text = exc.args[1] if len(exc.args) > 1 else str(exc)
        retryable = code is not None and (code >= 2000 or code in _RETRYABLE_CODES)
        what = "cannot connect: " if connecting else ""
        prefix = f"({code}) " if code is not None else ""
        return SourceError(f"{self._label}: {what}{prefix}{text}", retryable=retryable)

    def _schema_on(self, conn: pymysql.Connection[Any], sql: str) -> pa.Schema:
        """The schema from the result metadata of the SQL wrapped in ``LIMIT 0``."""
        wrapped = check_select(limit_zero(sql), dialect=self.dialect)
        with conn.cursor() as cur:
            cur.execute("START TRANSACTION READ ONLY")
            cur.execute(wrapped)
            return self._schema_of(cur)

    @staticmethod
    def _schema_of(cur: pymysql.cursors.Cursor) -> pa.Schema:
        # The result is the only place PyMySQL keeps column flags and charsets.
        result = getattr(cur, "_result", None)
        fields = result.fields if result is not None and result.fields else []
        return pa.schema([(f.name, _arrow_type(f)) for f in fields])

    def _batches(
        self, conn: pymysql.Connection[Any], sql: str, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        cur = conn.cursor()
        cur.execute("START TRANSACTION READ ONLY")
        cur.execute(sql)
        schema = self._schema_of(cur)
        converters = [_converter(f.type) for f in schema]
        while rows := cur.fetchmany(batch_rows):
            yield batch_from_rows(rows, schema, converters, source=self._label)
