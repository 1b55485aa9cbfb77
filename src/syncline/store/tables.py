"""The metadata store's tables (SQLAlchemy 2, typed ``Mapped[]``).

Portable across SQLite and PostgreSQL: ids are UUID strings, JSON is ``sa.JSON``, timestamps
are stored in UTC and always come back timezone-aware.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def new_id() -> str:
    """A fresh UUID4 as a string: the id of every row Syncline creates."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is UTC on the way in and timezone-aware on the way out.

    SQLite has no time zone type and hands back naive datetimes; this keeps both backends alike.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
Id = sa.String(36)


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


class Workspace(TimestampMixin, Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    # HMAC-SHA256 with the server pepper (security/tokens.py); legacy rows hold plain SHA-256.
    token_hash: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16), nullable=False, index=True)
    # security/roles.py: viewer, operator, editor or admin.
    role: Mapped[str] = mapped_column(
        sa.String(16), nullable=False, default="admin", server_default="admin"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UiSession(Base):
    """A dashboard login: the cookie holds a random id whose SHA-256 is ``id``, never a token."""

    __tablename__ = "ui_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    workspace_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    token_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("api_tokens.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    csrf_secret: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)


class Source(TimestampMixin, Base):
    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    type: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    # Secret values inside are Fernet tokens (see security/secrets.py), never plain text.
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)


class Model(TimestampMixin, Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    source_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("sources.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    sql: Mapped[str] = mapped_column(sa.Text, nullable=False)
    primary_key: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    # [{"name": ..., "type": ...}] discovered from the source; None until known.
    columns: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)


class Destination(TimestampMixin, Base):
    __tablename__ = "destinations"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    type: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)


class Sync(TimestampMixin, Base):
    __tablename__ = "syncs"

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    model_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("models.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    destination_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("destinations.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    # Seed 001's ``label``: a free tag, echoed as given.
    label: Mapped[str | None] = mapped_column(sa.String(255))
    # Seed 001's run mode: "triggered" (schedule or by hand) or "live" (back to back).
    mode: Mapped[str] = mapped_column(
        sa.String(16), nullable=False, default="triggered", server_default="triggered"
    )
    field_mapping: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    sync_mode: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    # A cron string or a frequency object; stored as given, JSON either way.
    schedule: Mapped[Any] = mapped_column(JSONType, nullable=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    primary_key: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="active")
    status_error: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    sync_null_values: Mapped[bool] = mapped_column(sa.Boolean, nullable=False, default=True)
    field_behavior: Mapped[str] = mapped_column(
        sa.String(32), nullable=False, default="specific_properties"
    )
    field_normalization: Mapped[str | None] = mapped_column(sa.String(32))
    field_order: Mapped[str | None] = mapped_column(sa.String(32))
    high_water_mark: Mapped[str | None] = mapped_column(sa.String(255))
    alert_attributes: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONType, nullable=False, default=list
    )
    trigger_mode: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="scheduled")
    trigger_after_sync_ids: Mapped[list[str]] = mapped_column(
        JSONType, nullable=False, default=list
    )
    execution_mode: Mapped[str] = mapped_column(sa.String(32), nullable=False, default="sequential")
    execution_config: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)
    freshness_sla_seconds: Mapped[int | None] = mapped_column(sa.Integer)
    max_auto_resume_attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=2)
    created_by: Mapped[str | None] = mapped_column(Id)
    last_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_id: Mapped[str | None] = mapped_column(Id)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # Engine state that must survive workers: e.g. the committed high-water mark.
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)


class LifecycleMixin(TimestampMixin):
    """The columns a run and a shard share: status, owner, heartbeat and how it ended.

    Only ``syncline.runs`` writes ``status`` (through ``runs/transitions.py``).
    """

    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="pending")
    executor_id: Mapped[str | None] = mapped_column(sa.String(255))
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rows_synced: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    rows_failed: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    result_class: Mapped[str | None] = mapped_column(sa.String(16))
    result_reason_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False, default=dict)


