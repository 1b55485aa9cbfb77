"""PostgreSQL source: streams a model as Arrow, through ADBC's binary COPY or a server cursor.

Column types come from psycopg's description of the model wrapped in ``LIMIT 0``. A model
whose columns all have common types is then streamed by the ADBC driver (binary COPY decoded
to Arrow in C, see ``_pg_adbc``); any other goes through a named (server-side) cursor whose
``FETCH`` brings at most ``batch_rows`` rows, built into one Arrow batch. Either way the
result stays on the server until fetched, so a 10-million-row model never sits in client
memory. Each read has its own connection in a read-only session: models can be read from
several threads, and a model's SQL cannot change the warehouse: it passes the SQL guard, is
sent only through the extended query protocol (a server-side cursor: one statement, never a
``;``-joined script), inside ``BEGIN READ ONLY`` on a session whose default is read-only too,
under ``statement_timeout``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal, Self

import psycopg
import pyarrow as pa
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.string import TextLoader
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from syncline.connectors._netguard import check_at_save
from syncline.connectors._pg_address import check_dsn_at_save, guarded_params
from syncline.connectors.base import ConnectorError, SourceError, saving
from syncline.connectors.sources import _pg_adbc
from syncline.connectors.sources._common import (
    Converter,
    QueryTimeouts,
    batch_from_rows,
    default_converter,
)
from syncline.connectors.sources._dbapi import DbApiSource
from syncline.domain.secrets import OptionalSecret

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


class PostgresConfig(QueryTimeouts):
    """Either a libpq ``dsn`` (URL or key=value) or the host/user/database fields."""

    # Validation errors must not echo the config: it holds a password or DSN.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    dsn: OptionalSecret = Field(default=None, description="libpq connection string or URL.")
    host: str | None = None
    port: int = Field(default=5432, ge=1, le=65535)
    user: str | None = None
    password: OptionalSecret = None
    database: str | None = None
    sslmode: SslMode | None = None
    connect_timeout: int = Field(default=10, ge=1, description="Seconds to wait to connect.")

    @field_validator("dsn")
    @classmethod
    def _guarded_dsn(cls, value: str | None, info: ValidationInfo) -> str | None:
        """When saved, every host of the DSN passes the network guard."""
        if value is not None and saving(info):
            check_dsn_at_save(value)
        return value

    @field_validator("host")
    @classmethod
    def _guarded_host(cls, value: str | None, info: ValidationInfo) -> str | None:
        """When saved, the host passes the network guard."""
        if value and saving(info):
            check_at_save(value)
        return value

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


def timeout_ms(seconds: float) -> int:
    """A timeout in whole milliseconds, as ``statement_timeout`` takes it (0: no limit)."""
    return max(0, round(seconds * 1000))


class PostgresSource(DbApiSource[psycopg.Connection[Any], PostgresConfig]):
    """Reads models from PostgreSQL (and wire-compatible warehouses)."""

    config_model: ClassVar[type[BaseModel]] = PostgresConfig
    dialect: ClassVar[str] = "postgres"
    driver_error: ClassVar[type[Exception]] = psycopg.Error
    # Read through ADBC when the model's types allow; tests turn it off to cover the cursor.
    use_adbc: ClassVar[bool] = True

    def __init__(self, config: PostgresConfig) -> None:
        super().__init__(config, config.label(), lambda c: c.close())

    def guarded_conninfo(self) -> str:
        """The connection string with only addresses the network guard checked (``hostaddr``).

        Raises:
            SourceError: the guard refused a host (not retryable) or a name does not resolve.
        """
        conninfo = make_conninfo(self.config.dsn or "", **self.config.connect_kwargs())
        try:
            return make_conninfo(conninfo, **guarded_params(conninfo))
        except ConnectorError as exc:
            raise SourceError(f"{self._label}: {exc}", retryable=exc.retryable) from exc

    def _open(self, timeout: float) -> psycopg.Connection[Any]:
        """A new connection in UTC, read-only, with JSON/UUID/... loaded as plain text.

        Raises:
            SourceError: retryable, the server cannot be reached or refused the login.
        """
        try:
            conn = psycopg.connect(self.guarded_conninfo(), autocommit=True)
        except psycopg.Error as exc:
            raise SourceError(f"{self._label}: cannot connect: {exc}", retryable=True) from exc
        try:
            conn.execute("SET TimeZone TO 'UTC'")
            # Every transaction read-only, the ones psycopg opens and any implicit one.
            conn.execute("SET default_transaction_read_only TO on")
            conn.execute(f"SET statement_timeout TO {timeout_ms(timeout)}")
            conn.read_only = True
            for name in _AS_TEXT:
                conn.adapters.register_loader(name, TextLoader)
        except psycopg.Error as exc:
            conn.close()
            raise self._error(exc) from exc
        return conn

    def _error(self, exc: Exception) -> SourceError:
        """A SourceError carrying the server's message; lost connections are retryable."""
        text = str(exc).strip() or type(exc).__name__
        retryable = isinstance(exc, psycopg.OperationalError) and not isinstance(
            exc, psycopg.errors.QueryCanceled
        )
        return SourceError(f"{self._label}: {text}", retryable=retryable)

    def _cancel(self, conn: psycopg.Connection[Any]) -> None:
        """libpq's cancel request, on a connection of its own (safe from another thread)."""
        conn.cancel_safe(timeout=2.0)

    def _schema_on(self, conn: psycopg.Connection[Any], sql: str) -> pa.Schema:
        return self._describe_on(conn, sql)[0]

    @staticmethod
    def _describe_on(conn: psycopg.Connection[Any], sql: str) -> tuple[pa.Schema, list[int]]:
        """The schema of ``sql`` and its columns' type OIDs, from a declared cursor.

        ``DECLARE`` plans the query without running it and goes through the extended protocol,
        which refuses a second statement: no ``LIMIT 0`` text wrapped around the model.
        """
        with conn.transaction(), conn.cursor(name="syncline_describe") as cur:
            cur.execute(sql)
            desc = cur.description or []
        schema = pa.schema([(c.name, _arrow_type(c)) for c in desc])
        return schema, [c.type_code for c in desc]

    def _read_guarded(self, sql: str, batch_rows: int, timeout: float) -> Iterator[pa.RecordBatch]:
        """Models whose columns all have common types (numbers, text, bool, dates, timestamps,
        bytea) are read through ADBC's binary COPY, the others through a server-side cursor;
        both yield the schema ``columns()`` reports.
        """
        if self.use_adbc and _pg_adbc.available():
            schema, oids = self._call(timeout, lambda c: self._describe_on(c, sql))
            if all(oid in _pg_adbc.ADBC_OIDS for oid in oids):
                conninfo = self.guarded_conninfo()
                yield from _pg_adbc.read_batches(
                    conninfo,
                    sql,
                    schema,
                    batch_rows,
                    self._label,
                    timeout_ms(timeout),
                    cancels=self._cancels,
                )
                return
        yield from super()._read_guarded(sql, batch_rows, timeout)

    def _batches(
        self, conn: psycopg.Connection[Any], sql: str, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        """Read through a server-side cursor, one ``FETCH`` of ``batch_rows`` per batch."""
        with conn.transaction(), conn.cursor(name="syncline_read") as cur:
            cur.itersize = batch_rows
            cur.execute(sql)
            desc = cur.description or []
            schema = pa.schema([(c.name, _arrow_type(c)) for c in desc])
            converters = [_converter(c, f.type) for c, f in zip(desc, schema, strict=True)]
            while rows := cur.fetchmany(batch_rows):
                yield batch_from_rows(rows, schema, converters, source=self._label)
