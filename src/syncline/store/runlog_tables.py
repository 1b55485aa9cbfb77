"""The outbox of run logs bound for the warehouse: one row per ended run of an opted-in sync.

Written in the transaction that ends the run (``runlog/hook.py``) and worked off afterwards by
the run log loop, so writing into the warehouse never blocks or fails a run and survives a
restart. Kept apart from ``tables.py`` for size; ``syncline.store`` imports it.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from syncline.store.tables import Base, Id, UTCDateTime, utcnow

__all__ = ["RunLogExport"]


class RunLogExport(Base):
    """``status``: pending until written (``written``) or given up on (``failed``)."""

    __tablename__ = "run_log_exports"
    __table_args__ = (sa.Index("ix_run_log_exports_status_next", "status", "next_attempt_at"),)

    run_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("sync_runs.id", ondelete="CASCADE"), primary_key=True
    )
    sync_id: Mapped[str] = mapped_column(Id, nullable=False)
    workspace_id: Mapped[str] = mapped_column(Id, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    rejected_written: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    written_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
