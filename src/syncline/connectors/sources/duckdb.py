"""DuckDB source: a DuckDB database file, or an in-memory one that queries Parquet/CSV files.

DuckDB speaks Arrow natively, so a model streams as record batches straight from the engine
through a relation's Arrow reader: no Python object per row, and memory bounded by the batch
size (``execute(...)`` followed by an Arrow fetch would materialise the whole result first).

Model SQL cannot reach past the database: it passes the SQL guard (one SELECT), and the
connection is opened with extension autoloading off, ``enable_external_access = false``
(no file outside ``allowed_directories`` and the database file itself, no ATTACH, INSTALL,
LOAD, COPY or EXPORT) and ``lock_configuration = true``, so no statement can undo either.
A statement that runs past its timeout is interrupted.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any, ClassVar, Self

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from syncline.connectors.base import CheckResult, Column, SourceError
from syncline.connectors.sources._common import (
    QueryTimeouts,
    check_batch_rows,
    columns_from_schema,
)
from syncline.connectors.sources._sqlguard import check_select

__all__ = ["DuckDBConfig", "DuckDBSource"]

_MEMORY = ":memory:"
# Extensions are never fetched or loaded on a model's behalf (ICU and Parquet are built in).
_NO_AUTOLOAD = {"autoload_known_extensions": False, "autoinstall_known_extensions": False}
_OPENING = threading.Lock()


def _directories(paths: list[str]) -> list[str]:
    """Absolute directories ending in a separator: DuckDB matches them as path prefixes."""
    return [os.path.join(os.path.abspath(os.path.expanduser(p)), "") for p in paths]


def _setting(con: duckdb.DuckDBPyConnection, name: str) -> Any:
    row = con.execute("SELECT current_setting(?)", [name]).fetchone()
    return None if row is None else row[0]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Watchdog:
    """Interrupts a cursor's statement once it has run ``timeout`` seconds (0: never)."""

    def __init__(self, cur: duckdb.DuckDBPyConnection, timeout: float) -> None:
        self._cur = cur
        self._timeout = timeout
        self._timer: threading.Timer | None = None
        self.fired = False

    def _fire(self) -> None:
        self.fired = True
        self._cur.interrupt()

    def __enter__(self) -> Self:
        if self._timeout > 0:
            self._timer = threading.Timer(self._timeout, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._timer is not None:
            self._timer.cancel()


class DuckDBConfig(QueryTimeouts):
    """Where the DuckDB database is; no path (or ``:memory:``) means an in-memory database."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        default=None,
        description="Database file; empty or ':memory:' for an in-memory database that reads "
        "files with read_parquet()/read_csv() in the model SQL.",
    )
    read_only: bool = Field(
        default=True,
        description="Open the file read-only, so syncs never change the warehouse and can run "
        "beside another reader. Ignored for an in-memory database.",
    )
    allowed_directories: list[str] = Field(
        default_factory=list,
        description="Directories whose files the model SQL may read (read_parquet(), "
        "read_csv(), ...). No other file on the server can be read, listed or written.",
    )


class DuckDBSource:
    """Reads models from DuckDB, streaming Arrow record batches."""

    config_model: ClassVar[type[BaseModel]] = DuckDBConfig

    def __init__(self, config: DuckDBConfig) -> None:
        self.config = config
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    @property
    def _in_memory(self) -> bool:
        return self.config.path in (None, "", _MEMORY)

    @property
    def _label(self) -> str:
        return "DuckDB (in-memory)" if self._in_memory else f"DuckDB {self.config.path}"

    def _connection(self) -> duckdb.DuckDBPyConnection:
        """The shared connection, opened on first use so construction never fails."""
        with self._lock:
            if self._con is None:
                self._con = self._open()
            return self._con

    def _open(self) -> duckdb.DuckDBPyConnection:
        # Connections to one file share a database instance: opening and locking it down must
        # not interleave with another source doing the same.
        with _OPENING:
            con = self._connect()
            try:
                self._lock_down(con)
            except duckdb.Error as exc:
                con.close()
                raise SourceError(f"{self._label}: cannot open: {exc}") from exc
            except SourceError:
                con.close()
                raise
        return con

    def _connect(self) -> duckdb.DuckDBPyConnection:
        path = self.config.path
        try:
            if self._in_memory:
                return duckdb.connect(_MEMORY, config=dict(_NO_AUTOLOAD))
            assert path is not None
            if self.config.read_only and not os.path.exists(path):
                raise SourceError(f"{self._label}: the database file does not exist")
            return duckdb.connect(path, read_only=self.config.read_only, config=dict(_NO_AUTOLOAD))
        except duckdb.Error as exc:
            # Most open failures are a lock held by another process or a file being replaced.
            raise SourceError(f"{self._label}: cannot open: {exc}", retryable=True) from exc

    def _lock_down(self, con: duckdb.DuckDBPyConnection) -> None:
        """Settings first, then no external access, then no more settings: in that order.

        UTC makes timestamps with time zone come out as ``timestamp[us, tz=UTC]`` whatever the
        host's zone is; it must be set before the configuration is locked.

        DuckDB shares one database instance between the connections a process opens on the
        same file: when another source (or run) has it open, it is locked already.

        Raises:
            SourceError: the file is open in this process without the lock.
        """
        if _setting(con, "lock_configuration"):
            if _setting(con, "enable_external_access"):
                raise SourceError(
                    f"{self._label}: the database is open elsewhere in this process with "
                    "external access on; close that connection first"
                )
            return
        con.execute("SET GLOBAL TimeZone = 'UTC'")
        if self.config.allowed_directories:
            dirs = ", ".join(_literal(d) for d in _directories(self.config.allowed_directories))
            con.execute(f"SET allowed_directories = [{dirs}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own per call: a DuckDB connection is not safe to share across threads."""
        return self._connection().cursor()

    def _error(self, exc: BaseException, timed_out: float | None = None) -> SourceError:
        if timed_out is not None:
            return SourceError(
                f"{self._label}: the statement was interrupted after its timeout of {timed_out:g} s"
            )
        return SourceError(f"{self._label}: {exc}")

    def check(self) -> CheckResult:
        """Open the database and run ``SELECT 1``; never raises."""
        try:
            cur = self._cursor()
            try:
                row = cur.execute("SELECT 1").fetchone()
            finally:
                cur.close()
        except SourceError as exc:
            return CheckResult(ok=False, message=str(exc))
        except duckdb.Error as exc:
            return CheckResult(ok=False, message=str(self._error(exc)))
        if row != (1,):
            return CheckResult(ok=False, message=f"{self._label}: SELECT 1 returned {row!r}")
        return CheckResult(ok=True, message=f"connected to {self._label}")

    def columns(self, sql: str) -> list[Column]:
        """The model's columns, from the plan of ``sql`` with ``LIMIT 0``: no rows are read.

        Raises:
            SourceError: the database cannot be opened or the SQL is invalid.
        """
        return columns_from_schema(self.schema(sql))

    def _relation(self, cur: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation:
        rel = cur.sql(sql)
        if rel is None:
            raise SourceError(f"{self._label}: the model SQL does not return rows")
        return rel

    def schema(self, sql: str) -> pa.Schema:
        """The Arrow schema ``read(sql)`` yields (the preview timeout applies).

        Raises:
            SourceError: the database cannot be opened or the SQL is refused or invalid.
        """
        text = check_select(sql, dialect="duckdb")
        timeout = self.config.preview_timeout_seconds
        cur = self._cursor()
        watchdog = _Watchdog(cur, timeout)
        try:
            with watchdog:
                return self._relation(cur, text).limit(0).to_arrow_table().schema
        except duckdb.Error as exc:
            raise self._error(exc, timeout if watchdog.fired else None) from exc
        finally:
            cur.close()

    def read(self, sql: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Stream the model as record batches of ``batch_rows`` rows (the last may be shorter).

        An empty result yields no batch at all. The run's statement timeout bounds the time
        DuckDB spends on each batch (not the time the consumer holds it).

        Raises:
            SourceError: the database cannot be opened, the SQL is refused, or the query
                fails, even mid-stream.
        """
        return self._stream(sql, batch_rows, self.config.statement_timeout_seconds)

    def preview(self, sql: str, *, limit: int) -> Iterator[pa.RecordBatch]:
        """Like ``read`` with ``batch_rows=limit``, under the shorter preview timeout."""
        return self._stream(sql, limit, self.config.preview_timeout_seconds)

    def _stream(self, sql: str, batch_rows: int, timeout: float) -> Iterator[pa.RecordBatch]:
        check_batch_rows(batch_rows)
        text = check_select(sql, dialect="duckdb")
        cur = self._cursor()
        watchdog = _Watchdog(cur, timeout)
        try:
            with watchdog:
                reader = iter(self._relation(cur, text).to_arrow_reader(batch_rows))
            while True:
                watchdog = _Watchdog(cur, timeout)
                with watchdog:
                    batch = next(reader, None)
                if batch is None:
                    return
                if batch.num_rows:
                    yield batch
        except (duckdb.Error, pa.ArrowException) as exc:
            raise self._error(exc, timeout if watchdog.fired else None) from exc
        finally:
            cur.close()

    def close(self) -> None:
        """Close the connection; the source reopens it if used again."""
        with self._lock:
            con, self._con = self._con, None
        if con is not None:
            con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
