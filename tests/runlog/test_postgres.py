"""Run logs land in a real PostgreSQL warehouse, with the permissions docs/run-logs.md names."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from syncline.runlog.worker import write_pending
from syncline.store.tables import RunLog, SyncRun
from tests.fixtures.harness import Harness
from tests.runlog.conftest import export, make_due, make_logged_sync, run_with_rejects, set_source


@pytest.fixture
def warehouse(pg_database: str) -> Iterator[str]:
    """A PostgreSQL warehouse with a model table ``t`` and an empty ``analytics`` schema."""
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
        conn.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(0, 9) i")
        conn.execute("CREATE SCHEMA analytics")
    yield pg_database


def _as(dsn: str, user: str) -> str:
    host, _, db = dsn.removeprefix("postgresql://").partition("/")
    return f"postgresql://{user}@{host.split('@')[-1]}/{db}"


def _admin(dsn: str, *statements: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows: list[tuple[Any, ...]] = []
        for sql in statements:
            cur = conn.execute(sql)
            rows = cur.fetchall() if cur.description else []
        return rows


@pytest.fixture
def roles(warehouse: str) -> Iterator[tuple[str, str]]:
    """Two login roles that may read ``t`` and nothing more (dropped afterwards)."""
    names = (f"rl_{uuid.uuid4().hex[:8]}", f"rl_{uuid.uuid4().hex[:8]}")
    for name in names:
        _admin(
            warehouse,
            f"CREATE ROLE {name} LOGIN",
            f"GRANT SELECT ON t TO {name}",
            f"GRANT USAGE ON SCHEMA analytics TO {name}",
        )
    try:
        yield names
    finally:
        _admin(warehouse, f"DROP OWNED BY {names[0]}, {names[1]} CASCADE")
        _admin(warehouse, f"DROP ROLE {names[0]}", f"DROP ROLE {names[1]}")


def test_postgres_summary_and_rejects_written(harness: Harness, warehouse: str) -> None:
    h = harness
    sync_id = make_logged_sync(h, {"warehouse_run_logs": True}, sql="SELECT id, v FROM t")
    set_source(h, sync_id, "postgres", {"dsn": warehouse})
    run_id, run = run_with_rejects(h, sync_id, {"3": "email is invalid", "7": "blocked"})
    assert run.rows_failed == 2
    assert write_pending(h.ctx) == 1
    (row,) = _admin(
        warehouse,
        "SELECT run_id, status, rows_synced, rows_failed, summary::jsonb ? 'sent', "
        "completed_at IS NOT NULL FROM public.syncline_sync_runs",
    )
    assert row == (run_id, "completed", 8, 2, True, True)
    rejected = _admin(
        warehouse,
        "SELECT primary_key, error_message, payload::jsonb ->> 'v' "
        "FROM syncline_rejected_records ORDER BY primary_key",
    )
    assert rejected == [("3", "email is invalid", "v3"), ("7", "blocked", "v7")]
    make_due(h, run_id)  # delivered again: the run's rows are replaced, not added
    assert write_pending(h.ctx) == 1
    assert _admin(warehouse, "SELECT count(*) FROM syncline_rejected_records") == [(2,)]
    assert _admin(warehouse, "SELECT count(*) FROM syncline_sync_runs") == [(1,)]


def test_missing_permission_is_recorded_then_the_documented_grants_suffice(
    harness: Harness, warehouse: str, roles: tuple[str, str]
) -> None:
    h = harness
    creator, writer = roles
    config = {"warehouse_run_logs": True, "warehouse_run_logs_schema": "analytics"}
    sync_id = make_logged_sync(h, config, sql="SELECT id, v FROM t")
    set_source(h, sync_id, "postgres", {"dsn": _as(warehouse, creator)})
    run_id, _ = run_with_rejects(h, sync_id, {"3": "email is invalid"})

    # No CREATE on the schema: the write fails, the run does not.
    assert write_pending(h.ctx) == 0
    row = export(h, run_id)
    assert row.status == "pending" and "permission denied" in row.last_error
    with h.ctx.sessions() as s:
        stored = s.get(SyncRun, run_id)
        assert stored is not None and stored.status == "completed"
        lines = [m for (m,) in s.query(RunLog.message).filter(RunLog.run_id == run_id)]
    assert any("permission denied" in m for m in lines), lines

    # Option 1 of the docs: USAGE and CREATE on the schema; Syncline creates the tables.
    _admin(warehouse, f"GRANT CREATE ON SCHEMA analytics TO {creator}")
    make_due(h, run_id)
    assert write_pending(h.ctx) == 1
    assert _admin(warehouse, "SELECT count(*) FROM analytics.syncline_rejected_records") == [(1,)]

    # Option 2: the tables exist; SELECT, INSERT, DELETE on them and no CREATE anywhere.
    _admin(
        warehouse,
        f"GRANT SELECT, INSERT, DELETE ON analytics.syncline_sync_runs, "
        f"analytics.syncline_rejected_records TO {writer}",
    )
    set_source(h, sync_id, "postgres", {"dsn": _as(warehouse, writer)})
    second, _ = run_with_rejects(h, sync_id, {})
    assert write_pending(h.ctx) == 1, export(h, second).last_error
    assert _admin(warehouse, "SELECT count(*) FROM analytics.syncline_sync_runs") == [(2,)]
    # ... and the writer can still do nothing else there.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _admin(_as(warehouse, writer), "CREATE TABLE analytics.other (x int)")
