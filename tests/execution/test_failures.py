"""When a run goes wrong it fails fast, says why and stops when asked (issue 12).

Real webhook receivers on real sockets, run by the embedded executor: a dead endpoint, a
503 storm and a slow endpoint, each timed from the outside.
"""

from __future__ import annotations

import subprocess
import sys
import time

from syncline.emulators.receiver import WebhookReceiver
from syncline.execution.embedded import EmbeddedExecutor
from syncline.execution.engine_env import snapshot_store
from syncline.runs.queue import NullQueue
from syncline.services.runs import cancel_run, trigger_run
from syncline.store.tables import SyncRun
from tests.execution.test_lifecycle import MAPPING
from tests.fixtures.harness import Harness
from tests.fixtures.servers import free_port


def _trigger(h: Harness, sync_id: str) -> str:
    with h.ctx.sessions() as s:
        run, _ = trigger_run(
            s, queue=NullQueue(), workspace_id=h.workspace_id, sync_id=sync_id, triggered_by="test"
        )
        return run.id


def _run(h: Harness, run_id: str) -> SyncRun:
    with h.ctx.sessions() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        s.expunge(run)
        return run


def _until_done(h: Harness, run_id: str, timeout: float) -> SyncRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _run(h, run_id)
        if run.status not in ("pending", "queued", "running"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run still {run.status} after {timeout}s")


def _cancel(h: Harness, sync_id: str, run_id: str) -> None:
    with h.ctx.sessions() as s:
        cancel_run(
            s,
            workspace_id=h.workspace_id,
            sync_id=sync_id,
            run_id=run_id,
            requested_by="alice",
            reason="wrong target",
        )


def _webhook_sync(h: Harness, url: str, rows: int, **dest: object) -> str:
    h.sql(f"CREATE OR REPLACE TABLE t AS SELECT i AS id, 'v' || i AS v FROM range({rows}) t(i)")
    return h.make_sync(
        model_sql="SELECT * FROM t",
        primary_key="id",
        destination_type="webhook",
        destination_config={"url": url, **dest},
        mapping=MAPPING,
    )


def test_refused_connection_fails_unreachable_within_a_minute(harness: Harness) -> None:
    """Default settings: one retry budget, not 6 HTTP retries x 5 batch retries."""
    h = harness
    port = free_port()  # nothing listens there: every connection is refused
    sync_id = _webhook_sync(h, f"http://127.0.0.1:{port}/hook", 50)
    run_id = _trigger(h, sync_id)
    ex = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
    started = time.monotonic()
    ex.start()
    try:
        run = _until_done(h, run_id, 75)
    finally:
        ex.stop()
    took = time.monotonic() - started
    assert took < 60, f"took {took:.1f}s"
    assert run.status == "failed" and run.result_reason_code == "destination_unreachable"
    message = run.error_message or ""
    assert f"127.0.0.1:{port}" in message and "refused" in message.lower(), message


def test_cancel_during_retry_wait_on_a_503_storm(harness: Harness) -> None:
    h = harness
    with WebhookReceiver() as rx:
        rx.inject(503, times=10_000)
        sync_id = _webhook_sync(h, rx.url, 50, backoff_initial_seconds=5)
        run_id = _trigger(h, sync_id)
        ex = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
        ex.start()
        try:
            deadline = time.monotonic() + 30
            while len(rx.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert len(rx.requests) >= 2, "the storm was never met"
            time.sleep(0.3)  # inside a retry wait now
            asked = time.monotonic()
            _cancel(h, sync_id, run_id)
            run = _until_done(h, run_id, 30)
            latency = time.monotonic() - asked
        finally:
            ex.stop()
    assert latency < 2, f"cancel took {latency:.2f}s"
    assert run.status == "cancelled" and run.result_reason_code == "cancelled_by_user"
    assert "wrong target" in (run.error_message or "")
    assert run.rows_synced == 0


def test_cancel_a_slow_webhook_mid_batch_within_two_seconds(harness: Harness) -> None:
    """0.5 s per request, 10 records per request: a cancel does not wait for the batch."""
    h = harness
    with WebhookReceiver() as rx:
        rx.inject(None, delay=0.5, times=10_000)
        sync_id = _webhook_sync(h, rx.url, 300, batch_size=10, concurrency=1)
        run_id = _trigger(h, sync_id)
        ex = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
        ex.start()
        try:
            deadline = time.monotonic() + 30
            while len(rx.state) < 30 and time.monotonic() < deadline:
                time.sleep(0.02)
            asked = time.monotonic()
            _cancel(h, sync_id, run_id)
            run = _until_done(h, run_id, 30)
            latency = time.monotonic() - asked
        finally:
            ex.stop()
        held = len(rx.state)
    assert latency < 2, f"cancel took {latency:.2f}s"
    assert run.status == "cancelled" and "wrong target" in (run.error_message or "")
    assert 30 <= held < 300
    # What was acknowledged is committed; a request cut off in flight may have been applied
    # by the receiver without its answer arriving (at most one request per connection).
    snap = sum(seg.table.num_rows for seg in snapshot_store(h.ctx).segments(sync_id))
    assert snap == run.rows_synced
    assert held - 10 <= run.rows_synced <= held


def test_the_warehouse_is_writable_while_a_run_loads(harness: Harness) -> None:
    """The model is staged into the run's own DuckDB and the source closed before loading."""
    h = harness
    with WebhookReceiver() as rx:
        rx.inject(None, delay=0.5, times=10_000)
        sync_id = _webhook_sync(h, rx.url, 100, batch_size=10, concurrency=1)
        run_id = _trigger(h, sync_id)
        ex = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
        ex.start()
        try:
            deadline = time.monotonic() + 30
            while not rx.requests and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _run(h, run_id).status == "running"
            # Another process writes to the warehouse, as a dbt build would.
            write = (
                "import duckdb, sys; c = duckdb.connect(sys.argv[1]);"
                " c.execute('CREATE OR REPLACE TABLE written_during_run AS SELECT 1 AS x')"
            )
            done = subprocess.run(
                [sys.executable, "-c", write, str(h.warehouse)], capture_output=True, timeout=60
            )
            assert done.returncode == 0, done.stderr.decode()[-500:]
            _cancel(h, sync_id, run_id)
            _until_done(h, run_id, 30)
        finally:
            ex.stop()
