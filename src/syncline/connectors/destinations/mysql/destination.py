"""MySQL / MariaDB destination: keep a table in step with a model, one transaction per batch.

Batches are written as large multi-row statements (see ``mysql.load`` for the per-mode
plan), in an InnoDB transaction, in strict SQL mode, so every write is idempotent by key and a
bad value fails loudly. Rows the server rejects are isolated by bisection and reported one by
one with MySQL's own message; the rest of the batch is applied.
"""

from __future__ import annotations

import contextlib
from typing import ClassVar

import pyarrow as pa
import pymysql
from pydantic import BaseModel, ConfigDict, Field

from syncline.connectors._netguard import GuardedHost, guarded_addresses
from syncline.connectors.base import (
    BatchResult,
    ChangeBatch,
    DestinationError,
    ObjectSchema,
    Operation,
    RunInfo,
)
from syncline.connectors.destinations._sql_common import (
    ConnectTimeout,
    CreateTable,
    KeyColumn,
    SqlTableDestination,
    TargetTable,
)
from syncline.connectors.destinations.mysql import catalog
from syncline.connectors.destinations.mysql.catalog import Conn
from syncline.connectors.destinations.mysql.load import BatchWriter
from syncline.connectors.destinations.mysql.sql import (
    KEY_TEXT,
    SQL_MODE,
    batch_error,
    ident,
    mysql_type_for,
)
from syncline.domain.secrets import Secret

__all__ = ["MySQLDestination", "MySQLDestinationConfig"]

_MAX_STATEMENT = 2 << 20  # bytes; measured: larger statements are not faster


class MySQLDestinationConfig(BaseModel):
    """Where and how to write; ``password`` is a secret (encrypted at rest, masked in the API)."""

    # Validation errors must not echo the config: it holds a password.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    host: GuardedHost = Field(description="Server host name or address")
    port: int = Field(3306, ge=1, le=65535, description="Server port")
    user: str = Field(description="User name")
    password: Secret = Field("", description="Password (secret)")
    database: str = Field(description="Database (schema) of the target table")
    table: TargetTable
    create_table: CreateTable = True
    key_column: KeyColumn = None
    connect_timeout: ConnectTimeout = 10


