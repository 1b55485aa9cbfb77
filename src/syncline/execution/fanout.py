"""Fan-out runs: one run split by primary-key hash into shards that several workers load at once.

``execution_mode`` ``fan_out_entity`` or ``fan_out_window`` with ``execution_config.shards``
(default 4). The worker that claims such a run creates its shards and hands them to the queue;
each shard diffs and loads only its keys and commits its own snapshot deltas (the key sets are
disjoint, so shards never touch each other's records). The run ends when every shard has: the
last shard's worker (or any worker's maintenance, if that one died) combines the outcomes.

A shard whose worker dies goes back to pending and is resumed by another worker from its last
committed batch, up to ``1 + max_auto_resume_attempts`` executions in all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from syncline.domain.enums import (
    ExecutionMode,
    ReasonCode,
    ResultClass,
    RunStatus,
    SyncMode,
)
from syncline.domain.runs import RunOutcome, ShardRef
from syncline.execution.lifecycle import FAN_OUT_EXECUTOR, beat, owned
from syncline.runs.queue import JobQueue
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
        run.executor_id = FAN_OUT_EXECUTOR
        run.summary = {"phase": "fan_out", "shards": len(shards)}
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
            s.execute(
                sa.update(RunShard)
                .where(RunShard.id == shard_id, RunShard.status == RunStatus.PENDING.value)
                .values(status=RunStatus.CANCELLED.value, completed_at=now, updated_at=now)
            )
            return None
        res = s.execute(
            sa.update(RunShard)
            .where(RunShard.id == shard_id, RunShard.status == RunStatus.PENDING.value)
            .values(
                status=RunStatus.RUNNING.value,
                executor_id=executor_id,
                attempts=RunShard.attempts + 1,
                started_at=now,
                last_heartbeat_at=now,
                updated_at=now,
            )
        )
        if not res.rowcount:  # type: ignore[attr-defined]
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
    now = utcnow()
    with sessions.begin() as s:
        res = s.execute(
            sa.update(RunShard)
            .where(*owned(RunShard, shard_id, executor_id))
            .values(
                status=outcome.status.value,
                result_class=outcome.result_class.value,
                result_reason_code=outcome.reason_code,
                error_message=outcome.error_message,
                rows_synced=RunShard.rows_carried + outcome.rows_synced,
                rows_failed=outcome.rows_failed,
                summary=outcome.summary or {},
                completed_at=now,
                updated_at=now,
            )
        )
        return bool(res.rowcount)  # type: ignore[attr-defined]


def release_shard(
    sessions: sessionmaker[Session], queue: JobQueue, shard_id: str, *, executor_id: str
) -> bool:
    """A stopping worker hands its shard back; the new job commits with the pending state."""
    with sessions.begin() as s:
        res = s.execute(
            sa.update(RunShard)
            .where(*owned(RunShard, shard_id, executor_id))
            .values(
                status=RunStatus.PENDING.value,
                executor_id=None,
                rows_carried=RunShard.rows_synced,
                # Handing back is not a failed attempt.
                attempts=RunShard.attempts - 1,
                updated_at=utcnow(),
            )
        )
        if not res.rowcount:  # type: ignore[attr-defined]
            return False
        shard = s.get(RunShard, shard_id)
        assert shard is not None
        queue.enqueue_shard(s, shard)
        return True


def reap_stale_shards(
    sessions: sessionmaker[Session], queue: JobQueue, *, timeout_seconds: float
) -> list[str]:
    """Shards whose worker stopped heartbeating go back to pending (or fail when out of
    attempts); returns the ids of the runs concerned."""
    now = utcnow()
    cutoff = now - timedelta(seconds=timeout_seconds)
    stale_cond = (
        RunShard.status == RunStatus.RUNNING.value,
        sa.or_(RunShard.last_heartbeat_at.is_(None), RunShard.last_heartbeat_at < cutoff),
    )
    with sessions() as s:
        stale = list(s.execute(sa.select(RunShard.id, RunShard.sync_id).where(*stale_cond)))
    touched: list[str] = []
    for shard_id, sync_id in stale:
        with sessions.begin() as s:
            sync = s.get(Sync, sync_id)
            allowed = 1 + (sync.max_auto_resume_attempts if sync else 0)
            shard = s.get(RunShard, shard_id)
            if shard is None:
                continue
            exhausted = shard.attempts >= allowed
            values: dict[str, Any] = (
                {
                    "status": RunStatus.FAILED.value,
                    "result_class": ResultClass.FAILURE.value,
                    "result_reason_code": ReasonCode.HEARTBEAT_TIMEOUT.value,
                    "error_message": (
                        f"the worker of this shard stopped sending heartbeats "
                        f"{shard.attempts} times (killed or hung)"
                    ),
                    "completed_at": now,
                }
                if exhausted
                else {
                    "status": RunStatus.PENDING.value,
                    "executor_id": None,
                    "rows_carried": RunShard.rows_synced,
                }
            )
            res = s.execute(
                sa.update(RunShard)
                .where(RunShard.id == shard_id, *stale_cond)
                .values(updated_at=now, **values)
            )
            if not res.rowcount:  # type: ignore[attr-defined]
                continue
            if not exhausted:
                s.refresh(shard)
                queue.enqueue_shard(s, shard)
            touched.append(shard.run_id)
            log.warning(
                "shard %s of run %s: worker lost, %s",
                shard.shard_index,
                shard.run_id,
                "failed" if exhausted else "resumed",
            )
    return touched


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


def take_finalization(
    sessions: sessionmaker[Session], run_id: str, *, executor_id: str
) -> list[RunShard] | None:
    """Become the one executor that ends a fan-out run whose shards all ended.

    From here the run is an ordinary running run of ``executor_id``: if this executor dies
    now, the run reaper fails and resumes it like any other.
    """
    open_shards = (
        sa.select(RunShard.id).where(RunShard.run_id == run_id, RunShard.status.in_(_OPEN)).exists()
    )
    with sessions.begin() as s:
        # One conditional UPDATE: of two finalisers (the last shard's worker and a reaper),
        # exactly one matches, on SQLite as on PostgreSQL.
        res = s.execute(
            sa.update(SyncRun)
            .where(
                SyncRun.id == run_id,
                SyncRun.status == RunStatus.RUNNING.value,
                SyncRun.executor_id == FAN_OUT_EXECUTOR,
                ~open_shards,
            )
            .values(executor_id=executor_id, last_heartbeat_at=utcnow())
        )
        if not res.rowcount:  # type: ignore[attr-defined]
            return None
        shards = list(
            s.scalars(
                sa.select(RunShard).where(RunShard.run_id == run_id).order_by(RunShard.shard_index)
            )
        )
        return shards or None


def _add(total: dict[str, Any], part: dict[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, bool):
            continue
        if key == "duration_seconds" and isinstance(value, int | float):
            total[key] = max(float(total.get(key, 0.0)), float(value))
        elif isinstance(value, int | float):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, dict):
            sub = total.setdefault(key, {})
            if isinstance(sub, dict):
                _add(sub, value)


def combine_outcomes(shards: Sequence[RunShard]) -> RunOutcome:
    """The run's outcome from its shards': counts summed, the worst status wins."""
    summary: dict[str, Any] = {}
    for shard in shards:
        _add(summary, shard.summary or {})
    summary["phase"] = "done"
    summary["shards"] = [
        {
            "index": sh.shard_index,
            "status": sh.status,
            "attempts": sh.attempts,
            "rows_synced": sh.rows_synced,
            "rows_failed": sh.rows_failed,
            "result_reason_code": sh.result_reason_code,
        }
        for sh in shards
    ]
    synced = sum(sh.rows_synced for sh in shards)
    failed_rows = sum(sh.rows_failed for sh in shards)
    n = len(shards)
    failed = [sh for sh in shards if sh.status == RunStatus.FAILED.value]
    cancelled = [sh for sh in shards if sh.status == RunStatus.CANCELLED.value]
    if failed:
        first = failed[0]
        return RunOutcome(
            RunStatus.FAILED,
            ResultClass.FAILURE,
            first.result_reason_code or ReasonCode.INTERNAL_ERROR.value,
            f"{len(failed)} of {n} shards failed; shard {first.shard_index + 1}/{n}: "
            f"{first.error_message}",
            synced,
            failed_rows,
            summary,
        )
    if cancelled:
        first = cancelled[0]
        return RunOutcome(
            RunStatus.CANCELLED,
            ResultClass.CANCELLED,
            ReasonCode.CANCELLED_BY_USER.value,
            first.error_message or "cancelled by user",
            synced,
            failed_rows,
            summary,
        )
    return RunOutcome(
        RunStatus.COMPLETED,
        ResultClass.PARTIAL if failed_rows else ResultClass.SUCCESS,
        ReasonCode.RECORDS_REJECTED.value if failed_rows else ReasonCode.OK.value,
        "",
        synced,
        failed_rows,
        summary,
    )
