"""The alert rules of seeds 001/002, judged on a run's outcome inside its transaction.

``on_run_transition`` is the hook ``bootstrap`` registers with ``runs.hooks``: it reads the
sync's ``alert_attributes`` and writes outbox rows (``alerts/outbox.py``). It works in a
savepoint and swallows its own errors, so an alert problem never rolls back or fails a run.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.alerts.outbox import clear, raise_alert, write_events
from syncline.domain.enums import RunStatus
from syncline.domain.health import sync_health
from syncline.store.tables import Sync, SyncRun, utcnow

__all__ = [
    "DEVIATION",
    "FAILURE",
    "FRESHNESS",
    "FULL_SYNC",
    "INVALID",
    "RUNTIME",
    "STATUS",
    "clear_freshness",
    "evaluate_end",
    "on_run_transition",
    "runtime_minutes",
]

log = logging.getLogger(__name__)

FAILURE = "FailureAlertConfiguration"
INVALID = "InvalidRecordPercentAlertConfiguration"
FULL_SYNC = "FullSyncTriggerAlertConfiguration"
DEVIATION = "RecordCountDeviationAlertConfiguration"
RUNTIME = "RuntimeAlertConfiguration"
STATUS = "StatusAlertConfiguration"
FRESHNESS = "FreshnessSLA"
ENDED = (RunStatus.COMPLETED.value, RunStatus.FAILED.value)


def _number(rule: dict[str, Any], names: tuple[str, ...], default: float) -> float:
    for name in names:
        value = rule.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return default


def runtime_minutes(rule: dict[str, Any]) -> float:
    """A runtime rule's limit in minutes (``threshold`` or ``minutes``; default 60)."""
    return _number(rule, ("threshold", "minutes", "threshold_minutes"), 60.0)


def _previous(session: Session, run: SyncRun, *, completed_only: bool) -> SyncRun | None:
    statuses = (RunStatus.COMPLETED.value,) if completed_only else ENDED
    return session.scalars(
        sa.select(SyncRun)
        .where(SyncRun.sync_id == run.sync_id, SyncRun.id != run.id, SyncRun.status.in_(statuses))
        .order_by(SyncRun.completed_at.desc().nulls_last(), SyncRun.created_at.desc())
        .limit(1)
    ).first()


def _payload(sync: Sync, run: SyncRun, **extra: Any) -> dict[str, Any]:
    return {
        "sync_name": sync.name,
        "run_status": run.status,
        "rows_synced": run.rows_synced,
        "rows_failed": run.rows_failed,
        "error": run.error_message,
        **extra,
    }


def _minutes(run: SyncRun, now: datetime) -> float:
    start = run.started_at or run.created_at
    end = run.completed_at or now
    return (end - start).total_seconds() / 60.0


def evaluate_end(session: Session, sync: Sync, run: SyncRun) -> None:
    """Judge every rule of ``sync`` on the ended ``run`` and write what fires or recovers."""
    failed = run.status == RunStatus.FAILED.value
    completed = run.status == RunStatus.COMPLETED.value
    for rule in sync.alert_attributes or []:
        kind = rule.get("type")
        key = str(kind)
        args: dict[str, Any] = {"sync": sync, "run": run, "rule": rule, "key": key}
        if kind == FAILURE:
            if failed:
                msg = f"Sync {sync.name} failed: {run.error_message or run.result_reason_code}"
                raise_alert(session, **args, message=msg, payload=_payload(sync, run))
            elif completed:
                clear(session, **args, recovery=f"Sync {sync.name} recovered: the run succeeded")
        elif kind == INVALID:
            total = run.rows_synced + run.rows_failed
            share = 100.0 * run.rows_failed / total if total else 0.0
            limit = _number(rule, ("threshold", "threshold_percent", "percent"), 10.0)
            if share > limit:
                msg = f"Sync {sync.name}: {share:.1f}% of records rejected (limit {limit:g}%)"
                raise_alert(session, **args, message=msg, payload=_payload(sync, run, share=share))
            else:
                clear(session, **args)
        elif kind == FULL_SYNC:
            if completed and run.run_mode == "full":
                msg = f"Sync {sync.name} ran a full resync ({run.rows_synced} records sent)"
                raise_alert(session, **args, message=msg, payload=_payload(sync, run))
            elif completed:
                clear(session, **args)
        elif kind == DEVIATION and completed:
            _deviation(session, sync, run, rule, key)
        elif kind == RUNTIME:
            took = _minutes(run, utcnow())
            if took > runtime_minutes(rule):
                msg = f"Sync {sync.name} ran {took:.1f} minutes (limit {runtime_minutes(rule):g})"
                raise_alert(session, **args, message=msg, payload=_payload(sync, run))
            else:
                clear(session, **args)
        elif kind == STATUS and (failed or completed):
            _status(session, sync, run, rule)


