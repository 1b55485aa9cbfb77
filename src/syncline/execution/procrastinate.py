"""The distributed backend: runs travel as procrastinate jobs in the PostgreSQL metadata store.

* ``ProcrastinateQueue.enqueue`` defers the job on the very connection of the transaction that
  creates the run row, so either both commit or neither does.
* Each job carries the lock ``sync:<id>``: procrastinate never runs two jobs with one lock at
  once, on top of the store's one-active-run-per-sync index.
* ``ProcrastinateWorker`` runs a procrastinate worker (any number of them, on any machines).
  The job claims its run with the same conditional UPDATE the embedded pool uses, so a job
  delivered twice, or for a run that was cancelled meanwhile, does nothing.
* Each worker also looks after dead peers: jobs of a worker whose procrastinate heartbeat
  stopped are queued again (a run taken but not yet claimed would otherwise stay pending, and
  the job's lock would block the sync) and runs whose heartbeats stopped are failed and
  resumed as new attempts with new jobs.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import procrastinate
import sqlalchemy as sa
from procrastinate import sql as procrastinate_sql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from syncline.context import AppContext
from syncline.execution.work import (
    execute_claimed_run,
    execute_claimed_shard,
    maintenance_interval,
    new_claim_id,
    new_executor_id,
    reap_once,
)
from syncline.runs.batch import StartedRun
from syncline.runs.lifecycle import claim_run
from syncline.runs.queue import JobQueue
from syncline.runs.shards import claim_shard
from syncline.store.tables import RunShard, SyncRun, utcnow

log = logging.getLogger(__name__)

QUEUE = "syncline"
RUN_TASK = "syncline.run"
SHARD_TASK = "syncline.shard"


FETCH_POLL_SECONDS = 0.5


def conninfo(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL."""
    url = sa.engine.make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def sync_lock(sync_id: str) -> str:
    return f"sync:{sync_id}"


def _driver_connection(session: Session) -> Any:
    """The psycopg connection under the session's current transaction."""
    return session.connection().connection.driver_connection


# Field for field what procrastinate's ``Task.make_new_job`` fills in for ``defer(run_id=...)``:
# default priority 0, no queueing lock, no schedule.
_DEFER_RUNS = sa.text(
    """
SELECT procrastinate_defer_jobs_v1(ARRAY(
    SELECT ROW(
        CAST(:queue AS varchar), CAST(:task AS varchar), 0, j.lock, NULL,
        jsonb_build_object('run_id', j.run_id), NULL
    )::procrastinate_job_to_defer_v1
    FROM unnest(CAST(:run_ids AS text[]), CAST(:locks AS text[])) AS j(run_id, lock)
))
"""
)


class ProcrastinateQueue:
    """JobQueue: a run's job is written in the run's own transaction."""

    def __init__(self, database_url: str) -> None:
        # Deferring always passes the caller's connection, so this connector never opens a pool.
        self.app = procrastinate.App(
            connector=procrastinate.SyncPsycopgConnector(conninfo=conninfo(database_url))
        )

    def enqueue(self, session: Session, run: SyncRun) -> None:
        self.app.configure_task(
            name=RUN_TASK,
            queue=QUEUE,
            lock=sync_lock(run.sync_id),
            connection=_driver_connection(session),
        ).defer(run_id=run.id)

    def enqueue_many(self, session: Session, runs: Sequence[StartedRun]) -> None:
        """Every run's job in one statement (a scheduler tick starts thousands of runs).

        Calls procrastinate's own ``procrastinate_defer_jobs_v1`` (what ``batch_defer_jobs``
        calls) but builds its job array server-side from two text arrays: building and
        dumping one composite value per job in Python cost more than the insert itself.
        """
        if runs:
            session.execute(
                _DEFER_RUNS,
                {
                    "queue": QUEUE,
                    "task": RUN_TASK,
                    "run_ids": [run.id for run in runs],
                    "locks": [sync_lock(run.sync_id) for run in runs],
                },
            )

    def enqueue_shard(self, session: Session, shard: RunShard) -> None:
        # Shards of one run run side by side; the lock only stops one shard running twice.
        self.app.configure_task(
            name=SHARD_TASK,
            queue=QUEUE,
            lock=f"shard:{shard.id}",
            connection=_driver_connection(session),
        ).defer(shard_id=shard.id)


