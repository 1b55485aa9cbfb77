"""Snapshot commits of a load (issue 16): few large segments, never a record lost or doubled.

Real engine, real PostgreSQL destination, embedded file snapshots. A "crash" is the snapshot
store failing right after the destination committed a batch: the next run must find every
row exactly once in the destination and end with the snapshot equal to it.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from syncline.engine.snapshot import FileSnapshotStore

from .conftest import Harness

MAPPING = [
    {"source_column": "id", "destination_field": "id"},
    {"source_column": "email", "destination_field": "email"},
]


def _setup(h: Harness, dsn: str, mode: str, rows: int) -> str:
    h.sql(
        "CREATE OR REPLACE TABLE people AS SELECT i AS id, 'p' || i || '@x.io' AS email"
        f" FROM range(1, {rows + 1}) t(i)"
    )
    return h.make_sync(
        model_sql="SELECT * FROM people",
        primary_key="id",
        destination_type="postgres",
        destination_config={"dsn": dsn, "table": "people"},
        mapping=MAPPING,
        mode=mode,
    )


def _dest(dsn: str) -> tuple[int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*), count(DISTINCT id) FROM people").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _appends(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []
    real = FileSnapshotStore.append

    def counting(self: FileSnapshotStore, sync_id: str, kind: str, table: Any, **kw: Any) -> int:
        seen.append((kind, table.num_rows))
        return real(self, sync_id, kind, table, **kw)

    monkeypatch.setattr(FileSnapshotStore, "append", counting)
    return seen


def test_an_initial_load_commits_one_delta_not_one_per_batch(
    harness: Harness, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_id = _setup(harness, pg_database, "upsert", rows=5000)  # 5 batches of 1,000
    appends = _appends(monkeypatch)
    _, run = harness.run(sync_id)
    assert run.status == "completed" and run.rows_synced == 5000
    # One segment reads as fast as a base: compacting it would only rewrite it.
    assert appends == [("delta", 5000)]
    harness.sql("UPDATE people SET email = 'x' || id WHERE id <= 2000")
    _, run = harness.run(sync_id)  # 2,000 changed: more than 20 % of the first segment
    assert run.rows_synced == 2000
    assert appends[1:] == [("delta", 2000), ("base", 5000)]
    assert _dest(pg_database) == (5000, 5000)


def test_inserts_are_committed_batch_by_batch(
    harness: Harness, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create may not be idempotent: its snapshot delta is never held back."""
    sync_id = _setup(harness, pg_database, "insert", rows=3000)
    appends = _appends(monkeypatch)
    _, run = harness.run(sync_id)
    assert run.rows_synced == 3000
    assert [kind for kind, _ in appends] == ["delta", "delta", "delta", "base"]


def test_a_cancel_mid_load_commits_what_was_acknowledged(
    harness: Harness, pg_database: str
) -> None:
    sync_id = _setup(harness, pg_database, "upsert", rows=5000)
    calls = {"n": 0}

    def stop_after_three_batches() -> None:
        calls["n"] += 1
        if calls["n"] > 4:  # before extract, then before each batch
            raise RuntimeError("worker died")

    _, run = harness.run(sync_id, on_batch=stop_after_three_batches)
    assert run.status == "failed"
    store = FileSnapshotStore(harness.ctx.settings.data_dir / "snapshots")
    assert sum(rows for _, rows in store.sizes(sync_id)) == 3000 == _dest(pg_database)[0]
    _, run = harness.run(sync_id)
    assert run.rows_synced == 2000  # the queued deltas were committed: nothing resent
    assert _dest(pg_database) == (5000, 5000)


@pytest.mark.parametrize("mode", ["upsert", "insert"])
def test_a_crash_between_the_copy_and_the_snapshot_commit(
    harness: Harness, pg_database: str, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """The initial load's COPY straight into the table committed; its snapshot did not."""
    sync_id = _setup(harness, pg_database, mode, rows=5000)
    real = FileSnapshotStore.append
    crashed = {"n": 0}

    def crash(self: FileSnapshotStore, sync_id: str, kind: str, table: Any, **kw: Any) -> int:
        crashed["n"] += 1
        raise OSError("disk gone")

    monkeypatch.setattr(FileSnapshotStore, "append", crash)
    _, run = harness.run(sync_id)
    assert run.status == "failed" and crashed["n"] >= 1
    held = _dest(pg_database)[0]
    assert held >= 1000  # at least the first batch is in the table, unknown to the snapshot
    monkeypatch.setattr(FileSnapshotStore, "append", real)
    _, run = harness.run(sync_id)
    assert run.status == "completed" and run.rows_failed == 0
    assert run.rows_synced == 5000  # all resent: the snapshot knew none of them
    assert _dest(pg_database) == (5000, 5000)  # every key once
    _, run = harness.run(sync_id)
    assert run.rows_synced == 0  # and the snapshot now agrees with the table
