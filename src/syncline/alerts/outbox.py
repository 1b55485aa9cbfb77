"""Writing alerts into the outbox, and the per-rule state behind ``send_for: first_time``.

Everything here runs inside the caller's transaction (the run's transition, or one pass of
the delivery loop); nothing is sent from here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.store.alert_tables import AlertChannel, AlertEvent, AlertState
from syncline.store.tables import Sync, SyncRun, utcnow

__all__ = ["clear", "is_active", "raise_alert", "write_events"]


def _channels(session: Session, workspace_id: str, channel_ids: Any) -> list[str | None]:
    stmt = sa.select(AlertChannel.id).where(AlertChannel.workspace_id == workspace_id)
    if isinstance(channel_ids, list) and channel_ids:
        stmt = stmt.where(AlertChannel.id.in_([str(c) for c in channel_ids]))
    ids: list[str | None] = list(session.scalars(stmt.order_by(AlertChannel.created_at)))
    return ids or [None]


def write_events(
    session: Session,
    *,
    sync: Sync,
    run: SyncRun | None,
    alert_type: str,
    kind: str,
    message: str,
    payload: dict[str, Any],
    channel_ids: Any = None,
) -> int:
    """One outbox row per target channel (one undeliverable row when there is none)."""
    now = utcnow()
    n = 0
    for channel_id in _channels(session, sync.workspace_id, channel_ids):
        session.add(
            AlertEvent(
                workspace_id=sync.workspace_id,
                sync_id=sync.id,
                run_id=run.id if run is not None else None,
                channel_id=channel_id,
                alert_type=alert_type,
                kind=kind,
                message=message,
                payload=payload,
                status="pending" if channel_id else "undeliverable",
                attempts=0,
                last_error="" if channel_id else "the workspace has no alert channel",
                next_attempt_at=now,
                created_at=now,
            )
        )
        n += 1
    session.flush()
    return n


def is_active(session: Session, sync_id: str, rule: str) -> AlertState | None:
    """The state row of a firing rule, if it is firing."""
    return session.get(AlertState, (sync_id, rule))


def raise_alert(
    session: Session,
    *,
    sync: Sync,
    run: SyncRun | None,
    rule: dict[str, Any],
    key: str,
    message: str,
    payload: dict[str, Any],
) -> bool:
    """Fire ``rule`` unless it is already firing and sends only the first time; whether it did.

    A rule never fires twice for the same run (the runtime check runs every loop pass).
    """
    state = is_active(session, sync.id, key)
    run_id = run.id if run is not None else None
    if state is not None and (
        (rule.get("send_for") or "first_time") == "first_time"
        or (run_id is not None and state.run_id == run_id)
    ):
        return False
    write_events(
        session,
        sync=sync,
        run=run,
        alert_type=str(rule.get("type", key)),
        kind="alert",
        message=message,
        payload=payload,
        channel_ids=rule.get("channel_ids"),
    )
    if state is None:
        session.add(AlertState(sync_id=sync.id, rule=key, run_id=run_id, since=utcnow()))
    else:
        state.run_id = run_id
    session.flush()
    return True


def clear(
    session: Session,
    *,
    sync: Sync,
    run: SyncRun | None,
    rule: dict[str, Any],
    key: str,
    recovery: str | None = None,
) -> bool:
    """The condition no longer holds: forget the state; with ``recovery``, say so once."""
    state = is_active(session, sync.id, key)
    if state is None:
        return False
    session.delete(state)
    if recovery:
        write_events(
            session,
            sync=sync,
            run=run,
            alert_type=str(rule.get("type", key)),
            kind="recovery",
            message=recovery,
            payload={"recovered": True},
            channel_ids=rule.get("channel_ids"),
        )
    session.flush()
    return True
