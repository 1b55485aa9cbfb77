"""End to end as a user: a real ``syncline serve`` process, driven over HTTP.

A DuckDB model is synced to a PostgreSQL table in every mode, on the embedded defaults (SQLite
metadata store) and on a PostgreSQL metadata store; rows are inserted, changed and deleted at
the source between runs and the destination is compared with the model after every run. Then
the server is killed in the middle of a run and restarted: the run is resumed and nothing is
lost or applied twice.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import psycopg
import pytest

from tests.fixtures.servers import ServeProcess as Server
from tests.fixtures.servers import cli_workspace, free_port

pytestmark = pytest.mark.e2e


@dataclass
class Api:
    http: httpx.Client

    def post(self, path: str, body: dict[str, Any] | None = None, code: int = 201) -> Any:
        r = self.http.post(path, json=body)
        assert r.status_code == code, r.text
        return r.json()

    def get(self, path: str) -> Any:
        r = self.http.get(path)
        assert r.status_code == 200, r.text
        return r.json()

    def run_and_wait(self, sync_id: str, timeout: float = 120) -> dict[str, Any]:
        run = self.post(f"/syncs/{sync_id}/trigger")
        return self.wait(sync_id, run["id"], timeout)

    def wait(self, sync_id: str, run_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run: dict[str, Any] = self.get(f"/syncs/{sync_id}/runs/{run_id}")
            if run["status"] in ("completed", "failed", "cancelled"):
                return run
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} did not finish")


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, Api]]:
    env = {
        **os.environ,
        "SYNCLINE_DATA_DIR": str(tmp_path / "data"),
        "SYNCLINE_HEARTBEAT_INTERVAL": "0.5",
        "SYNCLINE_HEARTBEAT_TIMEOUT": "3",
        "SYNCLINE_BATCH_ROWS": "5000",
        "SYNCLINE_SCHEDULER_INTERVAL": "1",
    }
    env.pop("SYNCLINE_DATABASE_URL", None)
    if request.param == "postgres":
        db = request.getfixturevalue("pg_database")
        env["SYNCLINE_DATABASE_URL"] = db.replace("postgresql://", "postgresql+psycopg://")
    ws = cli_workspace(env, "e2e")
    srv = Server(env, free_port(), tmp_path / "server.log")
    srv.start()
    http = httpx.Client(
        base_url=f"{srv.base}/api/v1/workspaces/{ws['id']}",
        timeout=60,
        headers={"Authorization": f"Bearer {ws['token']}", "X-Workspace-ID": ws["id"]},
    )
    try:
        yield srv, Api(http)
    finally:
        http.close()
        srv.stop()


def _model(wh: Path, table: str) -> dict[int, tuple[Any, ...]]:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        return {
            r[0]: (r[1], r[2]) for r in con.execute(f"SELECT id, name, n FROM {table}").fetchall()
        }
    finally:
        con.close()


def _dest(dsn: str, table: str) -> dict[int, tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f'SELECT id, "Name", "N" FROM {table}').fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _wh_sql(wh: Path, sql: str) -> None:
    con = duckdb.connect(str(wh))
    try:
        for statement in sql.split(";"):  # one statement per execute() call
            con.execute(statement)
    finally:
        con.close()


MODES = ["upsert", "insert", "update", "mirror", "append"]


def test_every_mode_through_http(
    server: tuple[Server, Api], tmp_path: Path, pg_server: str
) -> None:
    from tests.conftest import create_pg_database, drop_pg_database

    _, api = server
    dest_db = create_pg_database("syncline_dest")
    dsn = f"{pg_server}/{dest_db}"
    wh = tmp_path / "wh.duckdb"
    try:
        for mode in MODES:
            _wh_sql(
                wh,
                f"CREATE TABLE {mode}_src AS SELECT i AS id, 'name' || i AS name, "
                f"i * 2 AS n FROM range(1, 1001) t(i)",
            )
        if True:  # update mode needs the records to exist in the destination
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(
                    'CREATE TABLE update_dst (id bigint PRIMARY KEY, "Name" text, "N" bigint)'
                )
                conn.execute(
                    "INSERT INTO update_dst SELECT i, 'old', 0 FROM generate_series(1, 900) i"
                )
        src = api.post("/sources", {"name": "wh", "type": "duckdb", "config": {"path": str(wh)}})
        syncs = {}
        for mode in MODES:
            model = api.post(
                "/models",
                {
                    "name": mode,
                    "source_id": src["id"],
                    "sql": f"SELECT * FROM {mode}_src",
                    "primary_key": "id",
                },
            )
            dest = api.post(
                "/destinations",
                {"name": mode, "type": "postgres", "config": {"dsn": dsn, "table": f"{mode}_dst"}},
            )
            syncs[mode] = api.post(
                "/syncs",
                {
                    "name": mode,
                    "model_id": model["id"],
                    "destination_id": dest["id"],
                    "sync_mode": mode,
                    "primary_key": "id",
                    "field_mapping": [
                        {"source_column": "id", "destination_field": "id"},
                        {"source_column": "name", "destination_field": "Name"},
                        {"source_column": "n", "destination_field": "N"},
                    ],
                    "config": {"allow_mass_delete": False},
                },
            )["id"]
        first = {mode: api.run_and_wait(syncs[mode]) for mode in MODES}
        assert all(r["status"] == "completed" for r in first.values()), first
        for mode in ("upsert", "insert", "mirror", "append"):
            assert _dest(dsn, f"{mode}_dst") == _model(wh, f"{mode}_src"), mode
        assert first["update"]["rows_synced"] == 900 and first["update"]["rows_failed"] == 100
        recs = api.get(
            f"/syncs/{syncs['update']}/runs/{first['update']['id']}/records"
            "?status=failed&per_page=100"
        )
        assert len(recs) == 100 and {r["error_class"] for r in recs} == {"not_found"}

        for mode in MODES:  # change, insert and delete at the source
            _wh_sql(
                wh,
                f"UPDATE {mode}_src SET name = 'changed' WHERE id % 10 = 0;"
                f"INSERT INTO {mode}_src VALUES (5001, 'new', 1);"
                f"DELETE FROM {mode}_src WHERE id % 25 = 0",
            )
        second = {mode: api.run_and_wait(syncs[mode]) for mode in MODES}
        assert all(r["status"] == "completed" for r in second.values()), second
        s = second["upsert"]["summary"]
        # 100 changed minus the 20 of them deleted; 1 added; 40 deleted
        assert (s["added"], s["changed"], s["removed"]) == (1, 80, 40), s
        model_up = _model(wh, "upsert_src")
        dest_up = _dest(dsn, "upsert_dst")
        assert {k: v for k, v in dest_up.items() if k in model_up} == model_up  # no deletes
        assert _dest(dsn, "mirror_dst") == _model(wh, "mirror_src")  # 4% deleted: under guard
        ins = _dest(dsn, "insert_dst")
        assert ins[10] == ("name10", 20) and ins[5001] == ("new", 1)  # existing untouched
        assert _dest(dsn, "append_dst")[5001] == ("new", 1)
        upd = _dest(dsn, "update_dst")
        assert upd[10] == ("changed", 20) and 5001 not in upd
    finally:
        drop_pg_database(dest_db)


def test_server_killed_mid_run_resumes_after_restart(
    server: tuple[Server, Api], tmp_path: Path, pg_server: str
) -> None:
    from tests.conftest import create_pg_database, drop_pg_database

    srv, api = server
    dest_db = create_pg_database("syncline_dest")
    dsn = f"{pg_server}/{dest_db}"
    wh = tmp_path / "wh.duckdb"
    rows = 300_000
    _wh_sql(
        wh, f"CREATE TABLE ev AS SELECT i AS id, 'n' || i AS name, i AS n FROM range({rows}) t(i)"
    )
    try:
        src = api.post("/sources", {"name": "wh", "type": "duckdb", "config": {"path": str(wh)}})
        model = api.post(
            "/models",
            {"name": "ev", "source_id": src["id"], "sql": "SELECT * FROM ev", "primary_key": "id"},
        )
        dest = api.post(
            "/destinations",
            {"name": "d", "type": "postgres", "config": {"dsn": dsn, "table": "ev"}},
        )
        sync = api.post(
            "/syncs",
            {
                "name": "events",
                "model_id": model["id"],
                "destination_id": dest["id"],
                "sync_mode": "insert",
                "primary_key": "id",
                "config": {"batch_size": 5000},
                "field_mapping": [
                    {"source_column": "id", "destination_field": "id"},
                    {"source_column": "name", "destination_field": "Name"},
                    {"source_column": "n", "destination_field": "N"},
                ],
            },
        )
        run = api.post(f"/syncs/{sync['id']}/trigger")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if api.get(f"/syncs/{sync['id']}/runs/{run['id']}")["rows_synced"] >= 20_000:
                break
            time.sleep(0.05)
        srv.kill()
        srv.start()
        deadline = time.monotonic() + 120
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            runs = api.get(f"/syncs/{sync['id']}/runs?order=asc")
            if len(runs) >= 2 and runs[-1]["status"] == "completed":
                break
            time.sleep(0.3)
        assert (
            runs[0]["status"] == "failed" and runs[0]["result_reason_code"] == "heartbeat_timeout"
        )
        assert runs[-1]["status"] == "completed" and runs[-1]["attempt_number"] == 2
        assert runs[0]["next_attempt_run_id"] == runs[-1]["id"]
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT count(*), count(DISTINCT id) FROM ev").fetchone() == (
                rows,
                rows,
            )
        assert _dest(dsn, "ev") == _model(wh, "ev")
    finally:
        drop_pg_database(dest_db)
