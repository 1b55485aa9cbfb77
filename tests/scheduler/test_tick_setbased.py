"""The tick is set-based and chunked: its statements do not grow with the due syncs.

Creating runs one ORM object at a time made a tick over 10,000 due syncs quadratic (the
session synchronised every loaded Sync on each update) and one giant transaction.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy import event

from syncline.scheduler.tick import tick
from syncline.store.tables import SyncRun
from tests.fixtures.harness import Harness
from tests.scheduler.test_tick import T0, _finish_all, _sync


def _statements(h: Harness, fn: object) -> int:
    count = 0

    def seen(*_a: object) -> None:
        nonlocal count
        count += 1

    engine = h.ctx.sessions.kw["bind"]
    event.listen(engine, "before_cursor_execute", seen)
    try:
        fn()  # type: ignore[operator]
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    return count


def _due_tick(h: Harness, tmp: str, n: int) -> tuple[int, list[str]]:
    for _ in range(n):
        _sync(h, tmp, schedule="* * * * *")
    tick(h.ctx, now=T0)  # first sight: every sync gets its first slot
    _finish_all(h)
    out: list[str] = []
    n_statements = _statements(h, lambda: out.extend(tick(h.ctx, now=T0 + timedelta(minutes=1))))
    return n_statements, out


def test_tick_statements_do_not_grow_with_due_syncs(harness: Harness, tmp_path: object) -> None:
    few, created_few = _due_tick(harness, str(tmp_path), 3)
    assert len(created_few) == 3
    _finish_all(harness)
    more, created_more = _due_tick(harness, str(tmp_path), 30)  # the first 3 are not due
    assert len(created_more) == 30
    assert more <= few, (few, more)


def test_tick_commits_in_chunks_and_fires_each_once(harness: Harness, tmp_path: object) -> None:
    h = harness
    commits = 0

    def committed(_s: object) -> None:
        nonlocal commits
        commits += 1

    for _ in range(25):
        _sync(h, str(tmp_path), schedule="* * * * *")
    tick(h.ctx, now=T0, chunk_size=10)
    _finish_all(h)
    event.listen(h.ctx.sessions, "after_commit", committed)
    try:
        created = tick(h.ctx, now=T0 + timedelta(minutes=1), chunk_size=10)
    finally:
        event.remove(h.ctx.sessions, "after_commit", committed)
    assert len(created) == len(set(created)) == 25
    assert commits >= 3  # 10 + 10 + 5
    assert tick(h.ctx, now=T0 + timedelta(minutes=1), chunk_size=10) == []  # slot consumed
    with h.ctx.sessions() as s:
        runs = s.scalars(sa.select(SyncRun)).all()
    assert len({r.sync_id for r in runs}) == len(runs) == 25
    assert {r.trigger_ref for r in runs} == {f"schedule:{(T0 + timedelta(minutes=1)).isoformat()}"}
