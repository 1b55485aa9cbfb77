"""The set-based start on PostgreSQL (``runs.batch``): one statement per chunk, server-side.

It has to keep every guarantee of the per-run path: a busy sync's slot is consumed without a
second run, a run that loses a race to a concurrent starter is dropped rather than failing
the batch, each run gets exactly the job ``defer`` would give it, and consuming a slot is not
an edit of the sync (``updated_at`` stays).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import sqlalchemy as sa

from syncline.domain.phases import queued_summary
from syncline.runs.batch import DueStart, start_many
from syncline.runs.start import start_unless_active
from syncline.scheduler.tick import tick
from syncline.store.tables import Sync, SyncRun
from tests.fixtures.harness import Harness
from tests.scheduler.test_tick import T0, _finish_all, _runs, _sync

JOB_COLUMNS = "queue_name, task_name, priority, lock, queueing_lock, args, scheduled_at, status"


def _job_rows(dsn: str) -> list[tuple[object, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(f"SELECT {JOB_COLUMNS} FROM procrastinate_jobs ORDER BY id"))


def test_batch_keeps_the_per_run_guarantees(
    pg_harness: Harness, pg_database: str, tmp_path: object
) -> None:
    h = pg_harness
    idle, busy, fresh = (_sync(h, str(tmp_path), schedule="* * * * *") for _ in range(3))
    tick(h.ctx, now=T0)  # first sight: all three get their first slot
    with h.ctx.sessions.begin() as s:
        s.execute(sa.update(Sync).where(Sync.id == fresh).values(next_run_at=None))
        before = {x.id: x.updated_at for x in s.scalars(sa.select(Sync))}
        sync = s.get(Sync, busy)
        assert sync is not None
        manual, _ = start_unless_active(
            s, queue=h.ctx.queue, sync=sync, triggered_by="t", trigger_ref="manual"
        )
        assert manual is not None
    manual_job = _job_rows(pg_database)[-1]

    created = tick(h.ctx, now=T0 + timedelta(minutes=1, seconds=1))

    assert len(created) == 1
    (run,) = [r for r in _runs(h, idle) if r.triggered_by == "schedule"]
    assert run.id == created[0] and run.attempt_root_run_id == run.id
    assert run.status == "pending" and run.attempt_number == 1 and run.run_mode == "incremental"
    assert run.summary == queued_summary()
    assert run.trigger_ref == f"schedule:{(T0 + timedelta(minutes=1)).isoformat()}"
    assert [r.id for r in _runs(h, busy)] == [manual.id]  # busy: no second run
    assert _runs(h, fresh) == []  # newly scheduled: its first slot is the next one
    with h.ctx.sessions() as s:
        syncs = {x.id: x for x in s.scalars(sa.select(Sync))}
    assert syncs[idle].last_run_id == run.id and syncs[busy].last_run_id == manual.id
    for sid in (idle, busy, fresh):  # every slot consumed, in the statement that fired it
        assert syncs[sid].next_run_at == T0 + timedelta(minutes=2)
        assert syncs[sid].updated_at == before[sid]  # the scheduler did not "edit" the sync
    *_, batch_job = _job_rows(pg_database)
    # The server-built job is field for field what procrastinate's defer made for the manual run.
    assert batch_job[5] == {"run_id": run.id} and batch_job[3] == f"sync:{idle}"
    assert (*batch_job[:3], *batch_job[4:5], *batch_job[6:]) == (
        *manual_job[:3],
        *manual_job[4:5],
        *manual_job[6:],
    )
    _finish_all(h)
    assert tick(h.ctx, now=T0 + timedelta(minutes=1, seconds=30)) == []  # slot consumed


def test_batch_loses_a_race_without_failing(
    pg_harness: Harness, pg_database: str, tmp_path: object
) -> None:
    """A starter whose insert waits on another's uncommitted run of the same sync drops its
    run once that commits (``ON CONFLICT DO NOTHING``), and still starts the others."""
    h = pg_harness
    contested, other = (_sync(h, str(tmp_path), schedule="* * * * *") for _ in range(2))
    holder = h.ctx.sessions()
    holder.begin()
    sync = holder.get(Sync, contested)
    assert sync is not None
    won, _ = start_unless_active(
        holder, queue=h.ctx.queue, sync=sync, triggered_by="t", trigger_ref="manual"
    )
    assert won is not None
    result: list[list[str]] = []

    def batch() -> None:
        with h.ctx.sessions.begin() as s:
            due = [DueStart(x, h.workspace_id, "sequential", "race") for x in (contested, other)]
            result.append(start_many(s, queue=h.ctx.queue, due=due, triggered_by="schedule"))

    thread = threading.Thread(target=batch)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        with psycopg.connect(pg_database, autocommit=True) as watch:
            while time.monotonic() < deadline:  # the batch's insert waits on the index entry
                waiting = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND query LIKE '%%INSERT INTO sync_runs%%'"
                ).fetchone()
                if waiting and waiting[0]:
                    break
                time.sleep(0.02)
            else:
                raise AssertionError("the batch never waited on the uncommitted run")
        holder.commit()
    finally:
        holder.close()
        thread.join(30)
    assert len(result) == 1 and len(result[0]) == 1
    assert [r.id for r in _runs(h, contested)] == [won.id]
    (started,) = _runs(h, other)
    assert result[0] == [started.id]
    with h.ctx.sessions() as s:
        active = s.scalars(sa.select(SyncRun).where(SyncRun.status == "pending")).all()
    assert sorted(r.sync_id for r in active) == sorted([contested, other])
