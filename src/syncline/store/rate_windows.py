"""The shared rate budgets of destination accounts, in the metadata store (PostgreSQL).

One row per account key holds the sliding-window log of its requests (epoch seconds of the
database's clock, so workers on different hosts agree), the limit the vendor reported and a
``Retry-After`` block. Every operation is one short transaction that locks the row
(``SELECT ... FOR UPDATE``), applies the rule of ``domain.rate_windows`` and writes it back,
so two workers can never both take the last slot of a window. A request costs one: its
``take`` also reports the previous request's answer (``domain.rate_windows.Answer``). It
satisfies the connectors' ``RateWindows`` protocol structurally (the store may not import
connectors); the composition root installs it when the store is PostgreSQL
(``services.connector_policy``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, mapped_column

from syncline.domain.rate_windows import Answer, Grant, Limit, answer, decide, fill, prune
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

    @staticmethod
    def _limit(row: dict[str, Any]) -> Limit | None:
        if row["max_requests"] and row["window_seconds"]:
            return Limit(int(row["max_requests"]), float(row["window_seconds"]))
        return None

    @staticmethod
    def _learned(known: Limit | None, learned: Limit | None) -> dict[str, Any]:
        """The row's limit columns to write when the vendor reported another limit."""
        if learned is None or learned == known:
            return {}
        return {"max_requests": learned.requests, "window_seconds": learned.window}

    def take(
        self, key: str, default: Limit, report: Answer | None = None, hold: float = 0.0
    ) -> Grant:
        """Apply ``report`` (the client's previous answer), then a slot held ``hold`` s, or
        how long until one frees (the learned limit wins over ``default``); one transaction."""
        with self._locked(key) as (conn, row, now):
            stamps, known = list(row["stamps"]), self._limit(row)
            learned = known
            if report is not None:
                stamps, learned = answer(stamps, known, report, now)
            limit = learned or default
            stamps, grant = decide(stamps, now, limit, float(row["blocked_until"]), hold)
            values = self._learned(known, learned)
            if stamps != row["stamps"] and (grant.granted or report is not None):
                values["stamps"] = stamps
            if values:
                self._save(conn, key, **values)
            return grant

    def settle(self, key: str, stamp: float) -> None:
        """Move a granted stamp to now (the answer arrived)."""
        self.answered(key, stamp, None, None)

    def observe(self, key: str, used: int | None, limit: Limit | None) -> None:
        """Learn the vendor's limit; hold at least the ``used`` requests it counted."""
        with self._locked(key) as (conn, row, now):
            known = self._limit(row)
            learned = limit or known
            stamps = list(row["stamps"])
            if used is not None and learned is not None:
                stamps = fill(prune(stamps, now, learned.window), now, used)
            values = self._learned(known, learned)
            if stamps != row["stamps"]:
                values["stamps"] = stamps
            if values:
                self._save(conn, key, **values)

    def answered(
        self, key: str, stamp: float, used: int | None, limit: Limit | None, age: float = 0.0
    ) -> None:
        """Settle ``stamp`` (to ``age`` s ago) and observe the vendor's counts, in one
        transaction (a client's last answer, reported when no request follows)."""
        with self._locked(key) as (conn, row, now):
            known = self._limit(row)
            stamps, learned = answer(
                list(row["stamps"]), known, Answer(stamp, age, used, limit), now
            )
            self._save(conn, key, stamps=stamps, **self._learned(known, learned))

    def block(self, key: str, seconds: float) -> None:
        """No request for ``seconds`` from now (``Retry-After``), for every worker."""
        with self._locked(key) as (conn, row, now):
            until = max(float(row["blocked_until"]), now + seconds)
            self._save(conn, key, blocked_until=until)
