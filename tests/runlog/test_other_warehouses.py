"""The writer on MySQL/MariaDB and SQLite warehouses: tables created, rewrites not doubled."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymysql

from syncline.connectors.sources.mysql import MySQLConfig
from syncline.connectors.sources.runlog import RejectedRecord, RunSummary, write_run_log
from syncline.connectors.sources.sqlite import SQLiteConfig

NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def _run(run_id: str = "r-1") -> RunSummary:
    return RunSummary(
        run_id=run_id,
        sync_id="s-1",
        sync_name="people",
        workspace_id="w-1",
        status="completed",
        result_class="partial",
        result_reason_code="some_rejected",
        error_message="",
        run_mode="incremental",
        triggered_by="api",
        attempt_number=1,
        created_at=NOW,
        started_at=NOW,
        completed_at=NOW,
        duration_seconds=1.5,
        rows_synced=8,
        rows_failed=2,
        summary='{"sent": 10}',
        written_at=NOW,
    )


def _rejected(run_id: str = "r-1") -> list[RejectedRecord]:
    return [
        RejectedRecord(run_id, i, "s-1", str(i), "upsert", "rejected", "bad", '{"id": 1}', NOW)
        for i in (1, 2)
    ]


def _twice(type: str, config: Any) -> None:
    for _ in range(2):
        n = write_run_log(type, config, schema=None, run=_run(), rejected=_rejected())
        assert n == 2


def test_sqlite_warehouse(tmp_path: Path) -> None:
    path = tmp_path / "wh.sqlite"
    sqlite3.connect(path).close()
    _twice("sqlite", SQLiteConfig(path=str(path)))
    write_run_log("sqlite", SQLiteConfig(path=str(path)), schema=None, run=_run("r-2"), rejected=[])
    con = sqlite3.connect(path)
    try:
        runs = con.execute("SELECT run_id, rows_failed, completed_at FROM syncline_sync_runs")
        assert sorted(runs.fetchall()) == [("r-1", 2, NOW.isoformat()), ("r-2", 2, NOW.isoformat())]
        count = con.execute("SELECT count(*) FROM syncline_rejected_records").fetchone()
        assert count == (2,)
    finally:
        con.close()


def test_mysql_warehouse(mysql_database: dict[str, Any]) -> None:
    config = MySQLConfig(**mysql_database)
    _twice("mysql", config)
    conn = pymysql.connect(**mysql_database)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT run_id, rows_failed, completed_at FROM syncline_sync_runs")
            assert cur.fetchall() == (("r-1", 2, NOW.replace(tzinfo=None)),)
            cur.execute("SELECT count(*) FROM syncline_rejected_records")
            assert cur.fetchone() == (2,)
    finally:
        conn.close()


def test_duckdb_many_rejected_records_in_chunks(tmp_path: Path) -> None:
    """More rejected records than one chunk, inserted from Arrow (row by row took ~5 ms each)."""
    import duckdb

    from syncline.connectors.sources.duckdb import DuckDBConfig

    path = tmp_path / "wh.duckdb"
    duckdb.connect(str(path)).close()
    many = [
        RejectedRecord("r-1", i, "s-1", str(i), "upsert", "rejected", "bad", None, NOW)
        for i in range(4500)
    ]
    config = DuckDBConfig(path=str(path), read_only=False)
    for _ in range(2):
        assert write_run_log("duckdb", config, schema=None, run=_run(), rejected=many) == 4500
    con = duckdb.connect(str(path))
    try:
        got = con.execute(
            "SELECT count(*), count(DISTINCT record_id), max(rejected_at) = ?::TIMESTAMPTZ "
            "FROM syncline_rejected_records",
            [NOW],
        ).fetchone()
    finally:
        con.close()
    assert got == (4500, 4500, True)
