"""The alert tables: channels, the outbox and the state behind ``send_for: first_time``.

Kept apart from ``tables.py`` for size; ``syncline.store`` imports this module, so the tables
are on ``Base.metadata`` whenever the store is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from syncline.store.tables import Base, Id, JSONType, TimestampMixin, UTCDateTime, new_id, utcnow

__all__ = ["AlertChannel", "AlertEvent", "AlertState"]


class AlertChannel(TimestampMixin, Base):
    """Where a workspace's alerts go: a JSON webhook, a Slack incoming webhook or SMTP email."""

    __tablename__ = "alert_channels"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    type: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)


class AlertEvent(Base):
    """The alert outbox: one row per alert and channel, written with the run's transition.

    ``status`` is pending until the delivery loop sends it (delivered) or gives up (failed);
    a row with no channel (the workspace has none) is ``undeliverable`` but still listed.
    """

    __tablename__ = "alert_events"
    __table_args__ = (
        sa.Index("ix_alert_events_status_next", "status", "next_attempt_at"),
        sa.Index("ix_alert_events_workspace_created", "workspace_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    sync_id: Mapped[str | None] = mapped_column(Id, index=True)
    run_id: Mapped[str | None] = mapped_column(Id)
    channel_id: Mapped[str | None] = mapped_column(
        Id, sa.ForeignKey("alert_channels.id", ondelete="SET NULL")
    )
    alert_type: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="alert")
    message: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    last_error: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class AlertState(Base):
    """Whether a sync's alert rule is firing: ``first_time`` rules stay quiet while it is."""

    __tablename__ = "alert_states"

    sync_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("syncs.id", ondelete="CASCADE"), primary_key=True
    )
    rule: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(Id)
    since: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
