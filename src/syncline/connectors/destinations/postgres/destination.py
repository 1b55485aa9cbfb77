"""PostgreSQL destination: keep a table in step with a model, one transaction per batch.

Batches are bulk-loaded with COPY into a TEMP staging table and applied with one set-based
statement (``INSERT ... ON CONFLICT``, ``UPDATE ... FROM``, ``DELETE ... USING``), which makes
every write idempotent by key. Rows PostgreSQL rejects are isolated by bisection and reported
one by one; the rest of the batch is still applied (see ``postgres.load``).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from syncline.connectors._pg_address import check_dsn_at_save, guarded_params
from syncline.connectors.base import (
    BatchResult,
    Capabilities,
    ChangeBatch,
    DestinationError,
    ObjectSchema,
    Operation,
    RecordError,
    RunInfo,
    saving,
)
from syncline.connectors.destinations._sql_common import (
    TABLE_CAPABILITIES,
    ConnectTimeout,
    CreateTable,
    KeyColumn,
    SqlTableDestination,
    TargetTable,
)
from syncline.connectors.destinations.postgres import catalog
from syncline.connectors.destinations.postgres.load import Conn, StagedWriter, target_is_empty
from syncline.connectors.destinations.postgres.types import (
    batch_error,
    connect_error,
    copy_table,
    pg_type_for,
)
from syncline.domain.secrets import Secret

__all__ = ["PostgresDestination", "PostgresDestinationConfig"]


class PostgresDestinationConfig(BaseModel):
    """Where and how to write; ``dsn`` is a secret (encrypted at rest, masked in the API)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dsn: Secret = Field(description="libpq connection string or URL, e.g. postgresql://u:p@host/db")
    db_schema: str = Field("public", alias="schema", description="Schema of the target table")
    table: TargetTable
    create_table: CreateTable = True
    key_column: KeyColumn = None
    connect_timeout: ConnectTimeout = 10

    @field_validator("dsn")
    @classmethod
    def _guarded_hosts(cls, value: str, info: ValidationInfo) -> str:
        """When saved, every host of the DSN passes the network guard."""
        if saving(info):
            check_dsn_at_save(value)
        return value


