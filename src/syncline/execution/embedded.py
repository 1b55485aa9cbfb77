"""The embedded executor: a small worker pool inside ``syncline serve``.

A dispatcher thread claims pending runs from the metadata store (woken at once when a run is
enqueued, polling otherwise), each run executes on a pool thread with its own heartbeat, and a
reaper fails runs whose heartbeats stopped (a killed process) and resumes them as new attempts.
Everything it needs is in the store, so a restart picks up where the last process stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import event
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
from syncline.runs.lifecycle import claim_next_run
from syncline.runs.shards import claim_next_shard
from syncline.store.tables import RunShard, SyncRun

log = logging.getLogger(__name__)


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
        self._wake_after_commit(session)

    def enqueue_shard(self, session: Session, shard: RunShard) -> None:
        self._wake_after_commit(session)

    def _wake_after_commit(self, session: Session) -> None:
        """Wake the dispatcher once the creating transaction commits: woken before, it finds
        nothing to claim and sleeps a whole poll interval (the run's ~1 s queue wait)."""
        key = ("syncline.wake", self.executor_id)
        if key not in session.info:  # one listener per transaction, however many runs
            session.info[key] = True
            event.listen(session, "after_commit", self._on_commit, once=True)

    def _on_commit(self, session: Session) -> None:
        session.info.pop(("syncline.wake", self.executor_id), None)
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
        """Stop claiming; running runs stop within 2 s (mid-batch) and go back to pending."""
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
                work = self._claim()
            except Exception:
                log.exception("claiming a run failed")
                work = None
            if work is None:
                self._slots.release()
                self._wake.wait(self.poll_interval)
                self._wake.clear()
                continue
            fut = self._pool.submit(self._execute, work)
            fut.add_done_callback(lambda _f: self._slots.release())

    def _claim(self) -> Callable[[], None] | None:
        """Shards of a running fan-out run first (they finish a run), then pending runs."""
        claim = new_claim_id(self.executor_id)
        stopping = self._stop.is_set
        shard = claim_next_shard(self.ctx.sessions, executor_id=claim)
        if shard is not None:
            run_id, ref = shard
            return lambda: execute_claimed_shard(
                self.ctx, run_id, ref, executor_id=claim, should_stop=stopping
            )
        claimed = claim_next_run(self.ctx.sessions, executor_id=claim)
        if claimed is None:
            return None
        return lambda: execute_claimed_run(
            self.ctx, claimed, executor_id=claim, should_stop=stopping
        )

    def _execute(self, work: Callable[[], None]) -> None:
        try:
            work()
        finally:
            self._wake.set()  # a chained or queued run, or a shard, may now be claimable

    def _reap(self) -> None:
        while not self._stop.wait(maintenance_interval(self.ctx)):
            try:
                reap_once(self.ctx, executor_id=self.executor_id)
            except Exception:
                log.exception("reaping stale runs failed")
