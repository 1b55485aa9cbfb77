"""Fan-out runs: one run split by primary-key hash into shards that several workers load at once.

``execution_mode`` ``fan_out_entity`` or ``fan_out_window`` with ``execution_config.shards``
(default 4). The worker that claims such a run creates its shards and hands them to the queue;
each shard diffs and loads only its keys and commits its own snapshot deltas (the key sets are
disjoint, so shards never touch each other's records). The run ends when every shard has: the
last shard's worker (or any worker's maintenance, if that one died) combines the outcomes.

A shard whose worker dies goes back to pending and is resumed by another worker from its last
committed batch, up to ``1 + max_auto_resume_attempts`` executions in all (``runs/reap.py``).
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from syncline.domain.enums import ExecutionMode, RunStatus, SyncMode
from syncline.domain.phases import queued_summary
from syncline.domain.runs import RunOutcome, ShardRef, ShardResult
from syncline.runs.queue import JobQueue
from syncline.runs.transitions import FAN_OUT_EXECUTOR, beat, changed, end, owned, transition
from syncline.store.tables import RunShard, Sync, SyncRun, utcnow

log = logging.getLogger(__name__)

DEFAULT_SHARDS = 4
MAX_SHARDS = 64
_OPEN = (RunStatus.PENDING.value, RunStatus.RUNNING.value)


def planned_shards(run: SyncRun, sync: Sync) -> int:
    """How many shards ``run`` is split into (1: it runs sequentially).

    An append sync with a high-water mark stays sequential: its mark is one value for the
    whole model, which shards finishing in any order could not advance safely.
    """
    if run.execution_mode == ExecutionMode.SEQUENTIAL.value:
        return 1
    if sync.sync_mode == SyncMode.APPEND.value and sync.high_water_mark:
        return 1
    n = int((sync.execution_config or {}).get("shards", DEFAULT_SHARDS))
    return max(1, min(MAX_SHARDS, n))


def _locked_run(s: Session, run_id: str) -> SyncRun | None:
    return s.get(SyncRun, run_id, with_for_update=s.get_bind().dialect.name == "postgresql")


def start_fan_out(
    sessions: sessionmaker[Session], queue: JobQueue, run_id: str, *, executor_id: str
) -> bool:
    """Split a run this executor claimed into shards and queue them; False if it is sequential.

    The shard rows and their jobs commit together with the run handing itself to its shards.
    """
    with sessions.begin() as s:
        run = _locked_run(s, run_id)
        if run is None or run.status != RunStatus.RUNNING.value or run.executor_id != executor_id:
            return False
        sync = s.get(Sync, run.sync_id)
        if sync is None:
            return False
        n = planned_shards(run, sync)
        if n <= 1:
            return False
        shards = list(s.scalars(sa.select(RunShard).where(RunShard.run_id == run_id)))
        if not shards:
            shards = [
                RunShard(run_id=run_id, sync_id=run.sync_id, shard_index=i, shard_count=n)
                for i in range(n)
            ]
            s.add_all(shards)
            s.flush()
        run.executor_id = FAN_OUT_EXECUTOR  # still running: the owner changes, not the status
        run.summary = {**queued_summary(), "shards": len(shards)}  # shards report next
        for shard in shards:
            if shard.status == RunStatus.PENDING.value:
                queue.enqueue_shard(s, shard)
    log.info("run %s fanned out into %d shards", run_id, n)
    return True


def _ref(shard: RunShard) -> ShardRef:
    return ShardRef(shard.id, shard.shard_index, shard.shard_count)


def claim_shard(
    sessions: sessionmaker[Session], shard_id: str, *, executor_id: str
) -> tuple[str, ShardRef] | None:
    """Take a pending shard of a running run: (run_id, shard); None if it is not claimable.

    A shard whose run already ended (cancelled, reaped) is closed instead of executed.
    """
    now = utcnow()
    with sessions.begin() as s:
        shard = s.get(RunShard, shard_id)
        if shard is None:
            return None
        run = s.get(SyncRun, shard.run_id)
        if run is None or run.status != RunStatus.RUNNING.value:
            transition(
                s,
                RunShard,
                shard_id,
                RunStatus.PENDING,
                RunStatus.CANCELLED,
                values={"completed_at": now},
                now=now,
            )
            return None
        if not transition(
            s,
            RunShard,
            shard_id,
            RunStatus.PENDING,
            RunStatus.RUNNING,
            values={
                "executor_id": executor_id,
                "attempts": RunShard.attempts + 1,
                "started_at": now,
                "last_heartbeat_at": now,
            },
            now=now,
        ):
            return None
        return shard.run_id, _ref(shard)


def claim_next_shard(
    sessions: sessionmaker[Session], *, executor_id: str
) -> tuple[str, ShardRef] | None:
    """The embedded pool's poll: the oldest pending shard of a running run, if any."""
    with sessions() as s:
        q = (
            sa.select(RunShard.id)
            .join(SyncRun, SyncRun.id == RunShard.run_id)
            .where(
                RunShard.status == RunStatus.PENDING.value,
                SyncRun.status == RunStatus.RUNNING.value,
            )
            .order_by(RunShard.created_at, RunShard.shard_index)
            .limit(8)
        )
        candidates = list(s.scalars(q))
    for shard_id in candidates:
        claimed = claim_shard(sessions, shard_id, executor_id=executor_id)
        if claimed is not None:
            return claimed
    return None


