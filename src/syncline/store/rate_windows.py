"""The shared rate budgets of destination accounts, in the metadata store (PostgreSQL).

One row per account key holds the sliding-window log of its requests (epoch seconds of the
database's clock, so workers on different hosts agree), the limit the vendor reported and a
``Retry-After`` block. Every operation is one short transaction that locks the row
(``SELECT ... FOR UPDATE``), applies the rule of ``domain.rate_windows`` and writes it back,
so two workers can never both take the last slot of a window. It satisfies the connectors'
``RateWindows`` protocol structurally (the store may not import connectors); the composition
root installs it when the store is PostgreSQL (``services.connector_policy``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, mapped_column

from syncline.domain.rate_windows import Grant, Limit, decide, fill, prune, resettle
from syncline.store.tables import Base, JSONType

__all__ = ["PgRateWindows", "RateWindow"]


class RateWindow(Base):
    """One account's budget: ``stamps`` are the requests of the current window."""

    __tablename__ = "rate_windows"

    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    stamps: Mapped[list[float]] = mapped_column(JSONType, nullable=False, default=list)
    max_requests: Mapped[int | None] = mapped_column(sa.Integer)
    window_seconds: Mapped[float | None] = mapped_column(sa.Float)
    blocked_until: Mapped[float] = mapped_column(sa.Float, nullable=False, default=0.0)


_T = RateWindow.__table__
_NOW = sa.cast(sa.func.extract("epoch", sa.func.clock_timestamp()), sa.Float)
_SELECT = sa.select(_T, _NOW.label("now")).where(_T.c.key == sa.bindparam("key")).with_for_update()


class PgRateWindows:
    """``RateWindows`` on PostgreSQL rows locked per key.

    One connection of its own, kept open and shared by the process's threads under a lock,
    with ``synchronous_commit = off``: a decision is then well under a millisecond of database
    work, where a pool checkout, ping and reset plus a WAL fsync per commit cost ~20 ms a
    request on a loaded machine. A crash can lose the last decisions; the budget refills
    within one window, and the vendor's headers re-sync it.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._mutex = threading.Lock()
        self._conn: sa.Connection | None = None

    @contextmanager
    def _locked(self, key: str) -> Iterator[tuple[sa.Connection, dict[str, Any], float]]:
        """The key's row, locked until the transaction commits (created on first use)."""
        with self._mutex:
            if self._conn is None or self._conn.closed or self._conn.invalidated:
                self._conn = self.engine.connect()
                # A budget lost in a crash refills within one window: no fsync per request.
                self._conn.exec_driver_sql("SET synchronous_commit = off")
                self._conn.commit()
            conn = self._conn
            try:
                row = conn.execute(_SELECT, {"key": key}).one_or_none()
                if row is None:
                    conn.execute(
                        pg_insert(RateWindow)
                        .values(key=key, stamps=[], blocked_until=0.0)
                        .on_conflict_do_nothing()
                    )
                    row = conn.execute(_SELECT, {"key": key}).one()
                data = dict(row._mapping)
                yield conn, data, float(data.pop("now"))
                conn.commit()
            except BaseException:
                self._reset(conn)
                raise

    def _reset(self, conn: sa.Connection) -> None:
        try:
            conn.rollback()
        except sa.exc.SQLAlchemyError:
            conn.invalidate()
            self._conn = None

    def close(self) -> None:
        """Return the connection (a context being disposed)."""
        with self._mutex:
            conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sa.exc.SQLAlchemyError:  # the database went away first: nothing to give back
                conn.invalidate()

    def _save(self, conn: sa.Connection, key: str, **values: Any) -> None:
        conn.execute(sa.update(RateWindow).where(_T.c.key == key).values(**values))

    def take(self, key: str, default: Limit) -> Grant:
        """A slot now, or how long until one frees (the learned limit wins over ``default``)."""
        with self._locked(key) as (conn, row, now):
            limit = default
            if row["max_requests"] and row["window_seconds"]:
                limit = Limit(int(row["max_requests"]), float(row["window_seconds"]))
            stamps, grant = decide(list(row["stamps"]), now, limit, float(row["blocked_until"]))
            if grant.granted:
                self._save(conn, key, stamps=stamps)
            return grant

    def settle(self, key: str, stamp: float) -> None:
        """Move a granted stamp to now (the answer arrived)."""
        self.answered(key, stamp, None, None)

    def observe(self, key: str, used: int | None, limit: Limit | None) -> None:
        """Learn the vendor's limit; hold at least the ``used`` requests it counted."""
        self.answered(key, None, used, limit)

    def answered(
        self, key: str, stamp: float | None, used: int | None, limit: Limit | None
    ) -> None:
        """Settle ``stamp`` and observe the vendor's counts, in one transaction."""
        with self._locked(key) as (conn, row, now):
            stamps, values = list(row["stamps"]), dict[str, Any]()
            if stamp is not None:
                stamps = resettle(stamps, stamp, now)
            if limit is not None and (
                row["max_requests"] != limit.requests or row["window_seconds"] != limit.window
            ):
                values.update(max_requests=limit.requests, window_seconds=limit.window)
            window = limit.window if limit is not None else row["window_seconds"]
            if used is not None and window:
                stamps = fill(prune(stamps, now, float(window)), now, used)
            if stamps != row["stamps"]:
                values["stamps"] = stamps
            if values:
                self._save(conn, key, **values)

    def block(self, key: str, seconds: float) -> None:
        """No request for ``seconds`` from now (``Retry-After``), for every worker."""
        with self._locked(key) as (conn, row, now):
            until = max(float(row["blocked_until"]), now + seconds)
            self._save(conn, key, blocked_until=until)
