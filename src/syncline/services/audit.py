"""The audit trail: who changed what and when, in the transaction that made the change.

A ``before_flush`` listener turns every insert, update and delete of an audited object into
an ``audit_events`` row (inserted right after the flush, same transaction), so the API, the
CLI and a config apply are covered alike and an event never outlives a rolled-back change.
The actor is the request's API token (``session.info["audit_actor"]``, set by the API's
authentication) or, for local commands, :func:`acting_as`. Without an actor (workers, the
scheduler) nothing is recorded: those are not mutations by a person.

Before/after hold the changed columns only; encrypted configs and token hashes are never
copied (``"<encrypted>"``), and every text goes through the secrets redaction.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, UOWTransaction

from syncline.security.redact import redact
from syncline.services.common import Page, PageRequest, paginate
from syncline.store.alert_tables import AlertChannel
from syncline.store.tables import (
    ApiToken,
    AuditEvent,
    Destination,
    Model,
    Source,
    Sync,
    SyncRun,
    Workspace,
    new_id,
)

AUDITED: dict[type[Any], str] = {
    Workspace: "workspace",
    ApiToken: "token",
    Source: "source",
    Model: "model",
    Destination: "destination",
    Sync: "sync",
    SyncRun: "run",
    AlertChannel: "alert_channel",
}
HIDDEN = {"config", "token_hash", "state"}
IGNORED = {"updated_at", "created_at", "last_heartbeat_at", "last_used_at"}


@dataclass(frozen=True)
class Actor:
    token_id: str | None
    name: str
    channel: str  # api | cli | config


_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("audit_actor", default=None)


@contextmanager
def acting_as(actor: Actor) -> Iterator[None]:
    """Attribute the mutations made inside (in this thread) to ``actor`` (CLI, config apply)."""
    reset = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(reset)


def set_session_actor(session: Session, token: ApiToken, channel: str = "api") -> None:
    """Attribute this session's mutations to an API token (the API's authentication)."""
    session.info["audit_actor"] = Actor(token.id, token.name, channel)


def _value(key: str, value: Any) -> Any:
    if key in HIDDEN:
        return "<encrypted>" if value is not None else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float | list | dict):
        return value
    return str(value)


def _columns(obj: Any) -> dict[str, Any]:
    return {
        c.key: _value(c.key, getattr(obj, c.key, None))
        for c in sa.inspect(obj).mapper.column_attrs
        if c.key not in IGNORED
    }


def _changes(obj: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    state = sa.inspect(obj)
    for attr in state.mapper.column_attrs:
        if attr.key in IGNORED:
            continue
        hist = state.attrs[attr.key].history
        if hist.has_changes():
            before[attr.key] = _value(attr.key, hist.deleted[0] if hist.deleted else None)
            after[attr.key] = _value(attr.key, hist.added[0] if hist.added else None)
    return before, after


def _workspace_of(obj: Any) -> str | None:
    return obj.id if isinstance(obj, Workspace) else getattr(obj, "workspace_id", None)


def _before_flush(session: Session, _ctx: UOWTransaction, _instances: object) -> None:
    actor = session.info.get("audit_actor") or _actor.get()
    if actor is None:
        return
    events: list[dict[str, Any]] = []
    for verb, objs in (
        ("create", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for obj in list(objs):
            kind = AUDITED.get(type(obj))
            if kind is None or (verb == "delete" and isinstance(obj, Workspace)):
                continue  # a deleted workspace takes its trail with it
            if verb == "create":
                if isinstance(getattr(obj, "id", None), type(None)):
                    obj.id = new_id()  # the column default, drawn now so the event names it
                before, after = None, _columns(obj)
            elif verb == "update":
                changed = _changes(obj)
                if not changed[1]:
                    continue
                before, after = changed
            else:
                before, after = _columns(obj), None
            workspace_id = _workspace_of(obj)
            if workspace_id is None:
                continue
            events.append(
                {
                    "workspace_id": workspace_id,
                    "actor_token_id": actor.token_id,
                    "actor_name": actor.name,
                    "channel": actor.channel,
                    "action": f"{kind}.{verb}",
                    "object_type": kind,
                    "object_id": str(getattr(obj, "id", "") or "") or None,
                    "before": before,
                    "after": after,
                }
            )
    if events:
        session.info.setdefault("audit_pending", []).extend(events)


def _after_flush(session: Session, _ctx: UOWTransaction) -> None:
    """Insert the events once the objects they name exist (foreign keys), same transaction."""
    events = session.info.pop("audit_pending", None)
    if events:
        session.connection().execute(sa.insert(cast(sa.Table, AuditEvent.__table__)), events)


def install() -> None:
    """Listen on every session (idempotent; called by the composition root)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
        event.listen(Session, "after_flush", _after_flush)


def list_events(
    session: Session,
    *,
    workspace_id: str,
    page: PageRequest,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[AuditEvent]:
    """A page of a workspace's audit events; ``actor`` matches a token id or name."""
    stmt = sa.select(AuditEvent).where(AuditEvent.workspace_id == workspace_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if object_type:
        stmt = stmt.where(AuditEvent.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEvent.object_id == object_id)
    if actor:
        stmt = stmt.where(
            sa.or_(AuditEvent.actor_token_id == actor, AuditEvent.actor_name == actor)
        )
    if since:
        stmt = stmt.where(AuditEvent.created_at >= since)
    if until:
        stmt = stmt.where(AuditEvent.created_at < until)
    return paginate(session, stmt, page=page, order_by=[AuditEvent.created_at, AuditEvent.id])
