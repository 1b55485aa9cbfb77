"""What every executor does with a run it owns, whichever backend delivered it.

Shared by the embedded pool and procrastinate workers so both behave the same: a heartbeat
while the run executes, the outcome recorded only if the run is still ours, chained syncs
fired after a success, and a stopping worker handing the run back at a batch boundary.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial

from syncline.context import AppContext
from syncline.domain.enums import RunStatus
from syncline.domain.faults import is_disk_full
from syncline.domain.runs import ShardRef, combine_outcomes
from syncline.engine.commit import compact_if_due
from syncline.engine.diff import Differ, open_duckdb
from syncline.engine.ports import ExecutionLost, WorkerStopping
from syncline.execution.engine_env import run_engine, snapshot_store
from syncline.observability.health import note_disk_full, note_write_ok
from syncline.observability.logs import bind_run
from syncline.runs.lifecycle import finish_run, heartbeat, release_run, still_owned
from syncline.runs.reap import reap_stale_runs, reap_stale_shards
from syncline.runs.shards import (
    finish_shard,
    release_shard,
    runs_ready_to_finalize,
    shard_heartbeat,
    start_fan_out,
    take_finalization,
)
from syncline.runs.start import fire_dependents, resume_in
from syncline.store.tables import SyncRun

log = logging.getLogger(__name__)


def new_executor_id() -> str:
    """Identifies one worker process in run rows: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def new_claim_id(executor_id: str) -> str:
    """The owner written on a run or shard when it is claimed: the process plus a token for
    this one execution, so two executions in one process are told apart too."""
    return f"{executor_id}/{uuid.uuid4().hex[:8]}"


class Heartbeat:
    """Beats on a thread while an execution runs; remembers whether it still owns its work."""

    def __init__(self, ctx: AppContext, beat_once: Callable[[], bool], name: str) -> None:
        self.ctx = ctx
        self.beat_once = beat_once
        self.name = name
        self.last_ok = time.monotonic()
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{name[:16]}")
        self._thread.daemon = True

    def _run(self) -> None:
        while not self._stop.wait(self.ctx.settings.heartbeat_interval):
            try:
                if self.beat_once():
                    self.last_ok = time.monotonic()
                else:
                    self.lost = True  # reaped, or finished by someone else
            except Exception:
                log.exception("heartbeat of %s failed", self.name)

    def fenced(self) -> bool:
        """True once this execution must stop: it lost its work, or its heartbeats have
        failed for half the timeout, so peers may be about to declare it dead."""
        silent = time.monotonic() - self.last_ok
        return self.lost or silent > self.ctx.settings.heartbeat_timeout / 2

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


#: Seconds between two ownership reads by the stop watcher (a lost run stops within ~1 s).
OWNERSHIP_POLL_SECONDS = 1.0


class _Fence:
    """When this execution must stop, asked two ways that must agree: ``stopping`` (polled by
    the engine's stop watcher, cheap: ownership read at most once a second) and ``guard``
    (before every batch: raises). The watcher stops a batch only for facts that do not go
    away: the worker is stopping, or the run is no longer this execution's (a heartbeat or
    the ownership read found it taken). Heartbeats that are merely late (``fenced``) are
    judged at batch boundaries only, as before: under load a transient gap must not cost the
    run. Losing the run is sticky, so the guard then raises ExecutionLost and a stop is never
    mistaken for a user's cancel."""

    def __init__(
        self, beat: Heartbeat, should_stop: Callable[[], bool], owned: Callable[[], bool]
    ) -> None:
        self.beat, self.should_stop, self.owned = beat, should_stop, owned
        self.lost = False
        self._owned_at = -OWNERSHIP_POLL_SECONDS

    def stopping(self) -> bool:
        if self.should_stop() or self.lost:
            return True
        now = time.monotonic()
        if self.beat.lost:
            self.lost = True
        elif now - self._owned_at >= OWNERSHIP_POLL_SECONDS:
            self._owned_at = now
            self.lost = not self.owned()
        return self.lost

    def guard(self) -> None:
        """Checked before every batch: stop if this worker is stopping or no longer the owner."""
        stopping = self.should_stop()
        # Ownership last, right before the batch goes out: the narrowest window left.
        if self.lost or self.beat.fenced() or not self.owned():
            self.lost = True
            raise ExecutionLost()
        if stopping:
            raise WorkerStopping()