def _deviation(session: Session, sync: Sync, run: SyncRun, rule: dict[str, Any], key: str) -> None:
    prev = _previous(session, run, completed_only=True)
    now_rows = (run.summary or {}).get("model_rows")
    before = (prev.summary or {}).get("model_rows") if prev is not None else None
    if not isinstance(now_rows, int) or not isinstance(before, int) or before <= 0:
        return
    moved = 100.0 * abs(now_rows - before) / before
    limit = _number(rule, ("threshold", "threshold_percent", "percent"), 50.0)
    args: dict[str, Any] = {"sync": sync, "run": run, "rule": rule, "key": key}
    if moved > limit:
        msg = f"Sync {sync.name}: model rows moved {moved:.1f}% ({before} -> {now_rows})"
        raise_alert(session, **args, message=msg, payload=_payload(sync, run, deviation=moved))
    else:
        clear(session, **args)


def _health_token(run: SyncRun) -> str:
    """The health after ``run`` as the alert payload spells it (``up_to_date``)."""
    health = sync_health(last_status=run.status, last_result_class=run.result_class)
    return health.value.replace(" ", "_")


def _status(session: Session, sync: Sync, run: SyncRun, rule: dict[str, Any]) -> None:
    """Health after each outcome (``domain.health.sync_health``, the rule the API and the
    dashboard use): failing, warning (partial) or up to date. Every change is sent
    (``send_for`` does not apply); back to up to date is a recovery notice."""
    prev = _previous(session, run, completed_only=False)
    health = _health_token(run)
    before = None if prev is None else _health_token(prev)
    if health == before or (before is None and health == "up_to_date"):
        return
    write_events(
        session,
        sync=sync,
        run=run,
        alert_type=STATUS,
        kind="recovery" if health == "up_to_date" else "alert",
        message=f"Sync {sync.name} is now {health.replace('_', ' ')} (was {before or 'new'})",
        payload=_payload(sync, run, health=health, previous_health=before),
        channel_ids=rule.get("channel_ids"),
    )


def clear_freshness(session: Session, sync: Sync, run: SyncRun) -> None:
    """A completed run makes the sync fresh again: a breached SLA recovers."""
    if run.status == RunStatus.COMPLETED.value:
        msg = f"Sync {sync.name} is fresh again"
        clear(session, sync=sync, run=run, rule={"type": FRESHNESS}, key=FRESHNESS, recovery=msg)


def on_run_transition(
    session: Session, run: SyncRun, from_status: RunStatus, to_status: RunStatus
) -> None:
    """The ``runs.hooks`` hook: on an ended run, evaluate its sync's rules (never raises)."""
    if to_status.value not in ENDED:
        return
    try:
        with session.begin_nested():
            sync = session.get(Sync, run.sync_id)
            if sync is not None and (sync.alert_attributes or sync.freshness_sla_seconds):
                evaluate_end(session, sync, run)
                clear_freshness(session, sync, run)
    except Exception:  # an alert must never fail a run
        log.exception("alert rules for run %s failed; the run is unaffected", run.id)
