"""DuckDB source: a DuckDB database file, or an in-memory one that queries Parquet/CSV files.

DuckDB speaks Arrow natively, so a model streams as record batches straight from the engine
through a relation's Arrow reader: no Python object per row, and memory bounded by the batch
size (``execute(...)`` followed by an Arrow fetch would materialise the whole result first).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any, ClassVar, Self

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from syncline.connectors.base import CheckResult, Column, SourceError
from syncline.connectors.sources._common import (
    check_batch_rows,
    columns_from_schema,
    strip_sql,
)

__all__ = ["DuckDBConfig", "DuckDBSource"]

_MEMORY = ":memory:"


class DuckDBConfig(BaseModel):
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
        path = self.config.path
        try:
            if self._in_memory:
                con = duckdb.connect(_MEMORY)
            else:
                assert path is not None
                if self.config.read_only and not os.path.exists(path):
                    raise SourceError(f"{self._label}: the database file does not exist")
                con = duckdb.connect(path, read_only=self.config.read_only)
        except duckdb.Error as exc:
            # Most open failures are a lock held by another process or a file being replaced.
            raise SourceError(f"{self._label}: cannot open: {exc}", retryable=True) from exc
        return con

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own per call: a DuckDB connection is not safe to share across threads.

        The time zone is a per-cursor setting: UTC makes timestamps with time zone come out as
        ``timestamp[us, tz=UTC]`` whatever the host's zone is.
        """
        cur = self._connection().cursor()
        with contextlib.suppress(duckdb.Error):  # ICU is built into the Python wheels
            cur.execute("SET TimeZone = 'UTC'")
        return cur

    def _error(self, exc: BaseException) -> SourceError:
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

    def schema(self, sql: str) -> pa.Schema:
        """The Arrow schema ``read(sql)`` yields.

        Raises:
            SourceError: the database cannot be opened or the SQL is invalid.
        """
        cur = self._cursor()
        try:
            rel = cur.sql(strip_sql(sql))
            if rel is None:
                raise SourceError(f"{self._label}: the model SQL does not return rows")
            return rel.limit(0).to_arrow_table().schema
        except duckdb.Error as exc:
            raise self._error(exc) from exc
        finally:
            cur.close()

    def read(self, sql: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Stream the model as record batches of ``batch_rows`` rows (the last may be shorter).

        An empty result yields no batch at all.

        Raises:
            SourceError: the database cannot be opened or the query fails, even mid-stream.
        """
        check_batch_rows(batch_rows)
        cur = self._cursor()
        try:
            rel = cur.sql(strip_sql(sql))
            if rel is None:
                raise SourceError(f"{self._label}: the model SQL does not return rows")
            reader = rel.to_arrow_reader(batch_rows)
            for batch in reader:
                if batch.num_rows:
                    yield batch
        except (duckdb.Error, pa.ArrowException) as exc:
            raise self._error(exc) from exc
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
