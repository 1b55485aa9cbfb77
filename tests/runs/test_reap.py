"""Dead workers: their runs are reaped (failed, or cancelled when asked) and resumed."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa

from syncline.execution.embedded import EmbeddedExecutor
from syncline.execution.work import reap_once
from syncline.runs.lifecycle import claim_run, heartbeat
from syncline.runs.reap import reap_stale_runs
from syncline.runs.start import resume_after_timeout
from syncline.store.tables import Sync, SyncRun, utcnow
from tests.fixtures.harness import Harness


def test_stale_run_is_reaped_and_resumed_as_linked_attempt(
    harness: Harness, pg_database: str
) -> None:
    h = harness
    sync_id = h.id_table_sync(pg_database, "people", 200)
    h.update_sync(sync_id, max_auto_resume_attempts=1)
    run_id = h.pending_run(sync_id)
    assert claim_run(h.ctx.sessions, run_id, executor_id="dead-worker")
    with h.ctx.sessions() as s:
        claimed = s.get(SyncRun, run_id)
        assert claimed is not None and claimed.summary == {"phase": "extracting"}
    # The worker dies: no more heartbeats. A live one beats and is left alone.
    assert reap_stale_runs(h.ctx.sessions, timeout_seconds=60) == []
    later = utcnow() + timedelta(seconds=120)
    assert reap_stale_runs(h.ctx.sessions, timeout_seconds=60, now=later) == [run_id]
    assert not heartbeat(h.ctx.sessions, run_id, executor_id="dead-worker")
    with h.ctx.sessions() as s:
        old = s.get(SyncRun, run_id)
        sync = s.get(Sync, sync_id)
        assert old is not None and sync is not None
        assert (old.status, old.result_class, old.result_reason_code) == (
            "failed",
            "failure",
            "heartbeat_timeout",
        )
        assert old.summary["phase"] == "done"  # ended, whatever phase it died in
        assert sync.status == "error"
    new_id = resume_after_timeout(h.ctx.sessions, h.ctx.queue, run_id)
    assert new_id is not None
    with h.ctx.sessions() as s:
        old = s.get(SyncRun, run_id)
        new = s.get(SyncRun, new_id)
        assert old is not None and new is not None
        assert old.next_attempt_run_id == new_id and new.previous_attempt_run_id == run_id
        assert new.attempt_number == 2 and new.attempt_root_run_id == run_id
        assert new.summary == {"phase": "queued"}
        assert new.triggered_by == "auto_resume"
    # The resumed attempt runs to the end; a second timeout is not resumed (limit 1).
    ex = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.1)
    ex.start()
    try:
        (done,) = h.wait_runs([new_id])
    finally:
        ex.stop()
    assert done.status == "completed"
    with h.ctx.sessions.begin() as s:
        s.execute(sa.update(SyncRun).where(SyncRun.id == new_id).values(status="running"))
    reap_stale_runs(h.ctx.sessions, timeout_seconds=1, now=utcnow() + timedelta(hours=1))
    assert resume_after_timeout(h.ctx.sessions, h.ctx.queue, new_id) is None


def test_dead_worker_run_with_a_cancel_request_ends_cancelled(
    harness: Harness, pg_database: str
) -> None:
    """The user asked to stop, then the worker died before it could: the run is cancelled,
    not failed and resumed (that would undo the user's cancel)."""
    h = harness
    sync_id = h.id_table_sync(pg_database, "cxl_dead", 200)
    run_id = h.pending_run(sync_id)
    assert claim_run(h.ctx.sessions, run_id, executor_id="dead-worker")
    with h.ctx.sessions.begin() as s:
        s.execute(
            sa.update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(cancel_requested_at=utcnow(), cancel_reason="wrong model")
        )
    h.ctx.settings.heartbeat_timeout = 0.01
    time.sleep(0.05)
    assert reap_once(h.ctx, executor_id="reaper") == [run_id]
    with h.ctx.sessions() as s:
        runs = list(s.scalars(sa.select(SyncRun).where(SyncRun.sync_id == sync_id)))
        sync = s.get(Sync, sync_id)
    assert len(runs) == 1 and runs[0].next_attempt_run_id is None
    assert (runs[0].status, runs[0].result_reason_code) == ("cancelled", "cancelled_by_user")
    assert "wrong model" in runs[0].error_message
    assert sync is not None and sync.status == "active"


def test_reaping_and_resuming_is_one_transaction(harness: Harness, pg_database: str) -> None:
    """No moment where the dead run is failed but its resume is not there yet (a trigger in
    that gap would take the slot and the killed run would never be resumed)."""
    h = harness
    sync_id = h.id_table_sync(pg_database, "atomic", 200)
    run_id = h.pending_run(sync_id)
    assert claim_run(h.ctx.sessions, run_id, executor_id="dead-worker")
    seen: list[tuple[str, int]] = []

    @sa.event.listens_for(h.ctx.engine, "commit")
    def _on_commit(conn: sa.Connection) -> None:
        with h.ctx.engine.connect() as c2:
            status = c2.scalar(sa.select(SyncRun.status).where(SyncRun.id == run_id))
            n = c2.scalar(
                sa.select(sa.func.count()).select_from(SyncRun).where(SyncRun.sync_id == sync_id)
            )
        seen.append((str(status), int(n or 0)))

    h.ctx.settings.heartbeat_timeout = 0.01
    time.sleep(0.05)
    try:
        assert reap_once(h.ctx, executor_id="reaper") == [run_id]
    finally:
        sa.event.remove(h.ctx.engine, "commit", _on_commit)
    # Before each commit: never "failed with no successor".
    assert ("failed", 1) not in seen
