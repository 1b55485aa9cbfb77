"""Scheduled runs on procrastinate: every run created by a tick gets exactly one job with its
own sync lock (deferred as one batch), and an idle worker picks a trigger up at once
(procrastinate's LISTEN/NOTIFY, not its polling interval)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import sqlalchemy as sa

from syncline.execution.procrastinate import ProcrastinateWorker
from syncline.scheduler.tick import tick
from syncline.services.runs import trigger_run
from syncline.store.tables import SyncRun
from tests.execution.test_procrastinate import _jobs, _sync
from tests.fixtures.harness import Harness

T0 = datetime(2026, 1, 1, 10, 0, tzinfo=UTC)


def test_tick_defers_one_job_per_run(pg_harness: Harness, pg_database: str) -> None:
    h = pg_harness
    ids = [
        _sync(h, pg_database, f"b{i}", 1, schedule="* * * * *", trigger_mode="scheduled")
        for i in range(4)
    ]
    tick(h.ctx, now=T0)
    created = tick(h.ctx, now=T0 + timedelta(minutes=1), chunk_size=3)
    assert len(created) == 4
    with h.ctx.sessions() as s:
        runs = {r.id: r.sync_id for r in s.scalars(sa.select(SyncRun))}
    jobs = _jobs(pg_database)
    assert sorted((j[1], j[3]["run_id"]) for j in jobs) == sorted(
        (f"sync:{runs[r]}", r) for r in created
    )
    assert set(runs.values()) == set(ids)


def _wait_listening(dsn: str, timeout: float = 20) -> None:
    """Until procrastinate's listener has sent its LISTEN. A fixed second was not enough on a
    loaded CI machine: a trigger before it is found by the 0.5 s poll, not the notification."""
    deadline = time.monotonic() + timeout
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
    )
    while time.monotonic() < deadline:
        with psycopg.connect(dsn, autocommit=True) as conn:
            row = conn.execute(query).fetchone()
        if row and row[0]:
            return
        time.sleep(0.05)
    raise AssertionError(f"the worker did not LISTEN within {timeout:.0f} s")


def test_idle_worker_starts_a_trigger_at_once(pg_harness: Harness, pg_database: str) -> None:
    h = pg_harness
    sync_id = _sync(h, pg_database, "notify_t", 5)
    worker = ProcrastinateWorker(h.ctx, concurrency=1)
    worker.start()
    try:
        _wait_listening(pg_database)  # idle, listening
        latencies = []
        for _ in range(2):
            t0 = time.monotonic()
            with h.ctx.sessions() as s:
                run, _ = trigger_run(
                    s,
                    queue=h.ctx.queue,
                    workspace_id=h.workspace_id,
                    sync_id=sync_id,
                    triggered_by="t",
                )
            while True:
                with h.ctx.sessions() as s:
                    stored = s.get(SyncRun, run.id)
                    assert stored is not None
                if stored.status != "pending" or time.monotonic() - t0 > 10:
                    break
                time.sleep(0.005)
            latencies.append(time.monotonic() - t0)
            assert h.wait_run(run.id).status == "completed"
            while _jobs(pg_database) and time.monotonic() - t0 < 10:
                time.sleep(0.01)  # its job ends (and frees the sync's lock) just after the run
    finally:
        worker.stop()
    assert max(latencies) < 0.5, latencies