def execute_claimed_run(
    ctx: AppContext, run_id: str, *, executor_id: str, should_stop: Callable[[], bool]
) -> None:
    """Execute a run this executor claimed (``executor_id`` is the claim's owner id),
    heartbeating until it is recorded.

    A fan-out run is only split here: its shards are queued and executed separately.
    """
    with bind_run(ctx.sessions, run_id):
        _execute_claimed_run(ctx, run_id, executor_id=executor_id, should_stop=should_stop)


def _execute_claimed_run(
    ctx: AppContext, run_id: str, *, executor_id: str, should_stop: Callable[[], bool]
) -> None:
    try:
        if start_fan_out(ctx.sessions, ctx.queue, run_id, executor_id=executor_id):
            return
        with Heartbeat(
            ctx, lambda: heartbeat(ctx.sessions, run_id, executor_id=executor_id), run_id
        ) as beat:
            owned = partial(still_owned, ctx.sessions, run_id, executor_id=executor_id)
            fence = _Fence(beat, should_stop, owned)
            try:
                outcome = run_engine(
                    ctx,
                    run_id,
                    guard=fence.guard,
                    stopping=fence.stopping,
                )
            except WorkerStopping:
                release_run(ctx.sessions, run_id, executor_id=executor_id, queue=ctx.queue)
                log.info("run %s handed back: this worker is stopping", run_id)
                return
            except ExecutionLost:
                log.warning("run %s: this execution lost it (declared dead); stopped", run_id)
                return
            recorded = record_when_possible(
                lambda: finish_run(ctx.sessions, run_id, outcome, executor_id=executor_id),
                what=f"the outcome of run {run_id}",
                should_stop=should_stop,
            )
        if recorded and outcome.status == RunStatus.COMPLETED:
            fire_chained(ctx, run_id)
        log.info("run %s ended %s (%s)", run_id, outcome.status, outcome.reason_code)
    except Exception:
        log.exception("run %s could not be recorded", run_id)


def execute_claimed_shard(
    ctx: AppContext,
    run_id: str,
    shard: ShardRef,
    *,
    executor_id: str,
    should_stop: Callable[[], bool],
) -> None:
    """Execute one claimed shard of a fan-out run; the last shard to end ends the run."""
    with bind_run(ctx.sessions, run_id):
        _execute_claimed_shard(ctx, run_id, shard, executor_id=executor_id, should_stop=should_stop)


def _execute_claimed_shard(
    ctx: AppContext,
    run_id: str,
    shard: ShardRef,
    *,
    executor_id: str,
    should_stop: Callable[[], bool],
) -> None:
    try:
        with Heartbeat(
            ctx,
            lambda: shard_heartbeat(ctx.sessions, shard.id, executor_id=executor_id),
            f"{run_id[:8]}-{shard.label}",
        ) as beat:
            owned = partial(
                still_owned, ctx.sessions, run_id, executor_id=executor_id, shard_id=shard.id
            )
            fence = _Fence(beat, should_stop, owned)
            try:
                outcome = run_engine(
                    ctx,
                    run_id,
                    guard=fence.guard,
                    shard=shard,
                    stopping=fence.stopping,
                )
            except WorkerStopping:
                release_shard(ctx.sessions, ctx.queue, shard.id, executor_id=executor_id)
                log.info("shard %s of run %s handed back", shard.label, run_id)
                return
            except ExecutionLost:
                log.warning("shard %s of run %s lost by this execution", shard.label, run_id)
                return
            finish_shard(ctx.sessions, shard.id, outcome, executor_id=executor_id)
        log.info("shard %s of run %s ended %s", shard.label, run_id, outcome.status)
        finalize_fan_out(ctx, run_id, executor_id=executor_id)
    except Exception:
        log.exception("shard %s of run %s could not be recorded", shard.label, run_id)


