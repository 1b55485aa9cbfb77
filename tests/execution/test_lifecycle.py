"""Executors: pending runs get done, dead workers are detected and their runs resumed."""

from __future__ import annotations

import psycopg

from syncline.execution.embedded import EmbeddedExecutor
from tests.fixtures.harness import ID_V_MAPPING, Harness

MAPPING = ID_V_MAPPING  # imported by other suites under this name


def test_embedded_executor_runs_pending_runs(harness: Harness, pg_database: str) -> None:
    h = harness
    syncs = [h.id_table_sync(pg_database, f"t{i}", 200) for i in range(4)]
    run_ids = [h.pending_run(s) for s in syncs]
    ex = EmbeddedExecutor(h.ctx, workers=2, poll_interval=0.1)
    ex.start()
    try:
        runs = h.wait_runs(run_ids)
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