def recover_stalled_jobs(ctx: AppContext, *, seconds_since_heartbeat: float) -> list[int]:
    """Put back in the queue the jobs of procrastinate workers that stopped heartbeating.

    Retrying is always safe: the job claims its run (or shard) only if it is still pending.
    If the dead worker had not claimed it yet, the retried job runs it; if it had, the job
    finds it running (then failed by the run reaper, which queues a new attempt) and ends.
    Either way the job stops holding its lock as ``doing``.
    """
    recovered: list[int] = []
    connector = procrastinate.SyncPsycopgConnector()
    with ctx.sessions.begin() as s:
        rows = connector.execute_query_all_with_connection(
            _driver_connection(s),
            query=procrastinate_sql.queries["select_stalled_jobs_by_heartbeat"],
            queue=QUEUE,
            task_name=None,
            seconds_since_heartbeat=seconds_since_heartbeat,
        )
    for row in rows:
        try:
            with ctx.sessions.begin() as s:
                connector.execute_query_all_with_connection(
                    _driver_connection(s),
                    query=procrastinate_sql.queries["retry_job"],
                    job_id=row["id"],
                    retry_at=None,
                    new_priority=None,
                    new_queue_name=None,
                    new_lock=None,
                )
            recovered.append(int(row["id"]))
            log.warning("procrastinate job %s of a dead worker queued again", row["id"])
        except Exception:  # another worker recovered it first
            log.debug("stalled job %s already handled", row["id"], exc_info=True)
    return recovered


_JOBS = sa.table(
    "procrastinate_jobs", sa.column("task_name"), sa.column("status"), sa.column("args", JSONB)
)


def _live_job(task: str, arg: str, key: Any) -> Any:
    """EXISTS a to-do or running job of ``task`` whose argument ``arg`` equals ``key``."""
    return (
        sa.select(sa.literal(1))
        .select_from(_JOBS)
        .where(
            _JOBS.c.task_name == task,
            sa.cast(_JOBS.c.status, sa.String).in_(("todo", "doing")),
            _JOBS.c.args[arg].astext == key,
        )
        .exists()
    )


def requeue_orphans(ctx: AppContext, queue: JobQueue, *, older_than_seconds: float) -> int:
    """Give a job to every pending run, and pending shard of a running run, that has none.

    Jobs commit with their run, so this only happens when a job ended without claiming its
    work (its retries ran out against a database outage) or for runs created before this
    backend was enabled. A duplicate job is harmless: it claims nothing.
    """
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    done = 0
    run_job = _live_job(RUN_TASK, "run_id", SyncRun.id)
    shard_job = _live_job(SHARD_TASK, "shard_id", RunShard.id)
    with ctx.sessions.begin() as s:
        runs = s.scalars(
            sa.select(SyncRun)
            .where(SyncRun.status == "pending", SyncRun.updated_at < cutoff, ~run_job)
            .with_for_update(skip_locked=True)
        ).all()
        for run in runs:
            queue.enqueue(s, run)
            log.warning("run %s had no job: queued again", run.id)
        shards = s.scalars(
            sa.select(RunShard)
            .join(SyncRun, SyncRun.id == RunShard.run_id)
            .where(
                RunShard.status == "pending",
                SyncRun.status == "running",
                RunShard.updated_at < cutoff,
                ~shard_job,
            )
            .with_for_update(of=RunShard, skip_locked=True)
        ).all()
        for shard in shards:
            queue.enqueue_shard(s, shard)
            log.warning("shard %s had no job: queued again", shard.id)
        done = len(runs) + len(shards)
    return done