#: Seconds between two attempts at recording an outcome while the disk is full.
DISK_FULL_RETRY_SECONDS = 2.0


def record_when_possible(
    write: Callable[[], bool], *, what: str, should_stop: Callable[[], bool]
) -> bool:
    """Record an outcome, waiting for space while the disk is full (``/healthz`` says
    ``degraded`` meanwhile) instead of leaving the run ``running``; any other failure is
    raised. A worker told to stop gives up: the reaper ends the run once it is stale."""
    while True:
        try:
            done = write()
        except Exception as exc:
            if not is_disk_full(exc) or should_stop():
                raise
            note_disk_full(what)
            log.error(
                "cannot record %s: the data directory's disk is full (%s); retrying in %.0fs",
                *(what, exc, DISK_FULL_RETRY_SECONDS),
            )
            time.sleep(DISK_FULL_RETRY_SECONDS)
            continue
        note_write_ok()
        return done


def finalize_fan_out(ctx: AppContext, run_id: str, *, executor_id: str) -> bool:
    """End a fan-out run once every shard has: compact the snapshot, record the sums."""
    shards = take_finalization(ctx.sessions, run_id, executor_id=executor_id)
    if shards is None:
        return False
    outcome = combine_outcomes(shards)
    with Heartbeat(ctx, lambda: heartbeat(ctx.sessions, run_id, executor_id=executor_id), run_id):
        with ctx.sessions() as s:
            run = s.get(SyncRun, run_id)
            sync_id = run.sync_id if run else None
        if sync_id is not None:
            work_dir = ctx.settings.data_dir / "work" / run_id / f"finalize-{uuid.uuid4().hex[:8]}"
            work_dir.mkdir(parents=True, exist_ok=True)
            memory = ctx.settings.run_memory_mb
            differ = Differ(open_duckdb(temp_dir=str(work_dir), memory_mb=memory))
            try:
                compact_if_due(snapshot_store(ctx), sync_id, run_id, differ)
            finally:
                differ.close()
                shutil.rmtree(work_dir, ignore_errors=True)
                with contextlib.suppress(OSError):
                    work_dir.parent.rmdir()
        recorded = finish_run(ctx.sessions, run_id, outcome, executor_id=executor_id)
    if recorded and outcome.status == RunStatus.COMPLETED:
        fire_chained(ctx, run_id)
    log.info("fan-out run %s ended %s (%s)", run_id, outcome.status, outcome.reason_code)
    return recorded


def fire_chained(ctx: AppContext, run_id: str) -> None:
    """Chained syncs run after a successful upstream run."""
    with ctx.sessions() as s:
        run = s.get(SyncRun, run_id)
        sync_id = run.sync_id if run else None
    if sync_id:
        fire_dependents(ctx.sessions, ctx.queue, sync_id=sync_id)


def reap_once(ctx: AppContext, *, executor_id: str) -> list[str]:
    """Look after dead peers; returns the ids of the runs reaped.

    Runs whose worker died are failed and resumed as new attempts; shards whose worker died
    go back to pending; fan-out runs whose shards all ended are ended. Every worker runs this:
    each transition is conditional, so concurrent reapers agree.
    """
    timeout = ctx.settings.heartbeat_timeout
    reaped = reap_stale_runs(
        ctx.sessions,
        timeout_seconds=timeout,
        resume=lambda s, run: resume_in(s, ctx.queue, run),
    )
    reap_stale_shards(ctx.sessions, ctx.queue, timeout_seconds=timeout)
    for run_id in runs_ready_to_finalize(ctx.sessions):
        finalize_fan_out(ctx, run_id, executor_id=new_claim_id(executor_id))
    return reaped


def maintenance_interval(ctx: AppContext) -> float:
    """How often a worker looks for dead peers: a few times per heartbeat timeout."""
    return min(max(ctx.settings.heartbeat_timeout / 4, 0.5), 15.0)
