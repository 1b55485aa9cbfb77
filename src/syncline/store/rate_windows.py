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


class PgRateWindows:
    """``RateWindows`` on PostgreSQL rows locked per key."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def _lock(self, conn: sa.Connection, key: str) -> tuple[dict[str, Any], float]:
        conn.execute(
            pg_insert(RateWindow)
            .values(key=key, stamps=[], blocked_until=0.0)
            .on_conflict_do_nothing()
        )
        row = conn.execute(
            sa.select(_T, _NOW.label("now")).where(_T.c.key == key).with_for_update()
        ).one()
        data = dict(row._mapping)
        return data, float(data.pop("now"))

    def _save(self, conn: sa.Connection, key: str, **values: Any) -> None:
        conn.execute(sa.update(RateWindow).where(_T.c.key == key).values(**values))

    def take(self, key: str, default: Limit) -> Grant:
        """A slot now, or how long until one frees (the learned limit wins over ``default``)."""
        with self.engine.begin() as conn:
            row, now = self._lock(conn, key)
            limit = default
            if row["max_requests"] and row["window_seconds"]:
                limit = Limit(int(row["max_requests"]), float(row["window_seconds"]))
            stamps, grant = decide(list(row["stamps"]), now, limit, float(row["blocked_until"]))
            self._save(conn, key, stamps=stamps)
            return grant

    def settle(self, key: str, stamp: float) -> None:
        """Move a granted stamp to now (the answer arrived)."""
        with self.engine.begin() as conn:
            row, now = self._lock(conn, key)
            self._save(conn, key, stamps=resettle(list(row["stamps"]), stamp, now))

    def observe(self, key: str, used: int | None, limit: Limit | None) -> None:
        """Learn the vendor's limit; hold at least the ``used`` requests it counted."""
        with self.engine.begin() as conn:
            row, now = self._lock(conn, key)
            values: dict[str, Any] = {}
            if limit is not None:
                values.update(max_requests=limit.requests, window_seconds=limit.window)
            window = limit.window if limit is not None else row["window_seconds"]
            if used is not None and window:
                values["stamps"] = fill(prune(list(row["stamps"]), now, float(window)), now, used)
            if values:
                self._save(conn, key, **values)

    def block(self, key: str, seconds: float) -> None:
        """No request for ``seconds`` from now (``Retry-After``), for every worker."""
        with self.engine.begin() as conn:
            row, now = self._lock(conn, key)
            until = max(float(row["blocked_until"]), now + seconds)
            self._save(conn, key, blocked_until=until)
