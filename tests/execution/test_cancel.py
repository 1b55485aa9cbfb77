"""Cancelling a running run stops it at a batch boundary; what was committed stays committed."""

from __future__ import annotations

import time

import psycopg

from syncline.execution.embedded import EmbeddedExecutor
from syncline.execution.engine_env import snapshot_store
from syncline.runs.queue import NullQueue
from syncline.services.runs import cancel_run, trigger_run
from syncline.store.tables import SyncRun
from tests.execution.test_lifecycle import MAPPING
from tests.fixtures.harness import Harness, slow_pg_table, wait_for_rows


def test_cancel_running_run_at_batch_boundary(harness: Harness, pg_database: str) -> None:
    h = harness
    h.sql("CREATE TABLE big AS SELECT i AS id, 'v' || i AS v FROM range(200000) t(i)")
    slow_pg_table(pg_database, "big")
    sync_id = h.make_sync(
        model_sql="SELECT * FROM big",
        primary_key="id",
        destination_type="postgres",
        destination_config={"dsn": pg_database, "table": "big"},
        mapping=MAPPING,
        config={"batch_size": 2000},
    )
    with h.ctx.sessions() as s:
        run, _ = trigger_run(
            s, queue=NullQueue(), workspace_id=h.workspace_id, sync_id=sync_id, triggered_by="test"
        )
        run_id = run.id
    ex = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
    ex.start()
    try:
        wait_for_rows(pg_database, "big", 4000)
        with h.ctx.sessions() as s:
            cancelled, immediate = cancel_run(
                s,
                workspace_id=h.workspace_id,
                sync_id=sync_id,
                run_id=run_id,
                requested_by="alice",
                reason="wrong target",
            )
        assert not immediate and cancelled.cancel_requested_by == "alice"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with h.ctx.sessions() as s:
                r = s.get(SyncRun, run_id)
                assert r is not None
                if r.status != "running":
                    break
            time.sleep(0.05)
    finally:
        ex.stop()
    assert r.status == "cancelled" and r.result_class == "cancelled"
    assert r.result_reason_code == "cancelled_by_user" and "wrong target" in r.error_message
    assert r.completed_at is not None and r.cancel_requested_at is not None
    with psycopg.connect(pg_database) as conn:
        in_dest = conn.execute("SELECT count(*) FROM big").fetchone()
    assert in_dest is not None and 4000 <= in_dest[0] < 200000
    assert in_dest[0] == r.rows_synced  # the run's count is what the destination holds
    snap_rows = sum(seg.table.num_rows for seg in snapshot_store(h.ctx).segments(sync_id))
    assert snap_rows == in_dest[0]  # snapshot matches what was committed


def test_stopping_worker_hands_run_back_and_next_worker_finishes(
    harness: Harness, pg_database: str
) -> None:
    """Sized to stay mid-run under load: 50 batches of 1,000 rows, generous deadlines and
    polls that do not hammer the SQLite store the run writes to (it was flaky at 200,000
    rows with 60 s deadlines and 20 ms polls on a loaded machine)."""
    h = harness
    rows = 50_000
    h.sql(f"CREATE TABLE big AS SELECT i AS id, 'v' || i AS v FROM range({rows}) t(i)")
    slow_pg_table(pg_database, "big")
    sync_id = h.make_sync(
        model_sql="SELECT * FROM big",
        primary_key="id",
        destination_type="postgres",
        destination_config={"dsn": pg_database, "table": "big"},
        mapping=MAPPING,
        config={"batch_size": 1000},
    )
    with h.ctx.sessions() as s:
        run, _ = trigger_run(
            s, queue=NullQueue(), workspace_id=h.workspace_id, sync_id=sync_id, triggered_by="test"
        )
        run_id = run.id
    first = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
    first.start()
    wait_for_rows(pg_database, "big", 4000, timeout=180)
    first.stop()  # SIGTERM path: stop at the batch boundary
    with h.ctx.sessions() as s:
        r = s.get(SyncRun, run_id)
        assert r is not None and r.status == "pending" and r.executor_id is None
    with psycopg.connect(pg_database) as conn:
        partial = conn.execute("SELECT count(*) FROM big").fetchone()
    assert partial is not None and 0 < partial[0] < rows
    second = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
    second.start()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with h.ctx.sessions() as s:
                r = s.get(SyncRun, run_id)
                assert r is not None
                if r.status == "completed":
                    break
            time.sleep(0.1)
    finally:
        second.stop()
    assert r.status == "completed" and (r.executor_id or "").startswith(second.executor_id + "/")
    assert r.rows_synced == rows - partial[0]  # nothing committed was sent again
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM big").fetchone() == (
            rows,
            rows,
        )
