"""Load lanes: idempotent batches written side by side commit exactly what was acknowledged.

The fakes let a test pick which batch fails or is stopped and keep another lane's batch in
flight meanwhile; the PostgreSQL tests compare lanes with one lane row by row.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest

from syncline.connectors.base import (
    BatchResult,
    Capabilities,
    ChangeBatch,
    DestinationError,
    Interrupted,
    RunInfo,
)
from syncline.connectors.destinations.postgres import PostgresDestination
from syncline.connectors.destinations.postgres.load import StagedWriter
from syncline.domain.enums import Operation, SyncMode
from syncline.engine.lanes import load_lanes
from syncline.engine.snapshot.types import SnapshotStore
from syncline.execution.engine_env import snapshot_store
from syncline.services.sync_spec import SyncPatch

from .conftest import Harness
from .fakes import Bench, FakeControl, FakeDestination


def _held(snapshots: SnapshotStore, sync_id: str = "sync-1") -> set[str]:
    """The keys the snapshot says the destination holds (deltas replayed in order)."""
    held: set[str] = set()
    for seg in snapshots.segments(sync_id):
        for pk, deleted in zip(
            seg.table.column("pk").to_pylist(), seg.table.column("deleted").to_pylist(), strict=True
        ):
            (held.discard if deleted else held.add)(pk)
    return held


class LaneDestination(FakeDestination):
    """A fake that allows two writers; one instance stands for every lane (shared store).

    The ``slow`` batch (by ``seq``) takes a while, so another lane's batch finishes first;
    ``fail_at`` / ``interrupt_at`` fail or interrupt the batch with that ``seq``. ``keys``
    keeps every batch's keys by ``seq`` (the differ's order is not the key order).
    """

    capabilities: ClassVar[Capabilities] = Capabilities(modes=frozenset(SyncMode), max_writers=2)

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.active = 0
        self.most_active = 0
        self.begins = 0
        self.slow: int | None = None
        self.pause = 0.05
        self.fail_at: int | None = None
        self.interrupt_at: int | None = None
        self.keys: dict[int, list[str]] = {}

    def begin(self, run: RunInfo) -> None:
        with self.lock:
            self.begins += 1
        super().begin(run)

    def write(self, batch: ChangeBatch) -> BatchResult:
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        try:
            with self.lock:
                self.keys[batch.seq] = list(batch.keys)
            time.sleep(0.5 if batch.seq == self.slow else self.pause)
            if batch.seq == self.fail_at:
                raise DestinationError("batch refused")
            if batch.seq == self.interrupt_at:
                with self.lock:
                    self.held[batch.keys[0]] = {}
                raise Interrupted(acknowledged=[0])
            with self.lock:
                return super().write(batch)
        finally:
            with self.lock:
                self.active -= 1


def _bench(tmp_path: Path, **config: Any) -> tuple[Bench, LaneDestination]:
    b = Bench(tmp_path)
    b.sync_fields["config"] = {**b.sync_fields["config"], **config}
    dest = LaneDestination()
    b.destination = dest
    return b, dest


def test_lanes_follow_the_destination_and_the_knob() -> None:
    assert load_lanes(1, None) == 1
    assert load_lanes(2, None) == 2
    assert load_lanes(2, {"load_parallelism": 1}) == 1
    assert load_lanes(2, {"load_parallelism": 8}) == 2  # never above what the destination allows
    assert PostgresDestination.capabilities.max_writers == 2


@pytest.mark.parametrize("bad", [0, 9, "2", True])
def test_load_parallelism_is_validated(bad: Any) -> None:
    with pytest.raises(ValueError, match="load_parallelism"):
        SyncPatch(config={"load_parallelism": bad})


def test_upserts_go_out_on_two_lanes_and_commit_every_batch(tmp_path: Path) -> None:
    b, dest = _bench(tmp_path)
    outcome, _ = b.run()
    assert outcome.status == "completed" and outcome.rows_synced == 10
    assert dest.begins == 2 and dest.most_active == 2  # two lanes, both writing at once
    assert set(dest.held) == _held(b.snapshots) == {str(i) for i in range(1, 11)}
    assert dest.finished == [True, True]
    assert outcome.summary["batches"] == 4 and outcome.summary["sent_total"] == 10

    b.rows = [r for r in b.rows if r["id"] <= 6]  # mirror-like: deletes after the upserts
    b.mode = "mirror"
    b.rows[0]["email"] = "changed"
    outcome, _ = b.run()
    assert outcome.status == "completed"
    assert set(dest.held) == _held(b.snapshots) == {str(i) for i in range(1, 7)}
    assert dest.held["1"]["email"] == "changed"


def test_one_lane_when_the_knob_says_so(tmp_path: Path) -> None:
    b, dest = _bench(tmp_path, load_parallelism=1)
    outcome, _ = b.run()
    assert outcome.rows_synced == 10 and dest.begins == 1 and dest.most_active == 1


def test_inserts_stay_on_one_lane(tmp_path: Path) -> None:
    b, dest = _bench(tmp_path)
    b.mode = "insert"
    outcome, _ = b.run()
    assert outcome.rows_synced == 10 and dest.begins == 1 and dest.most_active == 1


def test_a_failed_batch_on_one_lane_commits_exactly_the_other(tmp_path: Path) -> None:
    b, dest = _bench(tmp_path, max_retries=1)
    dest.slow = 1  # batch 1 is still in flight on lane 0 when batch 2 fails on lane 1
    dest.fail_at = 2
    outcome, _ = b.run()
    assert outcome.status == "failed" and outcome.reason_code == "destination_error"
    first = set(dest.keys[1])
    assert _held(b.snapshots) == set(dest.held) == first and len(first) == 3
    assert outcome.rows_synced == 3 and set(dest.keys) == {1, 2}  # no batch started after

    dest.fail_at = dest.slow = None
    dest.writes.clear()
    outcome, _ = b.run()
    assert outcome.status == "completed" and outcome.rows_synced == 7
    everything = {str(i) for i in range(1, 11)}
    assert sorted(dest.sent(Operation.UPSERT)) == sorted(everything - first)  # only the rest
    assert _held(b.snapshots) == everything


def test_an_interrupted_batch_commits_its_acknowledged_part_and_the_other_lane(
    tmp_path: Path,
) -> None:
    b, dest = _bench(tmp_path)
    dest.slow = 1
    dest.interrupt_at = 2  # acknowledges its first record, then stops
    outcome, _ = b.run()
    assert outcome.status == "cancelled"
    expected = {*dest.keys[1], dest.keys[2][0]}
    assert _held(b.snapshots) == set(dest.held) == expected and len(expected) == 4
    assert outcome.rows_synced == 4


def test_a_stop_at_a_batch_boundary_settles_the_batch_in_flight(tmp_path: Path) -> None:
    b, dest = _bench(tmp_path)
    dest.slow = 1  # batch 1 in flight when the control stops the run before batch 3
    outcome, _ = b.run(control=FakeControl(stop_at=4))
    assert outcome.status == "cancelled" and set(dest.keys) == {1, 2}
    expected = {*dest.keys[1], *dest.keys[2]}
    assert _held(b.snapshots) == set(dest.held) == expected and len(expected) == 6
    assert outcome.rows_synced == 6


# -- real PostgreSQL: lanes give the same rows and snapshot as one lane ----------------------

MAPPING = [
    {"source_column": "id", "destination_field": "id"},
    {"source_column": "email", "destination_field": "email"},
]


def _pg_rows(dsn: str, table: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT id, email FROM {table} ORDER BY id").fetchall()


def test_postgres_lanes_match_one_lane(
    harness: Harness, pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    h.sql(
        "CREATE TABLE people AS SELECT i AS id, 'p' || i || '@x.io' AS email"
        " FROM range(1, 5001) t(i)"
    )
    begun: list[int] = []
    begin = PostgresDestination.begin

    def counting_begin(self: PostgresDestination, run: RunInfo) -> None:
        begun.append(id(self))
        begin(self, run)

    monkeypatch.setattr(PostgresDestination, "begin", counting_begin)
    direct: set[int] = set()  # the writers (one per lane) whose COPY went straight in
    copy_direct = StagedWriter._copy_direct

    def spying_copy(self: StagedWriter, columns: tuple[str, ...], data: Any) -> bool:
        went = copy_direct(self, columns, data)
        if went:
            direct.add(id(self))
        return went

    monkeypatch.setattr(StagedWriter, "_copy_direct", spying_copy)
    syncs = {
        lanes: h.make_sync(
            model_sql="SELECT * FROM people",
            primary_key="id",
            destination_type="postgres",
            destination_config={"dsn": pg_database, "table": f"people_{lanes}"},
            mapping=MAPPING,
            mode="mirror",
            config={"batch_size": 500, "load_parallelism": lanes},
        )
        for lanes in (1, 2)
    }

    def both() -> None:
        for lanes, sync_id in syncs.items():
            begun.clear()
            _, run = h.run(sync_id)
            assert run.status == "completed", run.error_message
            assert len(set(begun)) == lanes
        one, two = _pg_rows(pg_database, "people_1"), _pg_rows(pg_database, "people_2")
        assert one == two and len(one) == len(set(r[0] for r in one))
        snaps = [_held(snapshot_store(h.ctx), s) for s in syncs.values()]
        assert snaps[0] == snaps[1] == {str(r[0]) for r in one}

    both()  # initial load
    # Every lane took the direct COPY: the empty-table verdict was taken before any wrote.
    assert len(direct) == 3
    h.sql("UPDATE people SET email = 'changed' WHERE id % 7 = 0")
    h.sql("INSERT INTO people SELECT i, 'new' FROM range(5001, 6001) t(i)")
    both()  # incremental: upserts
    h.sql("DELETE FROM people WHERE id % 5 = 0")
    both()  # mirror deletes after the upserts


def test_lane_budgets_keep_their_own_batch_clock_and_share_the_run_total() -> None:
    from syncline.connectors._budget import RetryBudget

    run = RetryBudget(batch_seconds=10.0, run_seconds=15.0)
    one, two = run, run.lane()
    assert one.allow(8.0, what="b1", reason="x", attempt=1)
    two.start_batch()  # another lane's batch starting does not reset lane one's clock
    assert two.allow(6.0, what="b2", reason="x", attempt=1)
    assert not one.allow(8.0, what="b1", reason="x", attempt=2)  # 14 s of 15 spent in all
    assert run.remaining() <= 1.0 and two.remaining() <= 1.0


def test_a_lane_that_cannot_begin_leaves_the_load_to_the_others(tmp_path: Path) -> None:
    """Lane 0 began with the same settings, so a refusal is a limit (connections)."""
    b, dest = _bench(tmp_path)
    begin = dest.begin

    def refuse_second(run: RunInfo) -> None:
        if dest.begins >= 1:
            dest.begins += 1
            raise DestinationError("too many connections")
        begin(run)

    dest.begin = refuse_second  # type: ignore[method-assign]
    outcome, _ = b.run()
    assert outcome.status == "completed" and outcome.rows_synced == 10
    assert dest.most_active == 1 and dest.finished == [True]


def test_a_few_changed_rows_are_split_evenly_over_the_lanes(tmp_path: Path) -> None:
    # 10 rows under a 100-row batch size: one batch would leave the second lane idle.
    b, dest = _bench(tmp_path, batch_size=100)
    outcome, _ = b.run()
    assert outcome.status == "completed" and outcome.rows_synced == 10
    assert sorted(len(k) for k in dest.keys.values()) == [5, 5]
    assert dest.most_active == 2
    assert set(dest.held) == _held(b.snapshots)


def test_one_lane_keeps_the_configured_batch_size(tmp_path: Path) -> None:
    b, dest = _bench(tmp_path, batch_size=100, load_parallelism=1)
    outcome, _ = b.run()
    assert outcome.rows_synced == 10 and [len(k) for k in dest.keys.values()] == [10]
