"""The embedded executor: a small worker pool inside ``syncline serve``.

A dispatcher thread claims pending runs from the metadata store (woken at once when a run is
enqueued, polling otherwise), each run executes on a pool thread with its own heartbeat, and a
reaper fails runs whose heartbeats stopped (a killed process) and resumes them as new attempts.
Everything it needs is in the store, so a restart picks up where the last process stopped.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy.orm import Session

from syncline.domain.enums import RunStatus
from syncline.engine.load import WorkerStopping
from syncline.engine.runner import execute_run
from syncline.execution.lifecycle import (
    RunOutcome,
    claim_next_run,
    finish_run,
    heartbeat,
    reap_stale_runs,
    release_run,
    resume_after_timeout,
)
from syncline.services.context import AppContext
from syncline.store.tables import SyncRun

log = logging.getLogger(__name__)


def new_executor_id() -> str:
    """Identifies one worker process in run rows: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class EmbeddedExecutor:
    """Runs pending runs on ``workers`` threads of this process."""

    def __init__(
        self, ctx: AppContext, *, workers: int | None = None, poll_interval: float = 1.0
    ) -> None:
        self.ctx = ctx
        self.workers = max(1, workers or ctx.settings.workers)
        self.poll_interval = poll_interval
        self.executor_id = new_executor_id()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._slots = threading.Semaphore(self.workers)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="syncline-run")
        self._threads: list[threading.Thread] = []
        self._active: set[Future[Any]] = set()
        self._lock = threading.Lock()

    # JobQueue protocol: a run was created; claim it as soon as its transaction commits.
    def enqueue(self, session: Session, run: SyncRun) -> None:
        self._wake.set()

    def start(self) -> None:
        for target, name in (
            (self._dispatch, "syncline-dispatch"),
            (self._reap, "syncline-reaper"),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; running runs stop at their next batch and go back to pending."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=self.poll_interval):
                continue
            try:
                run_id = claim_next_run(self.ctx.sessions, executor_id=self.executor_id)
            except Exception:
                log.exception("claiming a run failed")
                run_id = None
            if run_id is None:
                self._slots.release()
                self._wake.wait(self.poll_interval)
                self._wake.clear()
                continue
            fut = self._pool.submit(self._execute, run_id)
            fut.add_done_callback(lambda _f: self._slots.release())

    def _execute(self, run_id: str) -> None:
        stop_beat = threading.Event()
        interval = self.ctx.settings.heartbeat_interval

        def beat() -> None:
            while not stop_beat.wait(interval):
                try:
                    heartbeat(self.ctx.sessions, run_id, executor_id=self.executor_id)
                except Exception:
                    log.exception("heartbeat of run %s failed", run_id)

        beater = threading.Thread(target=beat, name=f"heartbeat-{run_id[:8]}", daemon=True)
        beater.start()
        try:
            try:
                outcome = execute_run(self.ctx, run_id, on_batch=self._check_stopping)
            except WorkerStopping:
                release_run(self.ctx.sessions, run_id, executor_id=self.executor_id)
                log.info("run %s handed back: this worker is stopping", run_id)
                return
            if finish_run(self.ctx.sessions, run_id, outcome, executor_id=self.executor_id):
                self._after(run_id, outcome)
            log.info("run %s ended %s (%s)", run_id, outcome.status, outcome.reason_code)
        except Exception:
            log.exception("run %s could not be recorded", run_id)
        finally:
            stop_beat.set()
            beater.join()
            self._wake.set()  # a chained or queued run may now be claimable

    def _check_stopping(self) -> None:
        if self._stop.is_set():
            raise WorkerStopping()

    def _after(self, run_id: str, outcome: RunOutcome) -> None:
        """Chained syncs run after a successful upstream run."""
        if outcome.status != RunStatus.COMPLETED:
            return
        from syncline.scheduler.tick import fire_dependents

        with self.ctx.sessions() as s:
            run = s.get(SyncRun, run_id)
            sync_id = run.sync_id if run else None
        if sync_id:
            fire_dependents(self.ctx, sync_id=sync_id)

    def _reap(self) -> None:
        timeout = self.ctx.settings.heartbeat_timeout
        while not self._stop.wait(min(timeout / 4, 15.0)):
            try:
                for run_id in reap_stale_runs(self.ctx.sessions, timeout_seconds=timeout):
                    resume_after_timeout(self.ctx, run_id)
            except Exception:
                log.exception("reaping stale runs failed")
