"""PostgreSQL source: streams a model as Arrow, through ADBC's binary COPY or a server cursor.

Column types come from psycopg's description of the model wrapped in ``LIMIT 0``. A model
whose columns all have common types is then streamed by the ADBC driver (binary COPY decoded
to Arrow in C, see ``_pg_adbc``); any other goes through a named (server-side) cursor whose
``FETCH`` brings at most ``batch_rows`` rows, built into one Arrow batch. Either way the
result stays on the server until fetched, so a 10-million-row model never sits in client
memory. Each read has its own connection in a read-only session: models can be read from
several threads, and a model's SQL cannot change the warehouse.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal, Self

import psycopg
import pyarrow as pa
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.string import TextLoader
from pydantic import BaseModel, ConfigDict, Field, model_validator

from syncline.connectors.base import CheckResult, Column, SourceError
from syncline.connectors.sources import _pg_adbc
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

__all__ = ["PostgresConfig", "PostgresSource"]

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

# Built-in type OIDs with a natural Arrow type; every other type is carried as text.
_OID_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    17: pa.binary(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    26: pa.int64(),  # oid
    700: pa.float32(),
    701: pa.float64(),
    1082: pa.date32(),
    1083: pa.time64("us"),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}
_NUMERIC = 1700
# Types loaded as their exact server text rather than Python objects (dicts, UUIDs, ...).
_AS_TEXT = ("json", "jsonb", "uuid", "interval", "money", "timetz", "inet", "cidr")


class PostgresConfig(BaseModel):
    """Either a libpq ``dsn`` (URL or key=value) or the host/user/database fields."""

    # Validation errors must not echo the config: it holds a password or DSN.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    dsn: str | None = Field(default=None, description="libpq connection string or URL.")
    host: str | None = None
    port: int = Field(default=5432, ge=1, le=65535)
    user: str | None = None
    password: str | None = None
    database: str | None = None
    sslmode: SslMode | None = None
    connect_timeout: int = Field(default=10, ge=1, description="Seconds to wait to connect.")

    @model_validator(mode="after")
    def _one_way_to_connect(self) -> Self:
        if self.dsn is not None:
            if self.host or self.user or self.password or self.database or self.sslmode:
                raise ValueError("give either dsn or host/user/password/database, not both")
            try:
                conninfo_to_dict(self.dsn)
            except psycopg.Error:
                # The message would echo the DSN, password included.
                raise ValueError("dsn is not a valid libpq connection string") from None
        elif not (self.host and self.user and self.database):
            raise ValueError("give dsn, or host, user and database")
        return self

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``psycopg.connect`` (the DSN, if any, goes positionally)."""
        kwargs: dict[str, Any] = {"connect_timeout": self.connect_timeout}
        if self.dsn is None:
            kwargs.update(host=self.host, port=self.port, user=self.user, dbname=self.database)
            if self.password is not None:
                kwargs["password"] = self.password
            if self.sslmode is not None:
                kwargs["sslmode"] = self.sslmode
        return kwargs

    def label(self) -> str:
        """Where the source points, for messages: host, port and database, never secrets."""
        if self.dsn is None:
            return f"PostgreSQL {self.host}:{self.port}/{self.database}"
        info = conninfo_to_dict(self.dsn)
        host = info.get("host") or "localhost"
        return f"PostgreSQL {host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"


def _arrow_type(col: psycopg.Column) -> pa.DataType:
    """The Arrow type of a result column, from its type OID and (for numeric) its typmod."""
    if col.type_code == _NUMERIC:
        if col.precision is not None and col.scale is not None:
            if col.precision <= 38:
                return pa.decimal128(col.precision, col.scale)
            return pa.decimal256(col.precision, col.scale)
        # Unconstrained numeric has no fixed scale: a double is the closest fixed type.
        return pa.float64()
    return _OID_TYPES.get(col.type_code, pa.string())


def _converter(col: psycopg.Column, type_: pa.DataType) -> Converter | None:
    if col.type_code == _NUMERIC and pa.types.is_floating(type_):
        return float
    return default_converter(type_)


