"""The scheduler's tick: due syncs become pending runs (``runs.start`` creates them).

Safe with several schedulers running: on PostgreSQL a transaction-scoped advisory lock lets one
tick act at a time, and each slot is consumed by moving ``next_run_at`` forward in the same
transaction that creates the run, so a slot fires once. A scheduler that was down fires a
missed schedule once on start-up (next_run_at is in the past), not once per missed slot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.context import AppContext
from syncline.domain.enums import SyncStatus, TriggerMode
from syncline.domain.schedule import next_fire_time, parse_schedule
from syncline.runs.start import start_unless_active
from syncline.store.tables import Sync, utcnow

log = logging.getLogger(__name__)

# Arbitrary but fixed: the advisory lock every Syncline scheduler takes on PostgreSQL.
SCHEDULER_LOCK_KEY = 0x53594E43  # "SYNC"


def _lock(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: one process writes at a time anyway
    return bool(session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(SCHEDULER_LOCK_KEY))))


def tick(ctx: AppContext, *, now: datetime | None = None) -> list[str]:
    """Create runs for every sync whose schedule is due; returns the new run ids."""
    now = now or utcnow()
    created: list[str] = []
    with ctx.sessions.begin() as s:
        if not _lock(s):
            return []
        due = s.scalars(
            sa.select(Sync)
            .where(
                Sync.status == SyncStatus.ACTIVE.value,
                Sync.trigger_mode == TriggerMode.SCHEDULED.value,
                sa.or_(Sync.next_run_at.is_(None), Sync.next_run_at <= now),
            )
            .with_for_update(skip_locked=True)
        ).all()
        for sync in due:
            if sync.schedule in (None, ""):
                continue
            try:
                schedule = parse_schedule(sync.schedule)
            except ValueError:
                log.warning("sync %s has an invalid schedule %r", sync.id, sync.schedule)
                continue
            slot = sync.next_run_at
            sync.next_run_at = next_fire_time(schedule, now)
            if slot is None or not schedule.fires:
                continue  # newly scheduled: its first slot is the next one
            run, new = start_unless_active(
                s,
                queue=ctx.queue,
                sync=sync,
                triggered_by="schedule",
                trigger_ref=f"schedule:{slot.isoformat()}",
            )
            if new and run is not None:
                created.append(run.id)
    return created


@contextmanager
def scheduler_loop(ctx: AppContext, *, interval: float | None = None) -> Iterator[None]:
    """Tick every ``interval`` seconds on a daemon thread until the context exits."""
    stop = threading.Event()
    every = interval if interval is not None else ctx.settings.scheduler_interval

    def loop() -> None:
        while True:
            try:
                tick(ctx)
            except Exception:
                log.exception("scheduler tick failed")
            if stop.wait(every):
                return

    thread = threading.Thread(target=loop, name="syncline-scheduler", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def describe(ctx: AppContext) -> dict[str, Any]:
    """How many syncs are scheduled (for logs and health output)."""
    with ctx.sessions() as s:
        n = s.scalar(
            sa.select(sa.func.count())
            .select_from(Sync)
            .where(
                Sync.status == SyncStatus.ACTIVE.value,
                Sync.trigger_mode == TriggerMode.SCHEDULED.value,
            )
        )
    return {"scheduled_syncs": int(n or 0)}
