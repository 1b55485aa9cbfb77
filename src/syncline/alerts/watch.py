"""Checks that need no run to end: a run running too long, a sync past its freshness SLA.

Called by the delivery loop each pass (``alerts/worker.py``), one transaction per pass; the
per-rule state keeps a still-running run or a still-stale sync from alerting every pass.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.alerts.outbox import raise_alert
from syncline.alerts.rules import FRESHNESS, RUNTIME, runtime_minutes
from syncline.domain.enums import RunStatus
from syncline.store.tables import Sync, SyncRun, utcnow

__all__ = ["check_freshness", "check_running"]


def check_running(session: Session) -> int:
    """Fire runtime rules of runs still running past their limit; how many fired."""
    now = utcnow()
    fired = 0
    rows = session.execute(
        sa.select(SyncRun, Sync)
        .join(Sync, Sync.id == SyncRun.sync_id)
        .where(SyncRun.status == RunStatus.RUNNING.value)
    ).all()
    for run, sync in rows:
        for rule in sync.alert_attributes or []:
            if rule.get("type") != RUNTIME:
                continue
            limit = runtime_minutes(rule)
            took = (now - (run.started_at or run.created_at)).total_seconds() / 60.0
            if took <= limit:
                continue
            msg = f"Sync {sync.name} has been running {took:.1f} minutes (limit {limit:g})"
            payload = {"sync_name": sync.name, "run_status": run.status, "minutes": took}
            fired += raise_alert(
                session, sync=sync, run=run, rule=rule, key=RUNTIME, message=msg, payload=payload
            )
    return fired


def check_freshness(session: Session) -> int:
    """Fire the freshness SLA of syncs whose last success (or creation) is too old."""
    now = utcnow()
    fired = 0
    syncs = session.scalars(
        sa.select(Sync).where(Sync.freshness_sla_seconds.is_not(None), Sync.status != "paused")
    ).all()
    for sync in syncs:
        assert sync.freshness_sla_seconds is not None
        since = sync.last_success_at or sync.created_at
        late = now - since - timedelta(seconds=sync.freshness_sla_seconds)
        if late <= timedelta(0):
            continue
        msg = (
            f"Sync {sync.name} is stale: last success {since.isoformat()}, "
            f"SLA {sync.freshness_sla_seconds}s"
        )
        payload = {"sync_name": sync.name, "last_success_at": since.isoformat()}
        rule = {"type": FRESHNESS, "send_for": "first_time"}
        fired += raise_alert(
            session, sync=sync, run=None, rule=rule, key=FRESHNESS, message=msg, payload=payload
        )
    return fired