def shard_heartbeat(sessions: sessionmaker[Session], shard_id: str, *, executor_id: str) -> bool:
    return beat(sessions, RunShard, shard_id, executor_id=executor_id)


def finish_shard(
    sessions: sessionmaker[Session], shard_id: str, outcome: RunOutcome, *, executor_id: str
) -> bool:
    """Record a shard's outcome; False if the shard was no longer ours (reaped meanwhile)."""
    with sessions.begin() as s:
        return end(
            s,
            RunShard,
            shard_id,
            outcome,
            where=owned(RunShard, shard_id, executor_id),
            values={
                "rows_synced": RunShard.rows_carried + outcome.rows_synced,
                "rows_failed": outcome.rows_failed,
                "summary": outcome.summary or {},
            },
        )


def back_to_pending(
    s: Session,
    shard_id: str,
    *,
    where: tuple[sa.ColumnElement[bool], ...],
    now: datetime | None = None,
    **extra: object,
) -> bool:
    """A shard whose execution stopped goes back to pending, keeping the rows it sent."""
    return transition(
        s,
        RunShard,
        shard_id,
        RunStatus.RUNNING,
        RunStatus.PENDING,
        where=where,
        values={"executor_id": None, "rows_carried": RunShard.rows_synced, **extra},
        now=now,
    )


def release_shard(
    sessions: sessionmaker[Session], queue: JobQueue, shard_id: str, *, executor_id: str
) -> bool:
    """A stopping worker hands its shard back; the new job commits with the pending state."""
    with sessions.begin() as s:
        # Handing back is not a failed attempt.
        attempts = RunShard.attempts - 1
        if not back_to_pending(
            s, shard_id, where=owned(RunShard, shard_id, executor_id), attempts=attempts
        ):
            return False
        shard = s.get(RunShard, shard_id)
        assert shard is not None
        queue.enqueue_shard(s, shard)
        return True


def runs_ready_to_finalize(sessions: sessionmaker[Session]) -> list[str]:
    """Fan-out runs all of whose shards have ended (normally the last shard's worker ends the
    run itself; this catches a worker that died in between)."""
    open_shards = (
        sa.select(RunShard.id)
        .where(RunShard.run_id == SyncRun.id, RunShard.status.in_(_OPEN))
        .exists()
    )
    with sessions() as s:
        return list(
            s.scalars(
                sa.select(SyncRun.id).where(
                    SyncRun.status == RunStatus.RUNNING.value,
                    SyncRun.executor_id == FAN_OUT_EXECUTOR,
                    ~open_shards,
                )
            )
        )


def shard_result(shard: RunShard) -> ShardResult:
    """A shard row as the plain value ``combine_outcomes`` reads."""
    return ShardResult(
        index=shard.shard_index,
        status=RunStatus(shard.status),
        attempts=shard.attempts,
        rows_synced=shard.rows_synced,
        rows_failed=shard.rows_failed,
        result_reason_code=shard.result_reason_code,
        error_message=shard.error_message,
        summary=shard.summary or {},
    )


def take_finalization(
    sessions: sessionmaker[Session], run_id: str, *, executor_id: str
) -> list[ShardResult] | None:
    """Become the one executor that ends a fan-out run whose shards all ended; returns the
    shards' results (for ``combine_outcomes``), None if another executor took it.

    From here the run is an ordinary running run of ``executor_id``: if this executor dies
    now, the run reaper fails and resumes it like any other.
    """
    open_shards = (
        sa.select(RunShard.id).where(RunShard.run_id == run_id, RunShard.status.in_(_OPEN)).exists()
    )
    with sessions.begin() as s:
        # One conditional UPDATE of the owner (the status stays running): of two finalisers
        # (the last shard's worker and a reaper), exactly one matches.
        if not changed(
            s,
            sa.update(SyncRun)
            .where(
                SyncRun.id == run_id,
                SyncRun.status == RunStatus.RUNNING.value,
                SyncRun.executor_id == FAN_OUT_EXECUTOR,
                ~open_shards,
            )
            .values(executor_id=executor_id, last_heartbeat_at=utcnow()),
        ):
            return None
        shards = s.scalars(
            sa.select(RunShard).where(RunShard.run_id == run_id).order_by(RunShard.shard_index)
        )
        return [shard_result(sh) for sh in shards] or None