class ProcrastinateWorker:
    """One worker process's share of the queue: ``concurrency`` runs at once."""

    def __init__(self, ctx: AppContext, *, concurrency: int | None = None) -> None:
        url = ctx.settings.resolved_database_url()
        self.ctx = ctx
        self.concurrency = max(1, concurrency or ctx.settings.workers)
        self.executor_id = new_executor_id()
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(conninfo=conninfo(url))
        )
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task[None] | None = None
        self._threads: list[threading.Thread] = []
        self._started = threading.Event()
        self._error: BaseException | None = None

        # A claim that fails (the database restarting) is retried; the work is not lost.
        retry = procrastinate.RetryStrategy(max_attempts=10, wait=2, linear_wait=2)

        @self.app.task(name=RUN_TASK, queue=QUEUE, retry=retry)
        def run_sync(run_id: str) -> None:
            claim = new_claim_id(self.executor_id)
            if not claim_run(ctx.sessions, run_id, executor_id=claim):
                log.info("job for run %s skipped: the run is no longer pending", run_id)
                return
            execute_claimed_run(ctx, run_id, executor_id=claim, should_stop=self._stop.is_set)

        @self.app.task(name=SHARD_TASK, queue=QUEUE, retry=retry)
        def run_shard(shard_id: str) -> None:
            claim = new_claim_id(self.executor_id)
            claimed = claim_shard(ctx.sessions, shard_id, executor_id=claim)
            if claimed is None:
                log.info("job for shard %s skipped: not pending or its run ended", shard_id)
                return
            run_id, shard = claimed
            execute_claimed_shard(
                ctx, run_id, shard, executor_id=claim, should_stop=self._stop.is_set
            )

    def start(self) -> None:
        """Run the worker on a background thread (its own event loop) plus the reaper."""
        for target, name in ((self._serve, "syncline-procrastinate"), (self._reap, "reaper")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        self._started.wait(30)
        if self._error is not None:
            raise RuntimeError(f"procrastinate worker failed to start: {self._error}")

    def stop(self, timeout: float | None = None) -> None:
        """Stop taking jobs; running runs stop within 2 s (mid-batch) and go back to pending.

        Waits for that (a batch may take long against a slow API); the deployment's own
        grace period bounds it, and a run killed meanwhile is resumed after the timeout.
        """
        self._stop.set()
        loop, worker = self._loop, self._worker
        if loop is not None and worker is not None and not loop.is_closed():
            loop.call_soon_threadsafe(worker.cancel)
        for t in self._threads:
            t.join(timeout)

    def _serve(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced by start() when it happens at start-up
            self._error = exc
            log.exception("procrastinate worker stopped with an error")
        finally:
            self._started.set()

    async def _main(self) -> None:
        settings = self.ctx.settings
        async with self.app.open_async():
            self._loop = asyncio.get_running_loop()
            backoff = 1.0
            while not self._stop.is_set():
                self._worker = asyncio.create_task(
                    self.app.run_worker_async(
                        queues=[QUEUE],
                        name=self.executor_id,
                        concurrency=self.concurrency,
                        install_signal_handlers=False,
                        update_heartbeat_interval=settings.heartbeat_interval,
                        stalled_worker_timeout=settings.heartbeat_timeout,
                        delete_jobs="successful",
                        # New jobs arrive by LISTEN/NOTIFY; polling only catches a job that was
                        # notified while its sync's lock was still held by the job before it
                        # (procrastinate's 5 s default made such a trigger wait up to 5 s).
                        fetch_job_polling_interval=FETCH_POLL_SECONDS,
                        # Running jobs stop at their next batch boundary; wait for that.
                        shutdown_graceful_timeout=24 * 3600.0,
                    )
                )
                self._started.set()
                if self._stop.is_set():
                    self._worker.cancel()
                try:
                    await self._worker
                except asyncio.CancelledError:
                    pass
                except Exception:
                    # One failed fetch (the database restarting, say) ends procrastinate's
                    # worker: start it again rather than leave this process idle.
                    log.exception("procrastinate worker failed; restarting in %.0fs", backoff)
                if self._stop.is_set():
                    break
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    def _reap(self) -> None:
        while not self._stop.wait(maintenance_interval(self.ctx)):
            try:
                timeout = self.ctx.settings.heartbeat_timeout
                recover_stalled_jobs(self.ctx, seconds_since_heartbeat=timeout)
                reap_once(self.ctx, executor_id=self.executor_id)
                requeue_orphans(self.ctx, self.ctx.queue, older_than_seconds=timeout)
            except Exception:
                log.exception("looking after dead workers failed")
