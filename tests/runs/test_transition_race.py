"""Races on ``transition()``: of two executions changing one run or shard, exactly one wins.

On SQLite and on PostgreSQL, with rows only (no source or destination is ever opened).
Each race is run two ways: both sides released together from a barrier (many rounds), and
one side holding its transaction open while the other tries (the loser must wait, then see
the winner's status and match nothing).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from syncline.domain.enums import RunStatus
from syncline.domain.runs import cancelled, completed
from syncline.runs.lifecycle import claim_run, finish_run, request_cancel
from syncline.runs.reap import reap_stale_runs
from syncline.runs.shards import claim_shard
from syncline.runs.transitions import end, transition
from syncline.store.tables import RunShard, SyncRun, utcnow
from tests.fixtures.harness import Harness

ROUNDS = 8
P, R = RunStatus.PENDING, RunStatus.RUNNING


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest) -> Iterator[Harness]:
    yield request.getfixturevalue("harness" if request.param == "sqlite" else "pg_harness")


def _sync(h: Harness) -> str:
    # A file destination that is never opened: these tests only move rows.
    return h.make_sync(
        model_sql="SELECT 1 AS id",
        primary_key="id",
        destination_type="file",
        destination_config={"path": "/nonexistent", "format": "csv"},
        mapping=[{"source_column": "id", "destination_field": "id"}],
    )


def _run(h: Harness, sync_id: str, status: RunStatus, executor_id: str | None = None) -> str:
    with h.ctx.sessions.begin() as s:
        # Earlier rounds' runs end, so this one can be the sync's active run.
        s.execute(
            sa.update(SyncRun)
            .where(SyncRun.sync_id == sync_id, SyncRun.status.in_(("pending", "running")))
            .values(status="completed")
        )
        run = SyncRun(
            sync_id=sync_id,
            workspace_id=h.workspace_id,
            status=status.value,
            executor_id=executor_id,
            last_heartbeat_at=utcnow() if status == R else None,
        )
        s.add(run)
        s.flush()
        return run.id


def _status(sessions: sessionmaker[Session], table: type[SyncRun | RunShard], row_id: str) -> str:
    with sessions() as s:
        row = s.get(table, row_id)
        assert row is not None
        return row.status


def _race(*sides: Callable[[], bool]) -> list[bool]:
    """Run every side at once on its own thread (and connection); their results in order."""
    barrier = threading.Barrier(len(sides))
    results: list[bool | BaseException] = [False] * len(sides)

    def go(i: int) -> None:
        barrier.wait()
        try:
            results[i] = sides[i]()
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(sides))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return [bool(r) for r in results]


def _end_run(sessions: sessionmaker[Session], run_id: str, to: RunStatus) -> Callable[[], bool]:
    outcome = completed() if to == RunStatus.COMPLETED else cancelled("cancelled by user")

    def side() -> bool:
        with sessions.begin() as s:
            return end(s, SyncRun, run_id, outcome)

    return side


def test_completed_vs_cancelled_exactly_one_wins(store: Harness) -> None:
    h = store
    sync_id = _sync(h)
    for _ in range(ROUNDS):
        run_id = _run(h, sync_id, R, "w")
        done = _race(
            _end_run(h.ctx.sessions, run_id, RunStatus.COMPLETED),
            _end_run(h.ctx.sessions, run_id, RunStatus.CANCELLED),
        )
        assert done.count(True) == 1, done
        winner = "completed" if done[0] else "cancelled"
        assert _status(h.ctx.sessions, SyncRun, run_id) == winner


def test_loser_waits_for_the_winner_then_matches_nothing(store: Harness) -> None:
    h = store
    run_id = _run(h, _sync(h), R, "w")
    holding = threading.Event()
    committing = threading.Event()

    def winner() -> bool:
        with h.ctx.sessions.begin() as s:
            assert end(s, SyncRun, run_id, completed())
            holding.set()
            time.sleep(0.5)  # the other side tries while this transaction is open
            committing.set()
        return True

    def loser() -> bool:
        assert holding.wait(30)
        with h.ctx.sessions.begin() as s:
            won = end(s, SyncRun, run_id, cancelled("cancelled by user"))
            assert committing.is_set(), "the loser's UPDATE did not wait for the winner"
        return won

    assert _race(winner, loser) == [True, False]
    with h.ctx.sessions() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None
        assert (run.status, run.result_class) == ("completed", "success")


def test_two_claims_one_owner(store: Harness) -> None:
    h = store
    sync_id = _sync(h)
    for _ in range(ROUNDS):
        run_id = _run(h, sync_id, P)
        claims = _race(
            *(partial(claim_run, h.ctx.sessions, run_id, executor_id=f"w{n}") for n in range(3))
        )
        assert claims.count(True) == 1, claims
        with h.ctx.sessions() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            assert (run.status, run.executor_id) == ("running", f"w{claims.index(True)}")


def test_cancel_vs_claim_of_a_pending_run(store: Harness) -> None:
    """The user cancels as a worker claims: either the run never starts, or it runs."""
    h = store
    sync_id = _sync(h)
    for _ in range(ROUNDS):
        run_id = _run(h, sync_id, P)

        def cancel(run_id: str = run_id) -> bool:
            with h.ctx.sessions.begin() as s:
                return request_cancel(s, run_id, requested_by="u")

        immediate, claimed = _race(
            cancel, partial(claim_run, h.ctx.sessions, run_id, executor_id="w")
        )
        assert immediate != claimed, (immediate, claimed)
        with h.ctx.sessions() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None and run.cancel_requested_at is not None
            assert run.status == ("cancelled" if immediate else "running")


def test_finish_vs_reaper(store: Harness) -> None:
    """A slow worker finishes just as the reaper declares it dead: one of them records."""
    h = store
    sync_id = _sync(h)
    for _ in range(ROUNDS):
        run_id = _run(h, sync_id, R, "slow")
        later = utcnow() + timedelta(minutes=5)

        def reap(later: datetime = later) -> bool:
            return reap_stale_runs(h.ctx.sessions, timeout_seconds=60, now=later) != []

        outcome = completed(rows_synced=3)
        finished, reaped = _race(
            partial(finish_run, h.ctx.sessions, run_id, outcome, executor_id="slow"), reap
        )
        assert finished != reaped, (finished, reaped)
        with h.ctx.sessions() as s:
            run = s.get(SyncRun, run_id)
            assert run is not None
            expected = ("completed", 3) if finished else ("failed", 0)
            assert (run.status, run.rows_synced) == expected
            assert run.result_reason_code == ("ok" if finished else "heartbeat_timeout")


def _claims_shard(sessions: sessionmaker[Session], shard_id: str, executor_id: str) -> bool:
    return claim_shard(sessions, shard_id, executor_id=executor_id) is not None


def test_two_shard_claims_and_release_vs_finish(store: Harness) -> None:
    h = store
    run_id = _run(h, _sync(h), R, "fan-out")
    with h.ctx.sessions.begin() as s:
        shards = [
            RunShard(run_id=run_id, sync_id="x", shard_index=i, shard_count=ROUNDS)
            for i in range(ROUNDS)
        ]
        s.add_all(shards)
        s.flush()
        shard_ids = [sh.id for sh in shards]
    for shard_id in shard_ids:
        claims = _race(
            *(partial(_claims_shard, h.ctx.sessions, shard_id, f"w{n}") for n in range(2))
        )
        assert claims.count(True) == 1, claims
        owner = f"w{claims.index(True)}"

        def release(shard_id: str = shard_id, owner: str = owner) -> bool:
            with h.ctx.sessions.begin() as s:
                return transition(
                    s, RunShard, shard_id, R, P, where=(RunShard.executor_id == owner,)
                )

        def finish(shard_id: str = shard_id, owner: str = owner) -> bool:
            with h.ctx.sessions.begin() as s:
                ours = (RunShard.executor_id == owner,)
                return end(s, RunShard, shard_id, completed(), where=ours)

        released, finished = _race(release, finish)
        assert released != finished, (released, finished)
        expected = "pending" if released else "completed"
        assert _status(h.ctx.sessions, RunShard, shard_id) == expected
