"""Fan-out runs: one run split by key hash into shards that several executors load at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import sqlalchemy as sa

from syncline.emulators.receiver import WebhookReceiver
from syncline.execution.embedded import EmbeddedExecutor
from syncline.execution.work import execute_claimed_shard
from syncline.runs.lifecycle import claim_run
from syncline.runs.queue import NullQueue
from syncline.runs.reap import reap_stale_shards
from syncline.runs.shards import (
    claim_next_shard,
    claim_shard,
    start_fan_out,
)
from syncline.store.tables import RunShard, SyncRun, utcnow
from tests.fixtures.harness import ID_V_MAPPING as MAPPING
from tests.fixtures.harness import Harness


def _fan_out_sync(
    h: Harness, dsn: str, table: str, *, rows: int, mode: str = "insert", shards: int = 4
) -> str:
    return h.id_table_sync(
        dsn,
        table,
        rows,
        mode=mode,
        execution_mode="fan_out_entity",
        execution_config={"shards": shards},
    )


def _pending(h: Harness, sync_id: str) -> str:
    return h.pending_run(sync_id, execution_mode="fan_out_entity")


def _shards(h: Harness, run_id: str) -> list[RunShard]:
    with h.ctx.sessions() as s:
        return list(
            s.scalars(
                sa.select(RunShard).where(RunShard.run_id == run_id).order_by(RunShard.shard_index)
            )
        )


def _dest_ids(dsn: str, table: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        return [int(r[0]) for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]


def test_fan_out_run_loads_every_shard_and_sums_counts(harness: Harness, pg_database: str) -> None:
    h = harness
    sync_id = _fan_out_sync(h, pg_database, "fan", rows=5000, mode="upsert")
    run_id = _pending(h, sync_id)
    ex = EmbeddedExecutor(h.ctx, workers=3, poll_interval=0.05)
    ex.start()
    try:
        run = h.wait_run(run_id)
        assert run.status == "completed", run.error_message
        assert run.rows_synced == 5000 and run.rows_failed == 0
        assert run.summary["added"] == 5000 and len(run.summary["shards"]) == 4
        shards = _shards(h, run_id)
        assert [sh.status for sh in shards] == ["completed"] * 4
        assert sum(sh.rows_synced for sh in shards) == 5000
        assert all(0 < sh.rows_synced < 5000 for sh in shards)  # the keys really were split
        assert _dest_ids(pg_database, "fan") == list(range(5000))

        # The next run diffs against the shards' combined snapshot: only changes go out.
        h.sql("UPDATE fan SET v = 'changed' WHERE id < 100")
        h.sql("INSERT INTO fan SELECT i, 'new' FROM range(5000, 5050) t(i)")
        second = h.wait_run(_pending(h, sync_id))
        assert second.status == "completed" and second.rows_synced == 150
        assert second.summary["changed"] == 100 and second.summary["added"] == 50
    finally:
        ex.stop()
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*) FROM fan WHERE v = 'changed'").fetchone() == (100,)
    assert _dest_ids(pg_database, "fan") == list(range(5050))


def test_shards_are_shared_between_executors(pg_harness: Harness, pg_database: str) -> None:
    h = pg_harness
    h.ctx.settings.batch_rows = 500
    sync_id = _fan_out_sync(h, pg_database, "shared", rows=20000, shards=6)
    run_id = _pending(h, sync_id)
    executors = [EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05) for _ in range(2)]
    for ex in executors:
        ex.start()
    try:
        run = h.wait_run(run_id)
    finally:
        for ex in executors:
            ex.stop()
    assert run.status == "completed" and run.rows_synced == 20000
    owners = {(sh.executor_id or "").split("/")[0] for sh in _shards(h, run_id)}
    assert owners == {ex.executor_id for ex in executors}
    assert _dest_ids(pg_database, "shared") == list(range(20000))  # insert: none twice


def test_dead_shard_worker_is_resumed_without_duplicates(
    harness: Harness, pg_database: str
) -> None:
    h = harness
    h.ctx.settings.heartbeat_timeout = 1.0
    # Live shards beat well within the timeout, however loaded the machine is.
    h.ctx.settings.heartbeat_interval = 0.1
    sync_id = _fan_out_sync(h, pg_database, "dead", rows=3000, mode="insert")
    run_id = _pending(h, sync_id)
    # A worker claims the run, fans it out, takes a shard and dies without a heartbeat.
    assert claim_run(h.ctx.sessions, run_id, executor_id="doomed")
    assert start_fan_out(h.ctx.sessions, NullQueue(), run_id, executor_id="doomed")
    claimed = claim_next_shard(h.ctx.sessions, executor_id="doomed")
    assert claimed is not None
    with h.ctx.sessions.begin() as s:
        s.execute(
            sa.update(RunShard)
            .where(RunShard.id == claimed[1].id)
            .values(last_heartbeat_at=utcnow() - timedelta(seconds=30))
        )
    ex = EmbeddedExecutor(h.ctx, workers=2, poll_interval=0.05)
    ex.start()
    try:
        run = h.wait_run(run_id)
    finally:
        ex.stop()
    assert run.status == "completed", run.error_message
    assert run.rows_synced == 3000
    dead = next(sh for sh in _shards(h, run_id) if sh.id == claimed[1].id)
    assert dead.attempts == 2 and (dead.executor_id or "").startswith(ex.executor_id + "/")
    assert _dest_ids(pg_database, "dead") == list(range(3000))


def test_cancel_reaches_every_shard(harness: Harness, pg_database: str) -> None:
    h = harness
    sync_id = _fan_out_sync(h, pg_database, "cxl", rows=2000)
    run_id = _pending(h, sync_id)
    assert claim_run(h.ctx.sessions, run_id, executor_id="w")
    assert start_fan_out(h.ctx.sessions, NullQueue(), run_id, executor_id="w")
    with h.ctx.sessions.begin() as s:
        s.execute(
            sa.update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(cancel_requested_at=utcnow(), cancel_reason="wrong model")
        )
    ex = EmbeddedExecutor(h.ctx, workers=2, poll_interval=0.05)
    ex.start()
    try:
        run = h.wait_run(run_id)
    finally:
        ex.stop()
    assert run.status == "cancelled" and run.result_reason_code == "cancelled_by_user"
    assert "wrong model" in run.error_message
    assert {sh.status for sh in _shards(h, run_id)} == {"cancelled"}


def test_a_failing_shard_fails_the_run(harness: Harness, pg_database: str) -> None:
    h = harness
    sync_id = _fan_out_sync(h, pg_database, "guard", rows=400, mode="mirror")
    ex = EmbeddedExecutor(h.ctx, workers=2, poll_interval=0.05)
    ex.start()
    try:
        assert h.wait_run(_pending(h, sync_id)).status == "completed"
        h.sql("DELETE FROM guard")  # mirror would delete everything: every shard's guard trips
        run = h.wait_run(_pending(h, sync_id))
    finally:
        ex.stop()
    assert run.status == "failed" and run.result_reason_code == "delete_guard"
    assert run.error_message.startswith("4 of 4 shards failed")
    assert len(_dest_ids(pg_database, "guard")) == 400  # nothing deleted


def test_append_with_high_water_mark_runs_sequentially(harness: Harness, pg_database: str) -> None:
    h = harness
    sync_id = _fan_out_sync(h, pg_database, "hwm", rows=100, mode="append")
    h.update_sync(sync_id, high_water_mark="id")
    ex = EmbeddedExecutor(h.ctx, workers=2, poll_interval=0.05)
    ex.start()
    try:
        run = h.wait_run(_pending(h, sync_id))
    finally:
        ex.stop()
    assert run.status == "completed" and run.rows_synced == 100
    assert _shards(h, run.id) == []


# --- regressions found in review: resumed executions, lost ownership, the global guard ---


def _claimed_fan_out(h: Harness, sync_id: str) -> tuple[str, list[str]]:
    run_id = _pending(h, sync_id)
    assert claim_run(h.ctx.sessions, run_id, executor_id="A")
    assert start_fan_out(h.ctx.sessions, NullQueue(), run_id, executor_id="A")
    return run_id, [sh.id for sh in _shards(h, run_id)]


def _stop_after(n: int) -> Callable[[], bool]:
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > n

    return should_stop


def test_resumed_shard_sends_under_new_idempotency_keys(harness: Harness) -> None:
    """A shard executed again restarts its batch numbers: its webhook keys must not collide
    with the first execution's, or the receiver replays old answers and drops the records."""
    h = harness
    h.sql("CREATE OR REPLACE TABLE t AS SELECT i AS id, 'v' || i AS v FROM range(60) t(i)")
    with WebhookReceiver() as rx:
        sync_id = h.make_sync(
            model_sql="SELECT * FROM t",
            primary_key="id",
            destination_type="webhook",
            destination_config={"url": rx.url, "results_path": "results", "batch_size": 10},
            mapping=MAPPING,
            mode="upsert",
            execution_mode="fan_out_entity",
            execution_config={"shards": 2},
            config={"batch_size": 10},
        )
        run_id, shard_ids = _claimed_fan_out(h, sync_id)
        first = claim_shard(h.ctx.sessions, shard_ids[0], executor_id="A/1")
        assert first is not None
        execute_claimed_shard(h.ctx, *first, executor_id="A/1", should_stop=_stop_after(2))
        assert _shards(h, run_id)[0].status == "pending"  # handed back after one batch
        for n, shard_id in enumerate(shard_ids):
            claimed = claim_shard(h.ctx.sessions, shard_id, executor_id=f"B/{n}")
            assert claimed is not None
            execute_claimed_shard(h.ctx, *claimed, executor_id=f"B/{n}", should_stop=lambda: False)
        run = h.wait_run(run_id)
        assert run.status == "completed"
        assert len(rx.state) == 60, f"the receiver holds {len(rx.state)} of 60 records"


