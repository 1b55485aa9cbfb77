"""Executors: pending runs get done, dead workers are detected and their runs resumed."""

from __future__ import annotations

import time

import psycopg
import sqlalchemy as sa

from syncline.execution.embedded import EmbeddedExecutor
from syncline.store.tables import SyncRun
from tests.engine.conftest import Harness

MAPPING = [
    {"source_column": "id", "destination_field": "id"},
    {"source_column": "v", "destination_field": "v"},
]


def _pg_sync(h: Harness, dsn: str, table: str, rows: int = 200) -> str:
    h.sql(
        f"CREATE OR REPLACE TABLE {table} AS SELECT i AS id, 'v' || i AS v FROM range({rows}) t(i)"
    )
    return h.make_sync(
        model_sql=f"SELECT * FROM {table}",
        primary_key="id",
        destination_type="postgres",
        destination_config={"dsn": dsn, "table": table},
        mapping=MAPPING,
    )


def _pending(h: Harness, sync_id: str, **kw: object) -> str:
    with h.ctx.sessions.begin() as s:
        run = SyncRun(sync_id=sync_id, workspace_id=h.workspace_id, **kw)
        s.add(run)
        s.flush()
        return run.id


def _wait(h: Harness, run_ids: list[str], timeout: float = 60) -> list[SyncRun]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with h.ctx.sessions() as s:
            runs = list(s.scalars(sa.select(SyncRun).where(SyncRun.id.in_(run_ids))))
        if all(r.status in ("completed", "failed", "cancelled") for r in runs):
            return runs
        time.sleep(0.1)
    raise AssertionError(f"runs not finished: {[(r.id, r.status) for r in runs]}")


def test_embedded_executor_runs_pending_runs(harness: Harness, pg_database: str) -> None:
    h = harness
    syncs = [_pg_sync(h, pg_database, f"t{i}") for i in range(4)]
    run_ids = [_pending(h, s) for s in syncs]
    ex = EmbeddedExecutor(h.ctx, workers=2, poll_interval=0.1)
    ex.start()
    try:
        runs = _wait(h, run_ids)
    finally:
        ex.stop()
    assert {r.status for r in runs} == {"completed"}
    assert all(
        (r.executor_id or "").startswith(ex.executor_id + "/") and r.rows_synced == 200
        for r in runs
    )
    with psycopg.connect(pg_database) as conn:
        for i in range(4):
            assert conn.execute(f"SELECT count(*) FROM t{i}").fetchone() == (200,)