class MySQLDestination(SqlTableDestination[Conn, catalog.TableInfo]):
    """Writes change batches into one MySQL or MariaDB table."""

    config_model: ClassVar[type[BaseModel]] = MySQLDestinationConfig
    driver_error = pymysql.Error

    def __init__(self, config: MySQLDestinationConfig) -> None:
        self._config: MySQLDestinationConfig = config
        self._table_name = f"{ident(config.database)}.{ident(config.table)}"
        self._conn: Conn | None = None
        self._writer: BatchWriter | None = None
        self._run: RunInfo | None = None
        self._key = config.key_column or ""
        self._info: catalog.TableInfo | None = None  # None: the table does not exist yet

    def begin(self, run: RunInfo) -> None:
        """Connect and check the target; a missing table is created with the first batch."""
        self._run = run
        self._key = self._config.key_column or run.key_field
        self._info = None
        conn = self._live_conn()
        try:
            info = catalog.table_info(conn, self._config.database, self._config.table)
            if info is not None:
                self._adopt(conn, info)
            elif not self._config.create_table:
                raise DestinationError(self._missing_table)
        except pymysql.Error as exc:
            raise self._failed(exc, f"reading table {self._name} failed") from exc

    def write(self, batch: ChangeBatch) -> BatchResult:
        """Apply one batch; every row not in the returned errors is committed."""
        if self._run is None:
            raise DestinationError("write() called before begin()")
        size = len(batch)
        if size == 0:
            return BatchResult(0)
        records = self._keyed(batch)
        delete = batch.operation is Operation.DELETE
        if delete:
            records = records.select([self._key])
        conn = self._live_conn()
        try:
            if self._info is None:
                if delete:  # nothing can be deleted from a table that does not exist yet
                    return BatchResult(size)
                self._create(conn, {n: self._type(records, n) for n in records.column_names})
            self._ensure_columns(conn, records)
            assert self._writer is not None
            errors = self._writer.write(
                batch.operation, records, skip_nulls=batch.skip_nulls, keys=batch.keys
            )
        except pymysql.Error as exc:
            raise self._failed(exc, f"{batch.operation.value} batch failed") from exc
        except DestinationError as exc:
            if exc.retryable:
                self._drop_conn()
            raise
        return BatchResult(size, errors)

    def close(self) -> None:
        self._drop_conn()

    # -- the driver's part of the skeleton (see ``_sql_common``) -----------------------------

    @property
    def _name(self) -> str:
        return self._table_name

    @property
    def _has_table(self) -> bool:
        return self._info is not None

    def _connected(self) -> str:
        return f"connected to {self._config.host}:{self._config.port}"

    def _is_open(self, conn: Conn) -> bool:
        return bool(conn.open)

    def _close(self, conn: Conn) -> None:
        with contextlib.suppress(pymysql.Error, OSError):
            conn.close()

    def _error(self, exc: Exception, what: str) -> DestinationError:
        return batch_error(exc, what)

    def _table_info(self, conn: Conn) -> catalog.TableInfo | None:
        return catalog.table_info(conn, self._config.database, self._config.table)

    def _list_objects(self, conn: Conn) -> list[ObjectSchema]:
        return catalog.list_objects(conn, self._config.database)

    def _create_table(self, conn: Conn, columns: dict[str, str]) -> None:
        catalog.create_table(conn, self._config.table, columns, self._key)

    def _default_type(self, name: str) -> str:
        return KEY_TEXT if name == self._key else "LONGTEXT"

    # -- internals ---------------------------------------------------------------------------

    def _connect(self) -> Conn:
        cfg = self._config
        conn = self._open(guarded_addresses(cfg.host, what="MySQL"))
        try:
            with conn.cursor() as cur:
                # Our own SQL mode: strict (a bad value is an error, never a silent truncation)
                # and without NO_BACKSLASH_ESCAPES, which the literal escaping relies on.
                cur.execute(f"SET SESSION time_zone = '+00:00', sql_mode = '{SQL_MODE}'")
                # No gap locks: the key lookups lock the rows they find and nothing else.
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        except pymysql.Error as exc:
            conn.close()
            raise batch_error(exc, "setting up the MySQL session failed") from exc
        return conn

    def _open(self, addresses: list[str]) -> Conn:
        """A connection to the first checked address that answers (like a resolver's order)."""
        cfg = self._config
        for i, address in enumerate(addresses):
            try:
                return pymysql.connect(
                    host=address,
                    port=cfg.port,
                    user=cfg.user,
                    password=cfg.password,
                    database=cfg.database,
                    connect_timeout=cfg.connect_timeout,
                    charset="utf8mb4",
                    autocommit=True,
                )
            except pymysql.OperationalError as exc:
                if i + 1 < len(addresses) and exc.args and exc.args[0] == 2003:
                    continue  # cannot reach this address: try the next one
                raise batch_error(exc, f"cannot connect to MySQL at {cfg.host}:{cfg.port}") from exc
            except pymysql.Error as exc:
                raise batch_error(exc, f"cannot connect to MySQL at {cfg.host}:{cfg.port}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _live_conn(self) -> Conn:
        """The run's connection, reopened after a loss (staging tables die with the session)."""
        if self._conn is None or not self._conn.open:
            self._drop_conn()
            self._conn = self._connect()
            self._writer = None
            if self._info is not None:
                self._writer = self._new_writer(self._conn, self._info)
        return self._conn

    def _drop_conn(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(pymysql.Error, OSError):
                self._conn.close()
        self._conn = None
        self._writer = None

    def _failed(self, exc: Exception, what: str) -> DestinationError:
        """Map an error; after a lost connection the next write starts on a fresh one."""
        error = batch_error(exc, what)
        if error.retryable:
            self._drop_conn()
        return error

    def _new_writer(self, conn: Conn, info: catalog.TableInfo) -> BatchWriter:
        with conn.cursor() as cur:
            cur.execute("SELECT @@max_allowed_packet")
            row = cur.fetchone()
        packet = int(row[0]) if row else 1 << 20
        cfg = self._config
        primary = catalog.unique_key(conn, cfg.database, cfg.table, self._key) == "PRIMARY"
        budget = max(16 << 10, min(_MAX_STATEMENT, packet // 2))
        return BatchWriter(conn, cfg.table, self._key, info, key_is_primary=primary, budget=budget)

    def _adopt(self, conn: Conn, info: catalog.TableInfo) -> None:
        """Use an existing table, after checking it has a transactional engine and a key."""
        problem = self._table_problem(conn, info, self._key)
        if problem:
            raise DestinationError(problem)
        key = info.find(self._key)
        assert key is not None
        self._key = key.name  # MySQL matches names without case; keep the table's spelling
        self._info = info
        self._writer = self._new_writer(conn, info)

    def _table_problem(self, conn: Conn, info: catalog.TableInfo, key: str | None) -> str | None:
        if not info.transactional:
            return (
                f"table {self._name} uses the {info.engine} engine, which has no transactions; "
                f"Syncline commits each batch atomically and needs InnoDB "
                f"(ALTER TABLE {self._name} ENGINE=InnoDB)"
            )
        if not key:
            return None
        if info.find(key) is None:
            return f"table {self._name} has no key column {key!r}"
        if catalog.unique_key(conn, self._config.database, self._config.table, key) is None:
            return (
                f"table {self._name} has no primary key or unique index on column {key!r}; "
                f"writes are matched by key, so add one "
                f"(e.g. ALTER TABLE {self._name} ADD PRIMARY KEY ({ident(key)}))"
            )
        return None

    def _type(self, records: pa.Table, name: str) -> str:
        return mysql_type_for(records.schema.field(name).type, key=name == self._key)

    def _ensure_columns(self, conn: Conn, records: pa.Table) -> None:
        assert self._info is not None
        missing = [c for c in records.column_names if self._info.find(c) is None]
        if not missing:
            return
        if not self._config.create_table:
            raise DestinationError(f"table {self._name} has no column(s) {', '.join(missing)}")
        catalog.add_columns(conn, self._config.table, {c: self._type(records, c) for c in missing})
        info = catalog.table_info(conn, self._config.database, self._config.table)
        assert info is not None
        self._adopt(conn, info)
