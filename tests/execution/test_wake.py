"""A triggered run starts at once on an idle embedded executor, not at the next poll.

The executor was woken inside the trigger's transaction, before it committed: the dispatcher
claimed nothing and slept its whole poll interval (1 s). It must be woken after the commit.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from syncline.execution.embedded import EmbeddedExecutor
from syncline.runs.start import start_run
from syncline.store.tables import Sync, SyncRun
from tests.fixtures.harness import Harness

BOUND = 0.5  # the bug made it ~1 s (one poll interval); healthy is a few ms


def _seconds_to_running(h: Harness, ex: EmbeddedExecutor, sync_id: str) -> tuple[str, float]:
    t0 = time.monotonic()
    with h.ctx.sessions.begin() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None
        run_id = start_run(s, queue=ex, sync=sync, triggered_by="test").id
        time.sleep(0.05)  # the trigger's transaction stays open a moment, as over the API
    while time.monotonic() - t0 < 5:
        with h.ctx.sessions() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            if run.status != "pending":
                return run_id, time.monotonic() - t0
        time.sleep(0.005)
    raise AssertionError("run never left pending")


def test_trigger_to_running_without_waiting_a_poll(harness: Harness, pg_database: str) -> None:
    h = harness
    sync_id = h.id_table_sync(pg_database, "wake_t", 10)
    ex = EmbeddedExecutor(h.ctx, workers=1, poll_interval=1.0)
    ex.start()
    latencies = []
    try:
        for _ in range(3):
            time.sleep(0.3)  # idle: the dispatcher is asleep in its poll wait
            run_id, seconds = _seconds_to_running(h, ex, sync_id)
            latencies.append(seconds)
            assert [r.status for r in h.wait_runs([run_id])] == ["completed"]
    finally:
        ex.stop()
    with h.ctx.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(SyncRun)) == 3
    assert max(latencies) < BOUND, latencies
