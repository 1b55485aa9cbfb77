"""What every executor does with a run it owns, whichever backend delivered it.

Shared by the embedded pool and procrastinate workers so both behave the same: a heartbeat
while the run executes, the outcome recorded only if the run is still ours, chained syncs
fired after a success, and a stopping worker handing the run back at a batch boundary.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from syncline.domain.enums import RunStatus
from syncline.engine.diff import Differ, open_duckdb
from syncline.engine.load import WorkerStopping
from syncline.engine.runner import ShardRef, compact_if_due, execute_run, snapshot_store
from syncline.execution.fanout import (
    combine_outcomes,
    finish_shard,
    reap_stale_shards,
    release_shard,
    runs_ready_to_finalize,
    shard_heartbeat,
    start_fan_out,
    take_finalization,
)
from syncline.execution.lifecycle import (
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


@contextmanager
def heartbeating(ctx: AppContext, beat_once: Callable[[], object], name: str) -> Iterator[None]:
    """Call ``beat_once`` every heartbeat interval on a thread while the block runs."""
    stop_beat = threading.Event()
    interval = ctx.settings.heartbeat_interval

    def beat() -> None:
        while not stop_beat.wait(interval):
            try:
                beat_once()
            except Exception:
                log.exception("heartbeat of %s failed", name)

    beater = threading.Thread(target=beat, name=f"heartbeat-{name[:16]}", daemon=True)
    beater.start()
    try:
        yield
    finally:
        stop_beat.set()
        beater.join()


def _stop_check(should_stop: Callable[[], bool]) -> Callable[[], None]:
    def check_stopping() -> None:
        if should_stop():
            raise WorkerStopping()

    return check_stopping


def execute_claimed_run(
    ctx: AppContext, run_id: str, *, executor_id: str, should_stop: Callable[[], bool]
) -> None:
    """Execute a run this executor claimed, heartbeating until it is recorded.

    A fan-out run is only split here: its shards are queued and executed separately.
    """
    try:
        if start_fan_out(ctx.sessions, ctx.queue, run_id, executor_id=executor_id):
            return
        with heartbeating(
            ctx, lambda: heartbeat(ctx.sessions, run_id, executor_id=executor_id), run_id
        ):
            try:
                outcome = execute_run(ctx, run_id, on_batch=_stop_check(should_stop))
            except WorkerStopping:
                release_run(ctx.sessions, run_id, executor_id=executor_id, queue=ctx.queue)
                log.info("run %s handed back: this worker is stopping", run_id)
                return
            recorded = finish_run(ctx.sessions, run_id, outcome, executor_id=executor_id)
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
    try:
        with heartbeating(
            ctx,
            lambda: shard_heartbeat(ctx.sessions, shard.id, executor_id=executor_id),
            f"{run_id[:8]}-{shard.label}",
        ):
            try:
                outcome = execute_run(ctx, run_id, on_batch=_stop_check(should_stop), shard=shard)
            except WorkerStopping:
                release_shard(ctx.sessions, ctx.queue, shard.id, executor_id=executor_id)
                log.info("shard %s of run %s handed back", shard.label, run_id)
                return
            finish_shard(ctx.sessions, shard.id, outcome, executor_id=executor_id)
        log.info("shard %s of run %s ended %s", shard.label, run_id, outcome.status)
        finalize_fan_out(ctx, run_id, executor_id=executor_id)
    except Exception:
        log.exception("shard %s of run %s could not be recorded", shard.label, run_id)


def finalize_fan_out(ctx: AppContext, run_id: str, *, executor_id: str) -> bool:
    """End a fan-out run once every shard has: compact the snapshot, record the sums."""
    shards = take_finalization(ctx.sessions, run_id, executor_id=executor_id)
    if shards is None:
        return False
    outcome = combine_outcomes(shards)
    with heartbeating(
        ctx, lambda: heartbeat(ctx.sessions, run_id, executor_id=executor_id), run_id
    ):
        with ctx.sessions() as s:
            run = s.get(SyncRun, run_id)
            sync_id = run.sync_id if run else None
        if sync_id is not None:
            work_dir = ctx.settings.data_dir / "work" / run_id / "finalize"
            work_dir.mkdir(parents=True, exist_ok=True)
            differ = Differ(open_duckdb(temp_dir=str(work_dir)))
            try:
                compact_if_due(snapshot_store(ctx), sync_id, run_id, differ)
            finally:
                differ.close()
                shutil.rmtree(work_dir.parent, ignore_errors=True)
        recorded = finish_run(ctx.sessions, run_id, outcome, executor_id=executor_id)
    if recorded and outcome.status == RunStatus.COMPLETED:
        fire_chained(ctx, run_id)
    log.info("fan-out run %s ended %s (%s)", run_id, outcome.status, outcome.reason_code)
    return recorded


def fire_chained(ctx: AppContext, run_id: str) -> None:
    """Chained syncs run after a successful upstream run."""
    from syncline.scheduler.tick import fire_dependents

    with ctx.sessions() as s:
        run = s.get(SyncRun, run_id)
        sync_id = run.sync_id if run else None
    if sync_id:
        fire_dependents(ctx, sync_id=sync_id)


def reap_once(ctx: AppContext, *, executor_id: str) -> list[str]:
    """Look after dead peers; returns the ids of the runs reaped.

    Runs whose worker died are failed and resumed as new attempts; shards whose worker died
    go back to pending; fan-out runs whose shards all ended are ended. Every worker runs this:
    each transition is conditional, so concurrent reapers agree.
    """
    timeout = ctx.settings.heartbeat_timeout
    reaped = reap_stale_runs(ctx.sessions, timeout_seconds=timeout)
    for run_id in reaped:
        resume_after_timeout(ctx, run_id)
    reap_stale_shards(ctx.sessions, ctx.queue, timeout_seconds=timeout)
    for run_id in runs_ready_to_finalize(ctx.sessions):
        finalize_fan_out(ctx, run_id, executor_id=executor_id)
    return reaped


def maintenance_interval(ctx: AppContext) -> float:
    """How often a worker looks for dead peers: a few times per heartbeat timeout."""
    return min(max(ctx.settings.heartbeat_timeout / 4, 0.5), 15.0)
