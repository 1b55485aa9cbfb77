"""Distributed execution: real ``syncline worker`` processes sharing a PostgreSQL store.

50 syncs triggered at once complete exactly once across two workers; a worker killed with
SIGKILL mid-run is detected by another, which resumes the run so the destination ends
identical to the model with no record applied twice.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg
import pytest
import sqlalchemy as sa

from syncline.context import AppContext
from syncline.services.runs import trigger_run
from syncline.store.tables import Destination, Model, RunShard, Source, Sync, SyncRun, Workspace
from tests.fixtures.servers import pg_store, spawn, stop

pytestmark = pytest.mark.e2e


@pytest.fixture
def store(tmp_path: Path, pg_database: str) -> Iterator[tuple[AppContext, dict[str, str]]]:
    yield from pg_store(
        tmp_path,
        pg_database,
        SYNCLINE_HEARTBEAT_INTERVAL="0.5",
        SYNCLINE_HEARTBEAT_TIMEOUT="4",
        SYNCLINE_BATCH_ROWS="5000",
    )


def _workspace_and_source(ctx: AppContext, warehouse: Path) -> tuple[str, str]:
    with ctx.sessions.begin() as s:
        ws = Workspace(name="e2e")
        s.add(ws)
        s.flush()
        src = Source(
            workspace_id=ws.id,
            name="wh",
            type="duckdb",
            config=ctx.secrets.encrypt_config({"path": str(warehouse)}),
        )
        s.add(src)
        s.flush()
        return ws.id, src.id


def _sync(
    ctx: AppContext,
    ws: str,
    src: str,
    *,
    table: str,
    dsn: str,
    mode: str,
    config: dict[str, object] | None = None,
) -> str:
    with ctx.sessions.begin() as s:
        m = Model(
            workspace_id=ws,
            source_id=src,
            name=table,
            sql=f"SELECT * FROM {table}",
            primary_key="id",
        )
        d = Destination(
            workspace_id=ws,
            name=table,
            type="postgres",
            config=ctx.secrets.encrypt_config({"dsn": dsn, "table": table}),
        )
        s.add_all([m, d])
        s.flush()
        sync = Sync(
            workspace_id=ws,
            model_id=m.id,
            destination_id=d.id,
            name=table,
            sync_mode=mode,
            primary_key="id",
            status="active",
            config=config or {},
            field_mapping=[
                {"source_column": "id", "destination_field": "id"},
                {"source_column": "v", "destination_field": "v"},
            ],
        )
        s.add(sync)
        s.flush()
        return sync.id


def _trigger(ctx: AppContext, ws: str, sync_id: str) -> str:
    with ctx.sessions() as s:
        run, created = trigger_run(
            s, queue=ctx.queue, workspace_id=ws, sync_id=sync_id, triggered_by="e2e"
        )
        assert created
        return run.id


def _workers(env: dict[str, str], n: int, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    return [
        spawn(["worker", "--concurrency", "3"], env, log_dir / f"worker{i}.log") for i in range(n)
    ]


def _runs(ctx: AppContext) -> list[SyncRun]:
    with ctx.sessions() as s:
        return list(s.scalars(sa.select(SyncRun)))


def test_fifty_syncs_complete_exactly_once_on_two_workers(
    store: tuple[AppContext, dict[str, str]], tmp_path: Path, pg_server: str
) -> None:
    ctx, env = store
    from tests.conftest import create_pg_database, drop_pg_database

    dest_db = create_pg_database("syncline_dest")
    dsn = f"{pg_server}/{dest_db}"
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    for i in range(50):
        con.execute(
            f"CREATE TABLE t{i} AS SELECT r AS id, 'v' || r AS v FROM range({100 + i}) x(r)"
        )
    con.close()
    ws, src = _workspace_and_source(ctx, wh)
    run_ids = [
        _trigger(ctx, ws, _sync(ctx, ws, src, table=f"t{i}", dsn=dsn, mode="insert"))
        for i in range(50)
    ]
    procs = _workers(env, 2, tmp_path)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            runs = _runs(ctx)
            if all(r.status in ("completed", "failed") for r in runs):
                break
            time.sleep(0.5)
        runs = _runs(ctx)
        assert len(runs) == 50 and {r.id for r in runs} == set(run_ids)
        assert {r.status for r in runs} == {"completed"}, [r.error_message for r in runs]
        assert len({(r.executor_id or "").split("/")[0] for r in runs}) == 2  # both took a share
        with psycopg.connect(dsn) as conn:
            for i in range(50):
                assert conn.execute(
                    f"SELECT count(*), count(DISTINCT id) FROM t{i}"
                ).fetchone() == (100 + i, 100 + i)
        assert all(r.rows_synced == r.summary["model_rows"] for r in runs)
    finally:
        stop(procs)
        drop_pg_database(dest_db)


def test_killed_worker_run_is_resumed_by_another(
    store: tuple[AppContext, dict[str, str]], tmp_path: Path, pg_server: str
) -> None:
    ctx, env = store
    from tests.conftest import create_pg_database, drop_pg_database

    dest_db = create_pg_database("syncline_dest")
    dsn = f"{pg_server}/{dest_db}"
    wh = tmp_path / "wh.duckdb"
    rows = 400_000
    con = duckdb.connect(str(wh))
    con.execute(f"CREATE TABLE big AS SELECT r AS id, 'value-' || r AS v FROM range({rows}) x(r)")
    con.close()
    ws, src = _workspace_and_source(ctx, wh)
    sync_id = _sync(ctx, ws, src, table="big", dsn=dsn, mode="insert", config={"batch_size": 5000})
    run_id = _trigger(ctx, ws, sync_id)
    (victim,) = _workers(env, 1, tmp_path)
    survivor: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + 120
        committed = 0
        while time.monotonic() < deadline:
            with ctx.sessions() as s:
                run = s.get(SyncRun, run_id)
                committed = run.rows_synced if run else 0
            if committed >= 20_000:
                break
            time.sleep(0.05)
        assert 0 < committed < rows, "the run should be mid-way when the worker is killed"
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        survivor = _workers(env, 1, tmp_path)
        deadline = time.monotonic() + 180
        final = None
        while time.monotonic() < deadline:
            with ctx.sessions() as s:
                runs = list(s.scalars(sa.select(SyncRun).order_by(SyncRun.attempt_number)))
            if len(runs) >= 2 and runs[-1].status in ("completed", "failed"):
                final = runs
                break
            time.sleep(0.3)
        assert final is not None, "the killed run was not resumed"
        first, resumed = final[0], final[-1]
        assert (first.status, first.result_reason_code) == ("failed", "heartbeat_timeout")
        assert resumed.status == "completed" and resumed.triggered_by == "auto_resume"
        assert resumed.previous_attempt_run_id == first.id
        # The resumed attempt sent only what was not committed before the kill.
        assert resumed.rows_synced <= rows - committed + 5000
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT count(*), count(DISTINCT id) FROM big").fetchone() == (
                rows,
                rows,
            )
            assert conn.execute(
                "SELECT count(*) FROM big WHERE v <> 'value-' || id"
            ).fetchone() == (0,)
    finally:
        stop([victim, *survivor])
        drop_pg_database(dest_db)


def test_fan_out_shards_of_a_killed_worker_are_resumed(
    store: tuple[AppContext, dict[str, str]], tmp_path: Path, pg_server: str
) -> None:
    """Four shards over two worker processes; one is SIGKILLed while loading its shards."""
    ctx, env = store
    from tests.conftest import create_pg_database, drop_pg_database

    dest_db = create_pg_database("syncline_dest")
    dsn = f"{pg_server}/{dest_db}"
    wh = tmp_path / "wh.duckdb"
    rows = 400_000
    con = duckdb.connect(str(wh))
    con.execute(f"CREATE TABLE fan AS SELECT r AS id, 'value-' || r AS v FROM range({rows}) x(r)")
    con.close()
    ws, src = _workspace_and_source(ctx, wh)
    sync_id = _sync(ctx, ws, src, table="fan", dsn=dsn, mode="insert", config={"batch_size": 5000})
    with ctx.sessions.begin() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None
        sync.execution_mode = "fan_out_entity"
        sync.execution_config = {"shards": 4}
    run_id = _trigger(ctx, ws, sync_id)
    procs = _workers(env, 2, tmp_path)
    victim, other = procs
    replacement: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + 120
        victim_shards: list[RunShard] = []
        while time.monotonic() < deadline:
            with ctx.sessions() as s:
                shards = list(s.scalars(sa.select(RunShard).where(RunShard.run_id == run_id)))
            victim_shards = [
                sh
                for sh in shards
                if sh.status == "running"
                and (sh.executor_id or "").split(":")[1] == str(victim.pid)
                and sh.rows_synced >= 10_000
            ]
            if victim_shards:
                break
            time.sleep(0.05)
        assert victim_shards, "the victim should be loading a shard when it is killed"
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        replacement = _workers(env, 1, tmp_path)
        deadline = time.monotonic() + 180
        run = None
        while time.monotonic() < deadline:
            with ctx.sessions() as s:
                run = s.get(SyncRun, run_id)
            if run is not None and run.status in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.3)
        assert run is not None and run.status == "completed", run and run.error_message
        with ctx.sessions() as s:
            shards = list(s.scalars(sa.select(RunShard).where(RunShard.run_id == run_id)))
        assert {sh.status for sh in shards} == {"completed"}
        resumed = [sh for sh in shards if sh.id in {v.id for v in victim_shards}]
        assert resumed and all(sh.attempts == 2 for sh in resumed)
        # The count is what each attempt reported: the killed attempt's last second of
        # progress (saves are throttled to one a second) may never have been written, and a
        # resumed shard counts only what it sent itself. What the destination holds is exact.
        assert rows // 2 <= run.rows_synced <= rows
        with psycopg.connect(dsn) as conn:  # insert mode: not one record applied twice
            assert conn.execute("SELECT count(*), count(DISTINCT id) FROM fan").fetchone() == (
                rows,
                rows,
            )
    finally:
        stop([victim, other, *replacement])
        drop_pg_database(dest_db)
