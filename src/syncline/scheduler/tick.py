"""The scheduler's tick: due syncs become pending runs (``runs.start`` creates them).

Safe with several schedulers running: on PostgreSQL a transaction-scoped advisory lock lets one
tick act at a time, and each slot is consumed by moving ``next_run_at`` forward in the same
transaction that creates the run, so a slot fires once. A scheduler that was down fires a
missed schedule once on start-up (next_run_at is in the past), not once per missed slot.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.context import AppContext
from syncline.domain.enums import SyncStatus, TriggerMode
from syncline.domain.schedule import Schedule, next_fire_time, parse_schedule
from syncline.observability.metrics import scheduler_lag
from syncline.runs.batch import DueStart, start_many
from syncline.store.tables import Sync, utcnow

log = logging.getLogger(__name__)

# Arbitrary but fixed: the advisory lock every Syncline scheduler takes on PostgreSQL.
SCHEDULER_LOCK_KEY = 0x53594E43  # "SYNC"


def _lock(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite: one process writes at a time anyway
    return bool(session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(SCHEDULER_LOCK_KEY))))


CHUNK = 500  # due syncs per transaction: runs become visible chunk by chunk, locks stay short


def tick(ctx: AppContext, *, now: datetime | None = None, chunk_size: int = CHUNK) -> list[str]:
    """Create runs for every sync whose schedule is due; returns the new run ids.

    Takes newly scheduled syncs first (their first slot is set), then the due ones in slot
    order, ``chunk_size`` per committed transaction, set-based (``runs.batch.start_many``):
    a tick costs a few statements per chunk, not per sync. Each chunk reads the next
    ``chunk_size`` rows of the ``next_run_at`` index (a consumed slot leaves the due set);
    walking and sorting every remaining due sync per chunk made a tick quadratic.
    """
    now = now or utcnow()
    created: list[str] = []
    schedules: dict[str, tuple[Schedule, datetime | None] | None] = {}
    stuck: list[str] = []  # invalid schedules: never moved, so left out of later chunks
    for first_sight in (True, False):
        since: datetime | None = None
        while True:
            with ctx.sessions.begin() as s:
                if not _lock(s):
                    return created
                rows = s.execute(_due(now, first_sight, since, stuck, chunk_size)).all()
                if not rows:
                    break
                since = rows[-1].next_run_at
                moves: dict[str, datetime | None] = {}
                due: list[DueStart] = []
                for row in rows:
                    parsed = _schedule(schedules, row.id, row.schedule, now)
                    if parsed is None:
                        stuck.append(row.id)
                        continue
                    schedule, following = parsed
                    moves[row.id] = following
                    slot = row.next_run_at
                    if slot is None or not schedule.fires:
                        continue  # newly scheduled: its first slot is the next one
                    ref = f"schedule:{_iso(slot)}"
                    due.append(DueStart(row.id, row.workspace_id, row.execution_mode, ref))
                    scheduler_lag(slot if slot.tzinfo else slot.replace(tzinfo=UTC), now)
                # The slots are consumed in the statement (and transaction) creating their runs.
                created += start_many(
                    s, queue=ctx.queue, due=due, triggered_by="schedule", advance=moves
                )
            if len(rows) < chunk_size:
                break
    return created


def _due(
    now: datetime, first_sight: bool, since: datetime | None, stuck: list[str], limit: int
) -> sa.Select[Any]:
    """The next chunk: syncs never scheduled, or due ones from ``since`` in slot order."""
    query = sa.select(
        Sync.id, Sync.workspace_id, Sync.schedule, Sync.next_run_at, Sync.execution_mode
    ).where(
        Sync.status == SyncStatus.ACTIVE.value,
        Sync.trigger_mode == TriggerMode.SCHEDULED.value,
    )
    if first_sight:
        query = query.where(Sync.next_run_at.is_(None))
    else:
        query = query.where(Sync.next_run_at <= now).order_by(Sync.next_run_at)
        if since is not None:  # skip what earlier chunks walked past (paused, locked)
            query = query.where(Sync.next_run_at >= since)
    if stuck:
        query = query.where(Sync.id.notin_(stuck))
    return query.limit(limit).with_for_update(skip_locked=True)


def _iso(slot: datetime) -> str:
    """The slot as the ORM column returns it (UTC-aware), so trigger refs stay unchanged."""
    return (slot if slot.tzinfo else slot.replace(tzinfo=UTC)).isoformat()


def _schedule(
    cache: dict[str, tuple[Schedule, datetime | None] | None],
    sync_id: str,
    value: Any,
    now: datetime,
) -> tuple[Schedule, datetime | None] | None:
    """The parsed schedule and its next fire time after ``now``, once per distinct schedule."""
    if value in (None, ""):
        return None
    key = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    if key not in cache:
        try:
            schedule = parse_schedule(value)
        except ValueError:
            cache[key] = None
        else:
            cache[key] = (schedule, next_fire_time(schedule, now))
    if cache[key] is None:
        log.warning("sync %s has an invalid schedule %r", sync_id, value)
    return cache[key]


def seconds_to_next_due(ctx: AppContext, *, now: datetime | None = None) -> float | None:
    """Seconds until the earliest scheduled slot (None: nothing scheduled), so the loop
    wakes on the slot boundary instead of up to a whole interval after it."""
    now = now or utcnow()
    with ctx.sessions() as s:
        first = s.scalar(
            sa.select(sa.func.min(Sync.next_run_at)).where(
                Sync.status == SyncStatus.ACTIVE.value,
                Sync.trigger_mode == TriggerMode.SCHEDULED.value,
                Sync.next_run_at > now,  # a past one is locked elsewhere or unparseable
            )
        )
    if first is None:
        return None
    if first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    return (first - now).total_seconds()


@contextmanager
def scheduler_loop(ctx: AppContext, *, interval: float | None = None) -> Iterator[None]:
    """Tick every ``interval`` seconds on a daemon thread until the context exits."""
    stop = threading.Event()
    every = interval if interval is not None else ctx.settings.scheduler_interval

    def loop() -> None:
        while True:
            wait = every
            try:
                tick(ctx)
                due_in = seconds_to_next_due(ctx)
                if due_in is not None:
                    wait = min(every, max(due_in, 0.0) + 0.005)  # just past the boundary
            except Exception:
                log.exception("scheduler tick failed")
            if stop.wait(wait):
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
