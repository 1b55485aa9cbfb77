"""Scheduling with real ``syncline scheduler`` processes sharing one PostgreSQL store.

Two schedulers running at once fire every due slot once across both of them; a scheduler
killed with SIGKILL and replaced by two new ones does not fire a consumed slot again; a schedule
missed for ten minutes fires once, not once per missed slot.

No worker runs. A stand-in for the workers marks every pending run completed within ~50 ms, so
the one-active-run-per-sync index cannot hide a second firing: it would be a second row for the
same slot. Every check is per slot (``trigger_ref``), so a minute boundary passing during a test
(a new, legitimate slot of ``* * * * *``) is allowed and does not fail it; a run for a second
time in one slot, or for one of the missed minutes, does.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncline.context import AppContext
from syncline.store.tables import Destination, Model, Source, Sync, SyncRun, Workspace, utcnow
from tests.fixtures.servers import pg_store, spawn, stop

pytestmark = pytest.mark.e2e
INTERVAL = 0.2  # seconds between two ticks of one scheduler
EVERY_MINUTE = "* * * * *"
NOT_YET = datetime(2100, 1, 1, tzinfo=UTC)  # parks a sync until the test makes it due
STARTUP = 90.0  # generous: process start-up on a loaded machine
FIRE = 30.0


@pytest.fixture
def store(tmp_path: Path, pg_database: str) -> Iterator[tuple[AppContext, dict[str, str]]]:
    yield from pg_store(tmp_path, pg_database, SYNCLINE_SCHEDULER_INTERVAL=str(INTERVAL))


def _minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def _ref(slot: datetime) -> str:
    return f"schedule:{slot.isoformat()}"


def _slot(run: SyncRun) -> datetime:
    assert run.trigger_ref is not None and run.trigger_ref.startswith("schedule:"), run.trigger_ref
    return datetime.fromisoformat(run.trigger_ref.removeprefix("schedule:"))


def _scheduled_syncs(ctx: AppContext, n: int, tmp_path: Path) -> list[str]:
    """``n`` active syncs on ``* * * * *`` (UTC), parked until the test makes them due."""
    with ctx.sessions.begin() as s:
        ws = Workspace(name="e2e-scheduler")
        s.add(ws)
        s.flush()
        src = Source(
            workspace_id=ws.id,
            name="wh",
            type="duckdb",
            config=ctx.secrets.encrypt_config({"path": str(tmp_path / "wh.duckdb")}),
        )
        s.add(src)
        s.flush()
        m = Model(
            workspace_id=ws.id, source_id=src.id, name="t", sql="SELECT * FROM t", primary_key="id"
        )
        d = Destination(
            workspace_id=ws.id,
            name="t",
            type="postgres",
            config=ctx.secrets.encrypt_config({"dsn": "postgresql://unused/db", "table": "t"}),
        )
        s.add_all([m, d])
        s.flush()
        syncs = [
            Sync(
                workspace_id=ws.id,
                model_id=m.id,
                destination_id=d.id,
                name=f"s{i}",
                sync_mode="insert",
                primary_key="id",
                status="active",
                trigger_mode="scheduled",
                schedule=EVERY_MINUTE,
                next_run_at=NOT_YET,
                field_mapping=[{"source_column": "id", "destination_field": "id"}],
            )
            for i in range(n)
        ]
        s.add_all(syncs)
        s.flush()
        return [sync.id for sync in syncs]


def _make_due(ctx: AppContext, slots: dict[str, datetime]) -> None:
    """Set each sync's ``next_run_at`` to a past slot, all in one transaction."""
    with ctx.sessions.begin() as s:
        for sync_id, slot in slots.items():
            s.execute(sa.update(Sync).where(Sync.id == sync_id).values(next_run_at=slot))


def _runs(ctx: AppContext) -> dict[str, list[SyncRun]]:
    by_sync: dict[str, list[SyncRun]] = {}
    with ctx.sessions() as s:
        for run in s.scalars(sa.select(SyncRun).order_by(SyncRun.created_at)):
            by_sync.setdefault(run.sync_id, []).append(run)
    return by_sync


