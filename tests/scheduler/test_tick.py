"""The scheduler fires due syncs once per slot, never paused ones."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from syncline.scheduler.tick import tick
from syncline.store.tables import Sync, SyncRun
from tests.fixtures.harness import Harness

T0 = datetime(2026, 1, 1, 10, 2, tzinfo=UTC)


def _sync(h: Harness, tmp: str, **kw: object) -> str:
    h.sql("CREATE OR REPLACE TABLE t AS SELECT 1 AS id")
    return h.make_sync(
        model_sql="SELECT * FROM t",
        primary_key="id",
        destination_type="file",
        destination_config={"path": tmp, "format": "csv"},
        mapping=[{"source_column": "id", "destination_field": "id"}],
        trigger_mode="scheduled",
        **kw,
    )


def _runs(h: Harness, sync_id: str) -> list[SyncRun]:
    with h.ctx.sessions() as s:
        return list(s.scalars(sa.select(SyncRun).where(SyncRun.sync_id == sync_id)))


def _finish_all(h: Harness) -> None:
    with h.ctx.sessions.begin() as s:
        s.execute(sa.update(SyncRun).values(status="completed"))


def test_cron_fires_once_per_slot(harness: Harness, tmp_path: object) -> None:
    h = harness
    sid = _sync(h, str(tmp_path), schedule="*/5 * * * *")
    assert tick(h.ctx, now=T0) == []  # first sight: schedule the next slot
    with h.ctx.sessions() as s:
        sync = s.get(Sync, sid)
        assert sync is not None and sync.next_run_at == datetime(2026, 1, 1, 10, 5, tzinfo=UTC)
    assert tick(h.ctx, now=T0 + timedelta(minutes=1)) == []  # not yet due
    created = tick(h.ctx, now=T0 + timedelta(minutes=3))
    assert len(created) == 1
    assert tick(h.ctx, now=T0 + timedelta(minutes=3)) == []  # same slot: once
    (run,) = _runs(h, sid)
    assert run.triggered_by == "schedule" and run.status == "pending"


def test_missed_slots_fire_once_after_downtime(harness: Harness, tmp_path: object) -> None:
    h = harness
    sid = _sync(h, str(tmp_path), schedule="*/5 * * * *")
    tick(h.ctx, now=T0)
    created = tick(h.ctx, now=T0 + timedelta(hours=5))  # 60 slots missed
    assert len(created) == 1
    with h.ctx.sessions() as s:
        sync = s.get(Sync, sid)
        assert sync is not None and sync.next_run_at == T0 + timedelta(hours=5, minutes=3)


def test_busy_sync_consumes_slot_without_second_run(harness: Harness, tmp_path: object) -> None:
    h = harness
    sid = _sync(h, str(tmp_path), schedule="*/5 * * * *")
    tick(h.ctx, now=T0)
    assert len(tick(h.ctx, now=T0 + timedelta(minutes=5))) == 1
    assert tick(h.ctx, now=T0 + timedelta(minutes=10)) == []  # first run still pending
    assert len(_runs(h, sid)) == 1


@pytest.mark.parametrize("status", ["paused", "draft"])
def test_paused_and_draft_never_fire(harness: Harness, tmp_path: object, status: str) -> None:
    h = harness
    sid = _sync(h, str(tmp_path), schedule="* * * * *")
    tick(h.ctx, now=T0)
    h.update_sync(sid, status=status)
    assert tick(h.ctx, now=T0 + timedelta(hours=1)) == []
    assert _runs(h, sid) == []


def test_frequency_object_schedule(harness: Harness, tmp_path: object) -> None:
    h = harness
    sid = _sync(h, str(tmp_path), schedule={"frequency": "daily", "hour": 6, "minute": 30})
    tick(h.ctx, now=T0)
    with h.ctx.sessions() as s:
        sync = s.get(Sync, sid)
        assert sync is not None
        assert sync.next_run_at == datetime(2026, 1, 2, 6, 30, tzinfo=UTC)


def test_two_schedulers_fire_a_slot_once(pg_harness: Harness, tmp_path: object) -> None:
    h = pg_harness
    ids = [_sync(h, str(tmp_path), schedule="*/5 * * * *") for _ in range(10)]
    tick(h.ctx, now=T0)
    results: list[list[str]] = []
    barrier = threading.Barrier(4)

    def one() -> None:
        barrier.wait()
        results.append(tick(h.ctx, now=T0 + timedelta(minutes=4)))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(r) for r in results) == 10
    assert all(len(_runs(h, i)) == 1 for i in ids)
