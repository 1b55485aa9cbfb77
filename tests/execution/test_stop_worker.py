"""A stopping worker and an execution that lost its run stop within 2 s, mid-batch (issue 12).

A slow webhook (0.3 s per request of 10 records) keeps every batch in flight for seconds, so
"at the next batch boundary" would be far too late. What was acknowledged stays committed, the
snapshot matches the receiver, and the run is finished by another execution.
"""

from __future__ import annotations

import json
import time

from syncline.emulators.receiver import WebhookReceiver
from syncline.execution.embedded import EmbeddedExecutor
from syncline.execution.engine_env import snapshot_store
from syncline.runs.queue import NullQueue
from syncline.runs.reap import reap_stale_runs
from syncline.runs.start import resume_in
from syncline.store.tables import SyncRun
from tests.engine.conftest import Harness
from tests.execution.test_failures import _run, _trigger, _until_done, _webhook_sync

ROWS = 200


def _snapshot_rows(h: Harness, sync_id: str) -> int:
    return sum(seg.table.num_rows for seg in snapshot_store(h.ctx).segments(sync_id))


def _records_received(rx: WebhookReceiver) -> int:
    return sum(len(json.loads(r.body).get("records", [])) for r in rx.requests if r.body)


def _wait_held(rx: WebhookReceiver, n: int) -> None:
    deadline = time.monotonic() + 30
    while len(rx.state) < n:
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.02)


def test_a_stopping_worker_hands_the_run_back_within_two_seconds(harness: Harness) -> None:
    h = harness
    with WebhookReceiver() as rx:
        rx.inject(None, delay=0.3, times=10_000)
        sync_id = _webhook_sync(h, rx.url, ROWS, batch_size=10, concurrency=1)
        run_id = _trigger(h, sync_id)
        first = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
        first.start()
        _wait_held(rx, 30)
        asked = time.monotonic()
        first.stop()  # what SIGTERM does: returns once the run is handed back
        latency = time.monotonic() - asked
        run = _run(h, run_id)
        assert run.status == "pending" and run.executor_id is None, run.status
        committed = _snapshot_rows(h, sync_id)
        assert 30 <= committed < ROWS
        second = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
        second.start()
        try:
            run = _until_done(h, run_id, 60)
        finally:
            second.stop()
        assert len(rx.state) == ROWS
        # Resent at most the one request cut off in flight when the worker stopped.
        assert _records_received(rx) <= ROWS + 10
    print(f"worker stop latency {latency:.2f}s")
    assert latency < 2, f"the worker took {latency:.2f}s to stop"
    assert run.status == "completed", (run.result_reason_code, run.error_message)
    assert run.rows_synced == ROWS - committed  # nothing committed was sent again
    assert _snapshot_rows(h, sync_id) == ROWS


def test_an_execution_that_lost_its_run_stops_within_two_seconds(harness: Harness) -> None:
    """The run is declared dead (reaped) while its execution is mid-batch: that execution
    stops sending at once and the resumed attempt finishes without re-sending what was
    committed."""
    h = harness
    with WebhookReceiver() as rx:
        rx.inject(None, delay=0.3, times=10_000)
        sync_id = _webhook_sync(h, rx.url, ROWS, batch_size=10, concurrency=1)
        run_id = _trigger(h, sync_id)
        ex = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
        ex.start()
        try:
            _wait_held(rx, 30)
            reaped_at = time.monotonic()
            assert reap_stale_runs(
                h.ctx.sessions,
                timeout_seconds=0,
                resume=lambda s, run: resume_in(s, NullQueue(), run),
            ) == [run_id]
            old = _run(h, run_id)
            assert old.status == "failed" and old.next_attempt_run_id
            # One worker slot: the resumed attempt starts once the old execution let go.
            deadline = time.monotonic() + 30
            while _run(h, old.next_attempt_run_id).status == "pending":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            latency = time.monotonic() - reaped_at
            resumed = _until_done(h, old.next_attempt_run_id, 60)
        finally:
            ex.stop()
        assert len(rx.state) == ROWS
        assert _records_received(rx) <= ROWS + 10
    print(f"lost execution stop latency {latency:.2f}s")
    assert latency < 2, f"the lost execution took {latency:.2f}s to stop"
    assert resumed.status == "completed", (resumed.result_reason_code, resumed.error_message)
    assert _snapshot_rows(h, sync_id) == ROWS
    with h.ctx.sessions() as s:
        again = s.get(SyncRun, run_id)
        assert again is not None and again.status == "failed"  # its outcome was not overwritten