def _next_run_at(ctx: AppContext) -> dict[str, datetime | None]:
    with ctx.sessions() as s:
        return {sid: t for sid, t in s.execute(sa.select(Sync.id, Sync.next_run_at))}


def _fired(ctx: AppContext, slots: dict[str, datetime]) -> Callable[[], bool]:
    def done() -> bool:
        runs = _runs(ctx)
        return all(
            _ref(slot) in {r.trigger_ref for r in runs.get(sid, [])} for sid, slot in slots.items()
        )

    return done


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def _workers_stand_in(ctx: AppContext) -> Iterator[None]:
    """Complete every pending run within ~50 ms, as infinitely fast workers would."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        while not stop.is_set():
            try:
                with ctx.engine.begin() as conn:
                    conn.execute(
                        sa.update(SyncRun)
                        .where(SyncRun.status == "pending")
                        .values(status="completed", completed_at=sa.func.now())
                    )
            except Exception as exc:  # reported by the test thread on exit
                errors.append(exc)
                return
            stop.wait(0.05)

    thread = threading.Thread(target=loop, name="workers-stand-in", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not errors, errors


def _schedulers(
    env: dict[str, str], names: list[str], log_dir: Path
) -> list[subprocess.Popen[bytes]]:
    return [spawn(["scheduler"], env, log_dir / f"scheduler-{name}.log") for name in names]


def _log(log_dir: Path, name: str) -> str:
    return (log_dir / f"scheduler-{name}.log").read_text(errors="replace")


def _wait_started(procs: list[subprocess.Popen[bytes]], names: list[str], log_dir: Path) -> None:
    """Wait until every process has started its tick loop (it prints so once the loop runs)."""

    def started() -> bool:
        for proc, name in zip(procs, names, strict=True):
            if proc.poll() is not None:
                pytest.fail(f"scheduler {name} exited ({proc.returncode}):\n{_log(log_dir, name)}")
        return all("scheduler started" in _log(log_dir, name) for name in names)

    _wait_for(started, STARTUP, f"schedulers {names} to start")


def _assert_alive(procs: list[subprocess.Popen[bytes]], names: list[str], log_dir: Path) -> None:
    for proc, name in zip(procs, names, strict=True):
        assert proc.poll() is None, f"scheduler {name} died:\n{_log(log_dir, name)}"


def _check_slots(
    runs: list[SyncRun], expected: list[datetime], since: datetime, sync_id: str
) -> None:
    """Every ``expected`` slot fired exactly once, and nothing else fired but new slots.

    A run for any other slot is allowed only for a minute boundary at or after ``since`` (the
    test's start): ``* * * * *`` legitimately fires again when a minute passes during the test.
    A second run for a slot, or a run for one of the missed minutes, fails.
    """
    assert {r.triggered_by for r in runs} == {"schedule"}, sync_id
    refs = Counter(r.trigger_ref for r in runs)
    twice = {ref: n for ref, n in refs.items() if n > 1}
    assert not twice, f"sync {sync_id}: slots fired more than once: {twice}"
    for slot in expected:
        assert refs[_ref(slot)] == 1, f"sync {sync_id}: slot {slot} fired {refs[_ref(slot)]} times"
    others = {ref for ref in refs if ref not in {_ref(slot) for slot in expected}}
    for ref in others:
        assert ref is not None and ref.startswith("schedule:"), (sync_id, ref)
        slot = datetime.fromisoformat(ref.removeprefix("schedule:"))
        assert slot == _minute(slot) and slot >= since, (
            f"sync {sync_id}: fired for {slot}, not a due slot (expected only {expected} "
            f"and minute boundaries after {since})"
        )


def _check_next_run_at(
    runs: list[SyncRun], next_run_at: datetime | None, stopped: datetime, sync_id: str
) -> None:
    """The slot was consumed: ``next_run_at`` moved to a minute boundary in the future.

    At least the boundary after the latest firing (not merely the slot after the missed one),
    at most the boundary after the schedulers stopped.
    """
    latest = max(runs, key=lambda r: r.created_at)
    assert next_run_at is not None and next_run_at == _minute(next_run_at), (sync_id, next_run_at)
    # The tick reads its clock just before it creates the run row, hence the slack.
    assert latest.created_at - timedelta(seconds=5) < next_run_at, (sync_id, next_run_at)
    assert next_run_at <= stopped + timedelta(minutes=1), (sync_id, next_run_at)


def test_two_schedulers_fire_each_due_slot_once(
    store: tuple[AppContext, dict[str, str]], tmp_path: Path
) -> None:
    ctx, env = store
    since = utcnow()
    # Three rounds of 20 syncs; each round makes its syncs due in one transaction while both
    # schedulers tick every 0.2 s. A sync is due only in its own round, so no earlier run of it
    # can still be pending (a slot that finds a pending run is rightly skipped, not fired).
    ids = _scheduled_syncs(ctx, 60, tmp_path)
    base = _minute(since) - timedelta(hours=1)
    rounds = [
        {sid: base + timedelta(minutes=r) for sid in ids[r * 20 : (r + 1) * 20]} for r in range(3)
    ]
    names = ["a", "b"]
    procs = _schedulers(env, names, tmp_path)
    try:
        with _workers_stand_in(ctx):
            _wait_started(procs, names, tmp_path)
            for due in rounds:
                _make_due(ctx, due)
                _wait_for(_fired(ctx, due), FIRE, "a round of slots to fire")
            time.sleep(10 * INTERVAL)  # ten more ticks of each: nothing may fire again
            _assert_alive(procs, names, tmp_path)
            stop(procs)
            stopped = utcnow()
        runs = _runs(ctx)
        next_run_at = _next_run_at(ctx)
        assert set(runs) == set(ids)
        for due in rounds:
            for sid, slot in due.items():
                _check_slots(runs[sid], [slot], since, sid)
        for sid in ids:
            _check_next_run_at(runs[sid], next_run_at[sid], stopped, sid)
    finally:
        stop(procs)


def test_restarted_schedulers_do_not_fire_a_consumed_slot_again(
    store: tuple[AppContext, dict[str, str]], tmp_path: Path
) -> None:
    ctx, env = store
    since = utcnow()
    *ids, canary = _scheduled_syncs(ctx, 11, tmp_path)
    # Missed while no scheduler ran: half of the syncs for the last ten minutes (eleven
    # ``* * * * *`` slots have passed since), half since the previous minute.
    minute = _minute(since)
    missed = {sid: minute - timedelta(minutes=10 if i % 2 == 0 else 1) for i, sid in enumerate(ids)}
    _make_due(ctx, missed)
    procs = _schedulers(env, ["first"], tmp_path)
    restarted: list[subprocess.Popen[bytes]] = []
    names = ["second", "third"]
    try:
        with _workers_stand_in(ctx):
            _wait_for(_fired(ctx, missed), STARTUP + FIRE, "the first scheduler to fire")
            _wait_for(
                lambda: all(r.status == "completed" for rs in _runs(ctx).values() for r in rs),
                FIRE,
                "the stand-in workers to complete the runs",
            )
            (first,) = procs
            first.send_signal(signal.SIGKILL)
            first.wait()
            restarted = _schedulers(env, names, tmp_path)
            _wait_started(restarted, names, tmp_path)
            # Prove the new schedulers tick (the first is dead): a sync made due now fires.
            canary_slot = {canary: minute - timedelta(minutes=30)}
            _make_due(ctx, canary_slot)
            _wait_for(_fired(ctx, canary_slot), FIRE, "a restarted scheduler to fire")
            time.sleep(10 * INTERVAL)  # ten more ticks of each: nothing may fire again
            _assert_alive(restarted, names, tmp_path)
            stop(restarted)
            stopped = utcnow()
        runs = _runs(ctx)
        next_run_at = _next_run_at(ctx)
        assert set(runs) == {*ids, canary}
        for sid, slot in {**missed, **canary_slot}.items():
            _check_slots(runs[sid], [slot], since, sid)
        for sid in runs:
            _check_next_run_at(runs[sid], next_run_at[sid], stopped, sid)
        # Spelled out: ten missed minutes made one run, not ten (nor eleven).
        for sid in ids[::2]:
            late = [r for r in runs[sid] if _slot(r) < since]
            assert [_slot(r) for r in late] == [missed[sid]], sid
    finally:
        stop([*procs, *restarted])
