"""The skeleton the DB-API sources (PostgreSQL, MySQL, SQLite) share.

Every model statement goes the same way: the SQL guard first (one read-only SELECT, in the
source's dialect), then a connection of its own opened with the statement timeout that fits
the caller (a run's, or the shorter one of previews and discovery), then the driver-specific
part, which runs the query in a read-only transaction. A subclass writes only ``_open``,
``_error``, ``_schema_on`` and ``_batches``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, ClassVar, Generic, Self, TypeVar

import pyarrow as pa
from pydantic import BaseModel

from syncline.connectors.base import CheckResult, Column, SourceError
from syncline.connectors.sources._common import (
    OpenConnections,
    QueryTimeouts,
    check_batch_rows,
    columns_from_schema,
)
from syncline.connectors.sources._sqlguard import check_select

__all__ = ["DbApiSource"]

log = logging.getLogger(__name__)

C = TypeVar("C")
T = TypeVar("T")
K = TypeVar("K", bound=QueryTimeouts)


class DbApiSource(ABC, Generic[C, K]):
    """A SQL source reached through a DB-API driver; one connection per statement."""

    config_model: ClassVar[type[BaseModel]]
    dialect: ClassVar[str]
    # The driver's base exception: what ``_error`` turns into a SourceError.
    driver_error: ClassVar[type[Exception]]

    def __init__(self, config: K, label: str, closer: Callable[[C], None]) -> None:
        self.config: K = config
        self._label = label
        self._conns: OpenConnections[C] = OpenConnections(closer)
        # Cancels of statements running on connections the driver path opened itself.
        self._cancels: list[Callable[[], None]] = []

    @abstractmethod
    def _open(self, timeout: float) -> C:
        """A new connection whose statements stop after ``timeout`` seconds (0: never).

        Raises:
            SourceError: the database cannot be reached or opened.
        """

    @abstractmethod
    def _error(self, exc: Exception) -> SourceError:
        """The driver's exception as a SourceError (retryable when waiting may help)."""

    @abstractmethod
    def _schema_on(self, conn: C, sql: str) -> pa.Schema:
        """The Arrow schema of ``sql`` (already guarded), read without fetching rows."""

    @abstractmethod
    def _batches(self, conn: C, sql: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Stream ``sql`` (already guarded) as batches of ``batch_rows`` rows."""

    def _cancel(self, conn: C) -> None:
        """Ask the server to cancel the statement running on ``conn`` (from another thread)."""

    def interrupt(self) -> None:
        """Cancel every statement running now, from another thread (the run must stop):
        the read in progress fails at once instead of streaming to its end."""
        cancels = [partial(self._cancel, c) for c in self._conns.each()] + list(self._cancels)
        for cancel in cancels:
            try:
                cancel()
            except Exception:  # the statement ended meanwhile, or the server is gone
                log.debug("cancelling a statement of %s failed", self._label, exc_info=True)

    def _ping(self, conn: C) -> Any:
        """The row ``SELECT 1`` returns on ``conn``."""
        cur: Any = conn.cursor()  # type: ignore[attr-defined]
        try:
            cur.execute("SELECT 1")
            return cur.fetchone()
        finally:
            cur.close()

    def _connect(self, timeout: float) -> C:
        return self._conns.add(self._open(timeout))

    def _release(self, conn: C) -> None:
        self._conns.release(conn)

    def _call(self, timeout: float, work: Callable[[C], T]) -> T:
        """``work`` on a connection of its own, driver errors turned into SourceErrors."""
        conn = self._connect(timeout)
        try:
            return work(conn)
        except self.driver_error as exc:
            raise self._error(exc) from exc
        finally:
            self._release(conn)

    def guard(self, sql: str) -> str:
        """``sql`` ready to run, once the guard has found it one read-only SELECT.

        Raises:
            SqlGuardError: anything else.
        """
        return check_select(sql, dialect=self.dialect)

    def check(self) -> CheckResult:
        """Connect and run ``SELECT 1``; never raises."""
        try:
            conn = self._connect(self.config.preview_timeout_seconds)
            try:
                row = self._ping(conn)
            finally:
                self._release(conn)
        except SourceError as exc:
            return CheckResult(ok=False, message=str(exc))
        except self.driver_error as exc:
            return CheckResult(ok=False, message=str(self._error(exc)))
        if row is None or tuple(row) != (1,):
            return CheckResult(ok=False, message=f"{self._label}: SELECT 1 returned {row!r}")
        return CheckResult(ok=True, message=f"connected to {self._label}")

    def columns(self, sql: str) -> list[Column]:
        """The model's columns, read without fetching rows (the preview timeout applies).

        Raises:
            SourceError: the source is unreachable or the SQL is refused or invalid.
        """
        return columns_from_schema(self.schema(sql))

    def schema(self, sql: str) -> pa.Schema:
        """The Arrow schema ``read(sql)`` yields.

        Raises:
            SourceError: the source is unreachable or the SQL is refused or invalid.
        """
        text = self.guard(sql)
        return self._call(self.config.preview_timeout_seconds, lambda c: self._schema_on(c, text))

    def read(self, sql: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Stream the model as record batches of ``batch_rows`` rows (the last may be shorter).

        An empty result yields no batch at all. The run's statement timeout applies.

        Raises:
            SourceError: the source is unreachable, the SQL is refused, or the query fails,
                even mid-stream.
        """
        return self._stream(sql, batch_rows, self.config.statement_timeout_seconds)

    def preview(self, sql: str, *, limit: int) -> Iterator[pa.RecordBatch]:
        """Like ``read`` with ``batch_rows=limit``, under the shorter preview timeout."""
        return self._stream(sql, limit, self.config.preview_timeout_seconds)

    def _stream(self, sql: str, batch_rows: int, timeout: float) -> Iterator[pa.RecordBatch]:
        check_batch_rows(batch_rows)
        yield from self._read_guarded(self.guard(sql), batch_rows, timeout)

    def _read_guarded(self, sql: str, batch_rows: int, timeout: float) -> Iterator[pa.RecordBatch]:
        """Stream ``sql``, already guarded, on a connection of its own."""
        conn = self._connect(timeout)
        try:
            yield from self._batches(conn, sql, batch_rows)
        except self.driver_error as exc:
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