class PostgresSource:
    """Reads models from PostgreSQL (and wire-compatible warehouses)."""

    config_model: ClassVar[type[BaseModel]] = PostgresConfig
    # Read through ADBC when the model's types allow; tests turn it off to cover the cursor.
    use_adbc: ClassVar[bool] = True

    def __init__(self, config: PostgresConfig) -> None:
        self.config = config
        self._label = config.label()
        self._conns: OpenConnections[psycopg.Connection[Any]] = OpenConnections(lambda c: c.close())

    def _connect(self) -> psycopg.Connection[Any]:
        """A new connection in UTC, read-only, with JSON/UUID/... loaded as plain text.

        Raises:
            SourceError: retryable, the server cannot be reached or refused the login.
        """
        try:
            conn = psycopg.connect(
                self.config.dsn or "", autocommit=True, **self.config.connect_kwargs()
            )
        except psycopg.Error as exc:
            raise SourceError(f"{self._label}: cannot connect: {exc}", retryable=True) from exc
        try:
            conn.execute("SET TimeZone TO 'UTC'")
            conn.read_only = True
            for name in _AS_TEXT:
                conn.adapters.register_loader(name, TextLoader)
        except psycopg.Error as exc:
            conn.close()
            raise self._error(exc) from exc
        return self._conns.add(conn)

    def _release(self, conn: psycopg.Connection[Any]) -> None:
        self._conns.release(conn)

    def _error(self, exc: psycopg.Error) -> SourceError:
        """A SourceError carrying the server's message; lost connections are retryable."""
        text = str(exc).strip() or type(exc).__name__
        retryable = isinstance(exc, psycopg.OperationalError) and not isinstance(
            exc, psycopg.errors.QueryCanceled
        )
        return SourceError(f"{self._label}: {text}", retryable=retryable)

    def check(self) -> CheckResult:
        """Connect and run ``SELECT 1``; never raises."""
        try:
            conn = self._connect()
            try:
                row = conn.execute("SELECT 1").fetchone()
            finally:
                self._release(conn)
        except SourceError as exc:
            return CheckResult(ok=False, message=str(exc))
        except psycopg.Error as exc:
            return CheckResult(ok=False, message=str(self._error(exc)))
        if row != (1,):
            return CheckResult(ok=False, message=f"{self._label}: SELECT 1 returned {row!r}")
        return CheckResult(ok=True, message=f"connected to {self._label}")

    def columns(self, sql: str) -> list[Column]:
        """The model's columns, from the description of the SQL wrapped in ``LIMIT 0``.

        Raises:
            SourceError: the server is unreachable or the SQL is invalid.
        """
        return columns_from_schema(self.schema(sql))

    def schema(self, sql: str) -> pa.Schema:
        """The Arrow schema ``read(sql)`` yields.

        Raises:
            SourceError: the server is unreachable or the SQL is invalid.
        """
        return self._describe(strip_sql(sql))[0]

    def _describe(self, sql: str) -> tuple[pa.Schema, list[int]]:
        """The schema of ``sql`` and its columns' type OIDs, from a ``LIMIT 0`` plan."""
        conn = self._connect()
        try:
            desc = conn.execute(limit_zero(sql)).description or []
        except psycopg.Error as exc:
            raise self._error(exc) from exc
        finally:
            self._release(conn)
        schema = pa.schema([(c.name, _arrow_type(c)) for c in desc])
        return schema, [c.type_code for c in desc]

    def read(self, sql: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Stream the model as record batches of ``batch_rows`` rows (the last may be shorter).

        Models whose columns all have common types (numbers, text, bool, dates, timestamps,
        bytea) are read through ADBC's binary COPY, the others through a server-side cursor;
        both yield the schema ``columns()`` reports. An empty result yields no batch at all.

        Raises:
            SourceError: the server is unreachable or the query fails, even mid-stream.
        """
        check_batch_rows(batch_rows)
        text = strip_sql(sql)
        if self.use_adbc and _pg_adbc.available():
            schema, oids = self._describe(text)
            if all(oid in _pg_adbc.ADBC_OIDS for oid in oids):
                conninfo = make_conninfo(self.config.dsn or "", **self.config.connect_kwargs())
                yield from _pg_adbc.read_batches(conninfo, text, schema, batch_rows, self._label)
                return
        yield from self._read_cursor(text, batch_rows)

    def _read_cursor(self, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Read through a server-side cursor, one ``FETCH`` of ``batch_rows`` per batch."""
        conn = self._connect()
        try:
            with conn.transaction(), conn.cursor(name="syncline_read") as cur:
                cur.itersize = batch_rows
                cur.execute(sql)
                desc = cur.description or []
                schema = pa.schema([(c.name, _arrow_type(c)) for c in desc])
                converters = [_converter(c, f.type) for c, f in zip(desc, schema, strict=True)]
                while rows := cur.fetchmany(batch_rows):
                    yield batch_from_rows(rows, schema, converters, source=self._label)
        except psycopg.Error as exc:
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
