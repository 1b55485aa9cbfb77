"""PostgreSQL destination: keep a table in step with a model, one transaction per batch.

Batches are bulk-loaded with COPY into a TEMP staging table and applied with one set-based
statement (``INSERT ... ON CONFLICT``, ``UPDATE ... FROM``, ``DELETE ... USING``), which makes
every write idempotent by key. Rows PostgreSQL rejects are isolated by bisection and reported
one by one; the rest of the batch is still applied (see ``postgres.load``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    CheckResult,
    DestinationError,
    ObjectSchema,
    Operation,
    RecordError,
    RunInfo,
    SyncMode,
    saving,
)
from syncline.connectors.destinations.postgres import catalog
from syncline.connectors.destinations.postgres.load import Conn, StagedWriter
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
    table: str = Field(description="Target table")
    create_table: bool = Field(
        True, description="Create the table (and add new columns) from the model's fields"
    )
    key_column: str | None = Field(
        None, description="Column matched against the model's key (default: the sync's key field)"
    )
    connect_timeout: int = Field(10, ge=1, le=300, description="Seconds to wait for a connection")

    @field_validator("dsn")
    @classmethod
    def _guarded_hosts(cls, value: str, info: ValidationInfo) -> str:
        """When saved, every host of the DSN passes the network guard."""
        if saving(info):
            check_dsn_at_save(value)
        return value


class PostgresDestination:
    """Writes change batches into one PostgreSQL table."""

    config_model: ClassVar[type[BaseModel]] = PostgresDestinationConfig
    capabilities: ClassVar[Capabilities] = Capabilities(
        modes=frozenset(SyncMode),
        max_batch_rows=50_000,
        supports_delete=True,
        lists_fields=True,
        supports_field_ordering=True,
    )

    def __init__(self, config: PostgresDestinationConfig) -> None:
        self._config = config
        self._target = sql.Identifier(config.db_schema, config.table)
        self._conn: Conn | None = None
        self._writer: StagedWriter | None = None
        self._run: RunInfo | None = None
        self._key = config.key_column or ""
        self._columns: dict[str, str] | None = None  # None: the table does not exist yet

    @property
    def _name(self) -> str:
        return f'"{self._config.db_schema}"."{self._config.table}"'

    def check(self) -> CheckResult:
        """Connect, and confirm the schema (and the table, if we may not create it) exist."""
        cfg = self._config
        try:
            with self._session() as conn:
                if not catalog.schema_exists(conn, cfg.db_schema):
                    return CheckResult(False, f'schema "{cfg.db_schema}" does not exist')
                info = catalog.table_info(conn, cfg.db_schema, cfg.table)
                if info is None and not cfg.create_table:
                    return CheckResult(
                        False, f"table {self._name} does not exist and create_table is false"
                    )
                problem = info and cfg.key_column and self._key_problem(conn, info, cfg.key_column)
                if problem:
                    return CheckResult(False, problem)
        except psycopg.Error as exc:
            return CheckResult(False, str(batch_error(exc, "check failed")))
        except DestinationError as exc:
            return CheckResult(False, str(exc))
        state = "exists" if info is not None else "will be created on the first run"
        return CheckResult(True, f"connected; table {self._name} {state}")

    def objects(self) -> list[ObjectSchema]:
        """The schema's tables and their columns, primary-key columns flagged ``is_key``."""
        try:
            with self._session() as conn:
                return catalog.list_objects(conn, self._config.db_schema)
        except psycopg.Error as exc:
            raise batch_error(exc, "listing tables failed") from exc

    def begin(self, run: RunInfo) -> None:
        """Connect and check the target; a missing table is created with the first batch."""
        self._run = run
        self._key = self._config.key_column or run.key_field
        self._columns = None
        conn = self._live_conn()
        self._writer = StagedWriter(conn, self._target, self._key)  # fresh plans for this key
        try:
            info = catalog.table_info(conn, self._config.db_schema, self._config.table)
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

    def finish(self, *, success: bool) -> None:
        """A successful run always leaves the table in place, even if it sent no rows."""
        if not (success and self._run and self._columns is None and self._config.create_table):
            return
        columns = dict.fromkeys([self._key, *self._run.fields], "text")
        try:
            self._create(self._live_conn(), columns)
        except psycopg.Error as exc:
            raise batch_error(exc, f"creating table {self._name} failed") from exc

    def close(self) -> None:
        """Close the connection (its TEMP staging tables go with it)."""
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._writer = None

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
            self._writer = StagedWriter(self._conn, self._target, self._key)
        return self._conn

    @contextmanager
    def _session(self) -> Iterator[Conn]:
        """The run's connection when one is open, else a short-lived one."""
        if self._conn is not None and not self._conn.closed:
            yield self._conn
            return
        conn = self._connect()
        try:
            yield conn
        finally:
            conn.close()

    def _adopt(self, conn: Conn, info: catalog.TableInfo) -> None:
        """Use an existing table, after checking ON CONFLICT has the unique key it needs."""
        problem = self._key_problem(conn, info, self._key)
        if problem:
            raise DestinationError(problem)
        self._columns = dict(info.columns)

    def _key_problem(self, conn: Conn, info: catalog.TableInfo, key: str) -> str | None:
        if key not in info.columns:
            return f"table {self._name} has no key column {key!r}"
        if not catalog.has_unique_key(conn, self._config.db_schema, self._config.table, key):
            return (
                f"table {self._name} has no primary key or unique constraint on column {key!r}; "
                f"writes are matched by key, so add one "
                f"(e.g. ALTER TABLE {self._name} ADD PRIMARY KEY ({key}))"
            )
        return None

    def _create(self, conn: Conn, columns: dict[str, str]) -> None:
        assert self._run is not None
        for name in self._run.fields:  # fields absent from this batch still get a column
            columns.setdefault(name, "text")
        cfg = self._config
        catalog.create_table(conn, cfg.db_schema, cfg.table, columns, self._key)
        info = catalog.table_info(conn, cfg.db_schema, cfg.table)
        if info is None:
            raise DestinationError(f"table {self._name} vanished right after CREATE TABLE")
        self._adopt(conn, info)

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

    def _keyed(self, batch: ChangeBatch) -> pa.Table:
        """The records with the key under the table's key column name."""
        records = batch.records
        if self._key in records.column_names:
            return records
        if batch.key_field in records.column_names:
            names = [self._key if n == batch.key_field else n for n in records.column_names]
            return records.rename_columns(names)
        raise DestinationError(f"batch has no key column {self._key!r} (nor {batch.key_field!r})")
