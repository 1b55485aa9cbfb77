"""The delivery loop: send pending outbox rows, retry with backoff, run the timed checks.

A pass claims due rows with a conditional UPDATE (a lease), so two processes never send the
same row. A send is retried a few times at once (tenacity, exponential backoff); a row that
still fails waits longer each pass and is marked ``failed`` after ``MAX_ATTEMPTS``. Nothing
here touches a run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from tenacity import Retrying, stop_after_attempt, wait_exponential

from syncline.alerts.channels import Alert, send
from syncline.alerts.watch import check_freshness, check_running
from syncline.context import AppContext
from syncline.observability.loop import periodic
from syncline.observability.metrics import alert_delivered
from syncline.store.alert_tables import AlertChannel, AlertEvent
from syncline.store.tables import utcnow

__all__ = ["MAX_ATTEMPTS", "alert_loop", "deliver_pending", "run_checks", "to_alert"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6  # passes; each pass tries up to TRIES times
TRIES = 3
LEASE = timedelta(seconds=120)
BATCH = 50


def to_alert(ctx: AppContext, event: AlertEvent) -> Alert:
    """The message of an outbox row, with links to the run and its rejected rows."""
    base = ctx.settings.public_url.rstrip("/")
    run_url = rejected_url = None
    if event.run_id and event.sync_id:
        run_url = f"{base}/ui/syncs/{event.sync_id}/runs/{event.run_id}"
        rejected_url = (
            f"{base}/api/v1/workspaces/{event.workspace_id}/syncs/{event.sync_id}"
            f"/runs/{event.run_id}/records?status=failed"
        )
    return Alert(
        id=event.id,
        type=event.alert_type,
        kind=event.kind,
        message=event.message,
        workspace_id=event.workspace_id,
        sync_id=event.sync_id,
        run_id=event.run_id,
        created_at=event.created_at.isoformat(),
        run_url=run_url,
        rejected_url=rejected_url,
        details=event.payload or {},
    )


def send_with_retry(type: str, config: dict[str, Any], alert: Alert, *, wait: float = 0.2) -> None:
    """Send, retrying at once with exponential backoff; the last error propagates."""
    for attempt in Retrying(
        stop=stop_after_attempt(TRIES),
        wait=wait_exponential(multiplier=wait, max=5 * wait),
        reraise=True,
    ):
        with attempt:
            send(type, config, alert)


def _claim(ctx: AppContext) -> list[str]:
    now = utcnow()
    with ctx.sessions.begin() as s:
        due = list(
            s.scalars(
                sa.select(AlertEvent.id)
                .where(AlertEvent.status == "pending", AlertEvent.next_attempt_at <= now)
                .order_by(AlertEvent.created_at)
                .limit(BATCH)
            )
        )
        claimed = []
        for event_id in due:
            hit = s.execute(
                sa.update(AlertEvent)
                .where(
                    AlertEvent.id == event_id,
                    AlertEvent.status == "pending",
                    AlertEvent.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + LEASE)
            )
            if getattr(hit, "rowcount", 0):
                claimed.append(event_id)
    return claimed


def deliver_one(ctx: AppContext, event_id: str, *, wait: float = 0.2) -> bool:
    """Send one claimed row and record the attempt; whether it was delivered."""
    with ctx.sessions() as s:
        event = s.get(AlertEvent, event_id)
        if event is None:
            return False
        channel = s.get(AlertChannel, event.channel_id) if event.channel_id else None
        alert = to_alert(ctx, event)
        target = (channel.type, ctx.secrets.decrypt_config(channel.config)) if channel else None
    error = ""
    if target is None:
        error = "the channel was deleted"
    else:
        try:
            send_with_retry(target[0], target[1], alert, wait=wait)
        except Exception as exc:  # any failure is recorded, never raised
            error = f"{type(exc).__name__}: {exc}"[:2000]
    alert_delivered(target[0] if target else "deleted", ok=not error)
    now = utcnow()
    with ctx.sessions.begin() as s:
        event = s.get(AlertEvent, event_id)
        if event is None:
            return False
        event.attempts += 1
        if not error:
            event.status, event.delivered_at, event.last_error = "delivered", now, ""
        else:
            event.last_error = error
            if event.attempts >= MAX_ATTEMPTS or target is None:
                event.status = "failed"
            else:
                backoff = ctx.settings.alert_interval * (2**event.attempts)
                event.next_attempt_at = now + timedelta(seconds=min(backoff, 3600.0))
            log.warning("alert %s to channel %s failed: %s", event_id, event.channel_id, error)
    return not error


def deliver_pending(ctx: AppContext, *, wait: float = 0.2) -> int:
    """Deliver every due outbox row once; how many were delivered."""
    return sum(deliver_one(ctx, event_id, wait=wait) for event_id in _claim(ctx))


def run_checks(ctx: AppContext) -> int:
    """Runtime rules of running runs and freshness SLAs; how many alerts were written."""
    with ctx.sessions.begin() as s:
        return check_running(s) + check_freshness(s)


@contextmanager
def alert_loop(ctx: AppContext, *, interval: float | None = None) -> Iterator[None]:
    """The process hook: every ``interval`` seconds, check and deliver, until shutdown."""
    every = interval if interval is not None else ctx.settings.alert_interval

    def one_pass() -> None:
        run_checks(ctx)
        deliver_pending(ctx)

    with periodic("syncline-alerts", every, one_pass, log):
        yield