class SyncRun(LifecycleMixin, Base):
    __tablename__ = "sync_runs"
    __table_args__ = (
        # The database itself guarantees at most one pending-or-running run per sync.
        sa.Index(
            "uq_sync_runs_one_active",
            "sync_id",
            unique=True,
            sqlite_where=sa.text("status IN ('pending', 'running')"),
            postgresql_where=sa.text("status IN ('pending', 'running')"),
        ),
        sa.Index("ix_sync_runs_sync_created", "sync_id", "created_at"),
        sa.Index("ix_sync_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    sync_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("syncs.id", ondelete="CASCADE"), nullable=False
    )
    workspace_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False, index=True
    )
    triggered_by: Mapped[str | None] = mapped_column(sa.String(64))
    trigger_ref: Mapped[str | None] = mapped_column(sa.String(255))
    attempt_number: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=1)
    attempt_root_run_id: Mapped[str | None] = mapped_column(Id)
    previous_attempt_run_id: Mapped[str | None] = mapped_column(Id)
    next_attempt_run_id: Mapped[str | None] = mapped_column(Id)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_requested_by: Mapped[str | None] = mapped_column(sa.String(64))
    cancel_reason: Mapped[str | None] = mapped_column(sa.Text)
    run_mode: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="incremental")
    execution_mode: Mapped[str] = mapped_column(sa.String(32), nullable=False, default="sequential")


class RunShard(LifecycleMixin, Base):
    """One hash partition of a fan-out run, executed by whichever worker claims it.

    The run stays ``running`` while its shards work; it ends when every shard has, with the
    shards' counts summed. A shard whose worker died goes back to pending and is resumed.
    """

    __tablename__ = "run_shards"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "shard_index", name="uq_run_shards_index"),
        sa.Index("ix_run_shards_status", "status"),
    )

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    run_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("sync_runs.id", ondelete="CASCADE"), nullable=False
    )
    sync_id: Mapped[str] = mapped_column(Id, nullable=False)
    shard_index: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    shard_count: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    attempts: Mapped[int] = mapped_column(sa.Integer, nullable=False, default=0)
    # Rows acknowledged by earlier executions of this shard (a worker died or stopped).
    rows_carried: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)


class RunRecord(Base):
    __tablename__ = "run_records"
    __table_args__ = (sa.Index("ix_run_records_run_status", "run_id", "status", "id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("sync_runs.id", ondelete="CASCADE"), nullable=False
    )
    sync_id: Mapped[str] = mapped_column(Id, nullable=False)
    workspace_id: Mapped[str] = mapped_column(Id, nullable=False)
    primary_key: Mapped[str | None] = mapped_column(sa.Text)
    operation: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="failed")
    error_class: Mapped[str] = mapped_column(sa.String(64), nullable=False, default="")
    error_message: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class SnapshotSegment(Base):
    """One piece of a sync's snapshot ``(primary_key, row_hash)`` kept in the metadata store.

    Used when workers run on several machines: every worker reaches the metadata store.
    ``data`` is a Parquet file; ``kind`` says whether it is a full base or a delta.
    """

    __tablename__ = "snapshot_segments"
    __table_args__ = (sa.UniqueConstraint("sync_id", "seq", name="uq_snapshot_segments_seq"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    sync_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("syncs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    seq: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(8), nullable=False)
    run_id: Mapped[str | None] = mapped_column(Id)
    rows: Mapped[int] = mapped_column(sa.BigInteger, nullable=False, default=0)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class CompatId(Base):
    """A stable integer id for an object of the compatibility API (its clients want integers).

    One row per ``(kind, uuid)``, created the first time the object is shown there; the integer
    is accepted back in paths and bodies and resolved to the UUID.
    """

    __tablename__ = "compat_ids"
    __table_args__ = (sa.UniqueConstraint("kind", "uuid", name="uq_compat_ids_kind_uuid"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    kind: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    uuid: Mapped[str] = mapped_column(Id, nullable=False)


class RunLog(Base):
    """One log line a run wrote (bounded per run; docs/operations.md, "Logs")."""

    __tablename__ = "run_logs"
    __table_args__ = (sa.Index("ix_run_logs_run", "run_id", "id"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("sync_runs.id", ondelete="CASCADE"), nullable=False
    )
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    level: Mapped[str] = mapped_column(sa.String(16), nullable=False)
    logger: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    message: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")


class AuditEvent(Base):
    """Who changed what, when: every mutation through the API, the CLI or a config apply."""

    __tablename__ = "audit_events"
    __table_args__ = (sa.Index("ix_audit_events_workspace_created", "workspace_id", "created_at"),)

    id: Mapped[str] = mapped_column(Id, primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        Id, sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False
    )
    actor_token_id: Mapped[str | None] = mapped_column(Id)
    actor_name: Mapped[str] = mapped_column(sa.String(255), nullable=False, default="")
    channel: Mapped[str] = mapped_column(sa.String(16), nullable=False, default="api")
    action: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    object_type: Mapped[str] = mapped_column(sa.String(32), nullable=False)
    object_id: Mapped[str | None] = mapped_column(sa.String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