def test_execution_declared_dead_stops_instead_of_sending_twice(
    harness: Harness, tmp_path: Path
) -> None:
    h = harness
    h.sql("CREATE OR REPLACE TABLE t AS SELECT i AS id, 'v' || i AS v FROM range(200) t(i)")
    out = tmp_path / "out"
    sync_id = h.make_sync(
        model_sql="SELECT * FROM t",
        primary_key="id",
        destination_type="file",
        destination_config={"path": str(out), "format": "jsonl"},
        mapping=MAPPING,
        mode="insert",
        execution_mode="fan_out_entity",
        execution_config={"shards": 2},
        config={"batch_size": 10},
    )
    run_id, shard_ids = _claimed_fan_out(h, sync_id)
    slow = claim_shard(h.ctx.sessions, shard_ids[0], executor_id="A/slow")
    assert slow is not None
    calls = {"n": 0}

    def slow_worker_pauses() -> bool:
        calls["n"] += 1
        if calls["n"] == 3:  # after one batch the worker freezes past the heartbeat timeout
            with h.ctx.sessions.begin() as s:
                s.execute(
                    sa.update(RunShard)
                    .where(RunShard.id == shard_ids[0])
                    .values(last_heartbeat_at=utcnow() - timedelta(hours=1))
                )
            reap_stale_shards(h.ctx.sessions, NullQueue(), timeout_seconds=60)
            other = claim_shard(h.ctx.sessions, shard_ids[0], executor_id="B/0")
            assert other is not None
            execute_claimed_shard(h.ctx, *other, executor_id="B/0", should_stop=lambda: False)
        return False

    execute_claimed_shard(h.ctx, *slow, executor_id="A/slow", should_stop=slow_worker_pauses)
    rest = claim_shard(h.ctx.sessions, shard_ids[1], executor_id="B/1")
    assert rest is not None
    execute_claimed_shard(h.ctx, *rest, executor_id="B/1", should_stop=lambda: False)
    ids = [
        int(json.loads(line)["id"])
        for f in sorted((out / sync_id).glob("*.jsonl"))
        for line in f.read_text().splitlines()
        if line
    ]
    assert sorted(ids) == list(range(200)), "a record was sent twice or not at all"
    assert h.wait_run(run_id).status == "completed"


def test_mirror_guard_counts_the_whole_model(harness: Harness, tmp_path: Path) -> None:
    """Deleting 1 of 11 rows is fine for the guard even if that empties one shard's slice."""
    h = harness
    h.sql("CREATE OR REPLACE TABLE t AS SELECT i AS id, 'v' || i AS v FROM range(11) t(i)")
    sync_id = h.make_sync(
        model_sql="SELECT * FROM t",
        primary_key="id",
        destination_type="file",
        destination_config={"path": str(tmp_path / "o"), "format": "jsonl"},
        mapping=MAPPING,
        mode="mirror",
        execution_mode="fan_out_entity",
        execution_config={"shards": 8},
    )
    ex = EmbeddedExecutor(h.ctx, workers=2, poll_interval=0.05)
    ex.start()
    try:
        assert h.wait_run(_pending(h, sync_id)).status == "completed"
        for key in (3, 5):
            h.sql(f"DELETE FROM t WHERE id = {key}")
            run = h.wait_run(_pending(h, sync_id))
            assert run.status == "completed", run.error_message
            assert run.summary["removed"] == 1
    finally:
        ex.stop()
