"""The procrastinate backend: jobs commit with their run, workers run them and their shards,
and a dead worker's job stops holding its sync's lock."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from syncline.execution.procrastinate import (
    QUEUE,
    ProcrastinateQueue,
    ProcrastinateWorker,
    recover_stalled_jobs,
    requeue_orphans,
)
from syncline.runs.start import start_run
from syncline.services.runs import trigger_run
from syncline.store.tables import RunShard, Sync, SyncRun
from tests.fixtures.harness import Harness, pg_rows, slow_pg_table, wait_for_rows


def _sync(h: Harness, dsn: str, table: str, rows: int, **fields: object) -> str:
    return h.id_table_sync(dsn, table, rows, mode="insert", **fields)


def _jobs(dsn: str) -> list[tuple[str, str, str, dict[str, str]]]:
    with psycopg.connect(dsn) as conn:
        return [
            (r[0], r[1], r[2], r[3])
            for r in conn.execute(
                "SELECT task_name, lock, status::text, args FROM procrastinate_jobs ORDER BY id"
            )
        ]


def test_postgres_store_selects_procrastinate(pg_harness: Harness) -> None:
    assert pg_harness.ctx.settings.resolved_backend() == "procrastinate"
    assert isinstance(pg_harness.ctx.queue, ProcrastinateQueue)


def test_job_commits_or_rolls_back_with_its_run(pg_harness: Harness, pg_database: str) -> None:
    h = pg_harness
    sync_id = _sync(h, pg_database, "tx", 10)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), h.ctx.sessions.begin() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None
        start_run(s, queue=h.ctx.queue, sync=sync, triggered_by="test")
        raise Boom()  # the transaction rolls back: no run and no job
    with h.ctx.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(SyncRun)) == 0
    assert _jobs(pg_database) == []

    with h.ctx.sessions() as s:
        run, created = trigger_run(
            s, queue=h.ctx.queue, workspace_id=h.workspace_id, sync_id=sync_id, triggered_by="t"
        )
        assert created
    assert _jobs(pg_database) == [("syncline.run", f"sync:{sync_id}", "todo", {"run_id": run.id})]


def test_worker_runs_jobs_and_fan_out_shards(pg_harness: Harness, pg_database: str) -> None:
    h = pg_harness
    plain = _sync(h, pg_database, "plain", 300)
    fanned = _sync(
        h,
        pg_database,
        "fanned",
        3000,
        execution_mode="fan_out_window",
        execution_config={"shards": 3},
    )
    run_ids = []
    for sync_id in (plain, fanned):
        with h.ctx.sessions() as s:
            run, _ = trigger_run(
                s, queue=h.ctx.queue, workspace_id=h.workspace_id, sync_id=sync_id, triggered_by="t"
            )
            run_ids.append(run.id)
    worker = ProcrastinateWorker(h.ctx, concurrency=3)
    worker.start()
    try:
        runs = [h.wait_run(run_id) for run_id in run_ids]
    finally:
        worker.stop()
    assert [r.status for r in runs] == ["completed", "completed"]
    assert [r.rows_synced for r in runs] == [300, 3000]
    with h.ctx.sessions() as s:
        shards = list(s.scalars(sa.select(RunShard).where(RunShard.run_id == run_ids[1])))
    assert len(shards) == 3 and {sh.status for sh in shards} == {"completed"}
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(DISTINCT id), count(*) FROM fanned").fetchone() == (
            3000,
            3000,
        )
    tasks = sorted(t for t, *_ in _jobs(pg_database))
    assert tasks == []  # successful jobs are deleted once done


def test_stalled_job_of_dead_worker_is_retried(pg_harness: Harness, pg_database: str) -> None:
    """The worker died after taking the job but before claiming the run: the run must not be
    left pending without a job; the retried job runs it."""
    h = pg_harness
    sync_id = _sync(h, pg_database, "stall", 10)
    with h.ctx.sessions() as s:
        run, _ = trigger_run(
            s, queue=h.ctx.queue, workspace_id=h.workspace_id, sync_id=sync_id, triggered_by="t"
        )
    with psycopg.connect(pg_database, autocommit=True) as conn:
        # A worker that took the job and then stopped heartbeating a minute ago.
        (worker_id,) = conn.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) "
            "VALUES (now() - interval '60 seconds') RETURNING id"
        ).fetchone() or (None,)
        conn.execute(
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s WHERE queue_name = %s",
            [worker_id, QUEUE],
        )
    assert len(recover_stalled_jobs(h.ctx, seconds_since_heartbeat=30)) == 1
    assert [j[2] for j in _jobs(pg_database)] == ["todo"]  # no longer holds the lock as doing
    assert recover_stalled_jobs(h.ctx, seconds_since_heartbeat=30) == []  # once only
    worker = ProcrastinateWorker(h.ctx, concurrency=1)
    worker.start()
    try:
        assert h.wait_run(run.id, timeout=60).status == "completed"
    finally:
        worker.stop()


def test_stopping_worker_hands_its_run_back_with_a_new_job(
    pg_harness: Harness, pg_database: str
) -> None:
    h = pg_harness
    rows = 200_000
    slow_pg_table(pg_database, "handback")
    sync_id = _sync(h, pg_database, "handback", rows, config={"batch_size": 2000})
    with h.ctx.sessions() as s:
        run, _ = trigger_run(
            s, queue=h.ctx.queue, workspace_id=h.workspace_id, sync_id=sync_id, triggered_by="t"
        )
    first = ProcrastinateWorker(h.ctx, concurrency=1)
    first.start()
    try:
        wait_for_rows(pg_database, "handback", 10_000)
    finally:
        first.stop()
    with h.ctx.sessions() as s:
        handed = s.get(SyncRun, run.id)
        assert handed is not None
    assert handed.status == "pending" and 0 < pg_rows(pg_database, "handback") < rows
    assert [(t, st) for t, _, st, _ in _jobs(pg_database)] == [("syncline.run", "todo")]
    second = ProcrastinateWorker(h.ctx, concurrency=1)
    second.start()
    try:
        done = h.wait_run(run.id)
    finally:
        second.stop()
    assert done.status == "completed"
    with psycopg.connect(pg_database) as conn:  # insert mode: nothing applied twice
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM handback").fetchone() == (
            rows,
            rows,
        )


def test_run_whose_job_ended_without_claiming_it_gets_a_new_job(
    pg_harness: Harness, pg_database: str
) -> None:
    """E.g. a job whose claim kept failing during a database outage: the run must not stay
    pending forever (and block its sync) for want of a job."""
    h = pg_harness
    sync_id = _sync(h, pg_database, "orphan", 10)
    with h.ctx.sessions() as s:
        run, _ = trigger_run(
            s, queue=h.ctx.queue, workspace_id=h.workspace_id, sync_id=sync_id, triggered_by="t"
        )
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE procrastinate_jobs SET status = 'failed'")
    assert requeue_orphans(h.ctx, h.ctx.queue, older_than_seconds=60) == 0  # too recent
    with h.ctx.sessions.begin() as s:
        s.execute(
            sa.update(SyncRun)
            .where(SyncRun.id == run.id)
            .values(updated_at=sa.func.now() - sa.text("interval '5 minutes'"))
        )
    assert requeue_orphans(h.ctx, h.ctx.queue, older_than_seconds=60) == 1
    assert requeue_orphans(h.ctx, h.ctx.queue, older_than_seconds=60) == 0  # it has one now
    worker = ProcrastinateWorker(h.ctx, concurrency=1)
    worker.start()
    try:
        assert h.wait_run(run.id, timeout=60).status == "completed"
    finally:
        worker.stop()