class PostgresDestination(SqlTableDestination[Conn, catalog.TableInfo]):
    """Writes change batches into one PostgreSQL table."""

    config_model: ClassVar[type[BaseModel]] = PostgresDestinationConfig
    #: Two lanes: PostgreSQL ingests a COPY on one backend, CPU-bound; two sessions writing
    #: disjoint keys in their own transactions load side by side (docs/benchmarks.md).
    capabilities: ClassVar[Capabilities] = dataclasses.replace(TABLE_CAPABILITIES, max_writers=2)
    driver_error = psycopg.Error

    def __init__(self, config: PostgresDestinationConfig) -> None:
        self._config: PostgresDestinationConfig = config
        self._target = sql.Identifier(config.db_schema, config.table)
        self._conn: Conn | None = None
        self._writer: StagedWriter | None = None
        self._run: RunInfo | None = None
        self._key = config.key_column or ""
        self._columns: dict[str, str] | None = None  # None: the table does not exist yet
        # Whether the table held no rows when the run began (True: it did not exist yet).
        self._empty: bool | None = None

    @property
    def _name(self) -> str:
        return f'"{self._config.db_schema}"."{self._config.table}"'

    def begin(self, run: RunInfo) -> None:
        """Connect and check the target; a missing table is created with the first batch."""
        self._run = run
        self._key = self._config.key_column or run.key_field
        self._columns = None
        conn = self._live_conn()
        try:
            info = catalog.table_info(conn, self._config.db_schema, self._config.table)
            # Judged now, before any lane of the run writes, so every lane agrees on it.
            self._empty = True if info is None else target_is_empty(conn, self._target)
            self._writer = self._new_writer(conn)  # fresh plans for this key
            if info is not None:
                self._adopt(conn, info)
            elif not self._config.create_table:
                raise DestinationError(
                    f"table {self._name} does not exist and create_table is false"
                )
            elif not catalog.schema_exists(conn, self._config.db_schema):
                raise DestinationError(f'schema "{self._config.db_schema}" does not exist')
        except psycopg.Error as exc:
            raise batch_error(exc, f"reading table {self._name} failed") from exc

    def write(self, batch: ChangeBatch) -> BatchResult:
        """Apply one batch; every row not in the returned errors is committed."""
        if self._run is None:
            raise DestinationError("write() called before begin()")
        size = len(batch)
        if size == 0:
            return BatchResult(0)
        records = self._keyed(batch)
        delete = batch.operation is Operation.DELETE
        columns = [self._key] if delete else list(records.column_names)
        conn = self._live_conn()
        try:
            if self._columns is None:
                if delete:  # nothing can be deleted from a table that does not exist yet
                    return BatchResult(size)
                self._create(conn, {n: pg_type_for(records.schema.field(n).type) for n in columns})
            types = self._ensure_columns(conn, records, columns)
            data, unsendable = copy_table(records, columns)
            errors = [RecordError(i, msg, "invalid_value") for i, msg in unsendable.items()]
            if data.num_rows:
                assert self._writer is not None
                errors += self._writer.write(
                    batch.operation,
                    data,
                    types=types,
                    skip_nulls=batch.skip_nulls,
                    keys=batch.keys,
                )
        except psycopg.Error as exc:
            raise batch_error(exc, f"{batch.operation.value} batch failed") from exc
        except pa.ArrowException as exc:  # a column Arrow cannot render as text
            raise DestinationError(f"cannot encode the batch for COPY: {exc}") from exc
        return BatchResult(size, sorted(errors, key=lambda e: e.index))

    def close(self) -> None:
        """Close the connection (its TEMP staging tables go with it)."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._writer = None

    # -- the driver's part of the skeleton (see ``_sql_common``) -----------------------------

    @property
    def _has_table(self) -> bool:
        return self._columns is not None

    def _schema_problem(self, conn: Conn) -> str | None:
        if catalog.schema_exists(conn, self._config.db_schema):
            return None
        return f'schema "{self._config.db_schema}" does not exist'

    def _is_open(self, conn: Conn) -> bool:
        return not conn.closed

    def _close(self, conn: Conn) -> None:
        conn.close()

    def _error(self, exc: Exception, what: str) -> DestinationError:
        assert isinstance(exc, psycopg.Error)
        return batch_error(exc, what)

    def _table_info(self, conn: Conn) -> catalog.TableInfo | None:
        return catalog.table_info(conn, self._config.db_schema, self._config.table)

    def _list_objects(self, conn: Conn) -> list[ObjectSchema]:
        return catalog.list_objects(conn, self._config.db_schema)

    def _create_table(self, conn: Conn, columns: dict[str, str]) -> None:
        catalog.create_table(conn, self._config.db_schema, self._config.table, columns, self._key)

    def _default_type(self, name: str) -> str:
        return "text"

    # -- internals ---------------------------------------------------------------------------

    def _connect(self) -> Conn:
        try:
            # Only addresses the network guard checked (a BlockedAddressError propagates).
            conninfo = make_conninfo(self._config.dsn, **guarded_params(self._config.dsn))
            conn = psycopg.connect(
                conninfo, autocommit=True, connect_timeout=self._config.connect_timeout
            )
        except psycopg.OperationalError as exc:
            raise connect_error(exc) from exc
        except psycopg.Error as exc:  # e.g. a malformed connection string
            raise DestinationError(f"invalid PostgreSQL connection settings: {exc}") from exc
        try:
            # Arrow timestamps without a time zone are UTC by Syncline's convention.
            conn.execute("SET TimeZone = 'UTC'")
        except psycopg.Error as exc:
            conn.close()
            raise batch_error(exc, "setting up the session failed") from exc
        return conn

    def _live_conn(self) -> Conn:
        """The run's connection, reopened after a loss (staging tables die with the session)."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = self._connect()
            self._writer = self._new_writer(self._conn)
        return self._conn

    def _new_writer(self, conn: Conn) -> StagedWriter:
        return StagedWriter(conn, self._target, self._key, empty=self._empty)

    def _adopt(self, conn: Conn, info: catalog.TableInfo) -> None:
        """Use an existing table, after checking ON CONFLICT has the unique key it needs."""
        problem = self._table_problem(conn, info, self._key)
        if problem:
            raise DestinationError(problem)
        self._columns = dict(info.columns)

    def _table_problem(self, conn: Conn, info: catalog.TableInfo, key: str | None) -> str | None:
        if not key:
            return None
        if key not in info.columns:
            return f"table {self._name} has no key column {key!r}"
        if not catalog.has_unique_key(conn, self._config.db_schema, self._config.table, key):
            return (
                f"table {self._name} has no primary key or unique constraint on column {key!r}; "
                f"writes are matched by key, so add one "
                f"(e.g. ALTER TABLE {self._name} ADD PRIMARY KEY ({key}))"
            )
        return None

    def _ensure_columns(self, conn: Conn, records: pa.Table, columns: list[str]) -> dict[str, str]:
        """The table's column types, after adding the batch's new fields (if we may)."""
        assert self._columns is not None
        missing = [c for c in columns if c not in self._columns]
        if missing:
            if not self._config.create_table:
                raise DestinationError(f"table {self._name} has no column(s) {', '.join(missing)}")
            cfg = self._config
            types = {c: pg_type_for(records.schema.field(c).type) for c in missing}
            catalog.add_columns(conn, cfg.db_schema, cfg.table, types)
            info = catalog.table_info(conn, cfg.db_schema, cfg.table)
            self._columns = dict(info.columns) if info else {}
        return self._columns
