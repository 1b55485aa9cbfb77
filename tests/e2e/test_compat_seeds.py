"""The seeds' own examples against a real ``syncline serve``, and a published vendor client.

* the curl examples of seeds 000 and 004, run with curl as printed (host and placeholders
  substituted), the create example's model and destination ids included;
* a vendor-API create built from every field of seed 001's body table, and a list read with
  every query parameter of seed 002;
* the vendor's Dagster integration (``dagster-census``, from PyPI, in an isolated environment
  that ``uv`` builds) pointed at this server: it lists syncs page by page, triggers one and
  polls its run until it completes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.seed_curls import SEED_000, SEED_000_HOST, SEED_004, SEED_004_HOST
from tests.fixtures.servers import ServeProcess as Server
from tests.fixtures.servers import cli_workspace, free_port

pytestmark = pytest.mark.e2e
SEED_MODEL = "770e8400-e29b-41d4-a716-446655440000"
SEED_DESTINATION = "880e8400-e29b-41d4-a716-446655440000"
COMPAT = "/compat/census/api/v1"
CLIENT = "dagster-census"


@dataclass
class Live:
    server: Server
    workspace: str
    token: str
    out_dir: Path
    primary: httpx.Client
    vendor: httpx.Client
    source_id: str


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: it must be available)")
    pytest.skip(reason)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """A server on a fresh SQLite store, a workspace, and the seed's model and destination."""
    env = {
        **os.environ,
        "SYNCLINE_DATA_DIR": str(tmp_path / "data"),
        "SYNCLINE_SCHEDULER_INTERVAL": "1",
        "SYNCLINE_HEARTBEAT_INTERVAL": "0.5",
    }
    env.pop("SYNCLINE_DATABASE_URL", None)
    ws = cli_workspace(env, "seeds")
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute(
        "CREATE TABLE customers AS SELECT i AS customer_id, 'u' || i || '@x.io' AS email, "
        "'F' || i AS first_name, 'L' || i AS last_name, "
        "TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (i) HOUR AS updated_at "
        "FROM range(1, 41) t(i)"
    )
    con.close()
    srv = Server(env, free_port(), tmp_path / "server.log")
    srv.start()
    auth = {"Authorization": f"Bearer {ws['token']}"}
    primary = httpx.Client(base_url=f"{srv.base}/api/v1/workspaces/{ws['id']}", headers=auth)
    vendor = httpx.Client(base_url=srv.base + COMPAT, headers=auth, timeout=60)
    try:
        src = primary.post(
            "/sources", json={"name": "wh", "type": "duckdb", "config": {"path": str(wh)}}
        ).json()
        model = primary.post(
            "/models",
            json={
                "name": "Customers",
                "source_id": src["id"],
                "sql": "SELECT * FROM customers",
                "primary_key": "customer_id",
            },
        ).json()
        out_dir = tmp_path / "out"
        out_dir.mkdir()
        dest = primary.post(
            "/destinations",
            json={
                "name": "Export",
                "type": "file",
                "config": {"path": str(out_dir), "format": "csv"},
            },
        ).json()
        # The seed's create example names these ids: give ours those ids.
        store = sa.create_engine(f"sqlite:///{tmp_path / 'data' / 'syncline.db'}")
        with store.begin() as conn:
            conn.execute(
                sa.text("UPDATE models SET id = :new WHERE id = :old"),
                {"new": SEED_MODEL, "old": model["id"]},
            )
            conn.execute(
                sa.text("UPDATE destinations SET id = :new WHERE id = :old"),
                {"new": SEED_DESTINATION, "old": dest["id"]},
            )
        store.dispose()
        yield Live(srv, ws["id"], ws["token"], out_dir, primary, vendor, src["id"])
    finally:
        primary.close()
        vendor.close()
        srv.stop()


def _curl(cmd: str, host: str, live: Live, ids: dict[str, str]) -> tuple[int, Any]:
    text = cmd.replace(host, live.server.base)
    text = text.replace("{id}", live.workspace).replace("<workspace-id>", live.workspace)
    text = text.replace("<token>", live.token)
    for name, value in ids.items():
        text = text.replace("{" + name + "}", value)
    done = subprocess.run(
        ["bash", "-c", text + " -sS -w '\\n%{http_code}'"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    body, _, code = done.stdout.rpartition("\n")
    return int(code), json.loads(body)


def _wait(live: Live, sync_id: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run: dict[str, Any] = live.primary.get(f"/syncs/{sync_id}/runs/{run_id}").json()
        if run["status"] in ("completed", "failed", "cancelled"):
            return run
        time.sleep(0.2)
    raise AssertionError(live.server.log.read_text())


@pytest.mark.parametrize(("seed", "host"), [(SEED_000, SEED_000_HOST), (SEED_004, SEED_004_HOST)])
def test_seed_curl_examples_verbatim(
    live: Live, seed: list[tuple[str, int, str]], host: str
) -> None:
    if shutil.which("curl") is None:
        _unavailable("curl is not installed")
    ids: dict[str, str] = {}
    answers: dict[str, Any] = {}
    for name, expected, cmd in seed:
        code, answers[name] = _curl(cmd, host, live, ids)
        assert code == expected, (name, answers[name])
        if name == "create":
            ids["syncId"] = answers[name]["id"]
        if name == "trigger":
            ids["runId"] = answers[name]["id"]
    assert isinstance(answers["list"], list)
    sync = answers["create"]
    assert sync["model_id"] == SEED_MODEL and sync["destination_id"] == SEED_DESTINATION
    assert answers["get"]["id"] == sync["id"]
    assert answers["update"]["schedule"] == "0 */12 * * *"
    assert answers["update"]["status"] == "paused"
    assert answers["trigger"]["status"] == "pending"
    assert answers["run"]["id"] == ids["runId"]
    run = _wait(live, ids["syncId"], ids["runId"])
    assert run["status"] == "completed" and run["rows_synced"] == 40, run
    runs = live.primary.get(f"/syncs/{ids['syncId']}/runs").json()
    assert [r["id"] for r in runs] == [ids["runId"]]
    assert live.primary.delete(f"/syncs/{ids['syncId']}").json() == {"status": "deleted"}


def _int_id(live: Live, path: str, name: str) -> int:
    items = live.vendor.get(path).json()["data"]
    return int(next(i["id"] for i in items if i["name"] == name))


def seed_001_body(live: Live) -> dict[str, Any]:
    """A create body with every field of seed 001's body table."""
    return {
        "destination_attributes": {
            "connection_id": _int_id(live, "/destinations", "Export"),
            "object": "Export",
        },
        "mappings": [
            {
                "from": {"type": "column", "data": "customer_id"},
                "to": "customer_id",
                "is_primary_identifier": True,
            },
            {"from": {"type": "column", "data": "email"}, "to": "Email"},
            {"from": {"type": "constant_value", "data": "web"}, "to": "Channel"},
        ],
        "operation": "append",
        "source_attributes": {
            "connection_id": _int_id(live, "/sources", "wh"),
            "object": {
                "type": "table",
                "table_catalog": None,
                "table_schema": None,
                "table_name": "customers",
            },
        },
        "advanced_configuration": {"batch_size": 1000},
        "alert_attributes": [
            {"type": "FailureAlertConfiguration", "send_for": "every_time"},
            {"type": "RuntimeAlertConfiguration", "send_for": "first_time", "threshold": 600},
        ],
        "failed_record_notifications_enabled": True,
        "failed_record_notifications_threshold_percent": 75,
        "failed_run_notifications_enabled": True,
        "field_behavior": "sync_all_properties",
        "field_normalization": "snake_case",
        "field_order": "alphabetical_column_name",
        "high_water_mark_attributes": {"column_name": "updated_at"},
        "label": "Seed 001 sync",
        "mode": {"type": "triggered"},
        "paused": False,
        "validate_only": False,
    }


def test_seed_001_body_and_seed_002_list(live: Live) -> None:
    body = seed_001_body(live)
    check = live.vendor.post("/syncs", json={**body, "validate_only": True})
    assert check.status_code == 200 and check.json()["data"] == {"valid": True}, check.text
    made = live.vendor.post("/syncs", json=body)
    assert made.status_code == 201 and made.json()["status"] == "created", made.text
    sid = made.json()["data"]["sync_id"]
    got = live.vendor.get(f"/syncs/{sid}").json()["data"]
    for field in (
        "label",
        "operation",
        "field_behavior",
        "field_normalization",
        "field_order",
        "high_water_mark_attributes",
        "mode",
        "paused",
        "alert_attributes",
        "advanced_configuration",
        "destination_attributes",
        "source_attributes",
    ):
        assert got[field] == body[field], field
    assert got["status"] == "ready" and got["schedule_frequency"] == "never"
    for i in range(3):
        live.vendor.post("/syncs", json={**body, "label": f"more {i}"}).raise_for_status()
    # seed 002: page, per_page and order
    listed = live.vendor.get("/syncs", params={"page": 2, "per_page": 3, "order": "desc"}).json()
    assert listed["status"] == "success"
    assert listed["pagination"] == {
        "total_records": 4,
        "per_page": 3,
        "prev_page": 1,
        "page": 2,
        "next_page": None,
        "last_page": 2,
    }
    assert [s["id"] for s in listed["data"]] == [sid]
    # the primary API reads the same page with the same parameters
    primary = live.primary.get("/syncs", params={"page": 2, "per_page": 3, "order": "desc"})
    assert [s["label"] for s in primary.json()] == ["Seed 001 sync"]
    assert primary.headers["X-Total-Count"] == "4"
    trig = live.vendor.post(f"/syncs/{sid}/trigger", json={"force_full_sync": False}).json()
    run_id = trig["data"]["sync_run_id"]
    deadline = time.monotonic() + 120
    while (run := live.vendor.get(f"/sync_runs/{run_id}").json()["data"])["status"] in (
        "queued",
        "working",
    ):
        assert time.monotonic() < deadline, live.server.log.read_text()
        time.sleep(0.2)
    assert run["status"] == "completed", (run["error_code"], run["error_message"])
    assert run["records_updated"] == 40
    assert live.vendor.get(f"/syncs/{sid}").json()["data"]["status"] == "up to date"


CLIENT_SCRIPT = """
import json, sys
from dagster_census import CensusResource

class Pointed(CensusResource):
    @property
    def api_base_url(self) -> str:
        return sys.argv[1]

census = Pointed(api_key=sys.argv[2], request_max_retries=0)
data = census.fetch_census_workspace_data()
out = census.trigger_sync_and_poll(sync_id=int(sys.argv[3]), poll_interval=0.5,
                                   poll_timeout=120)
print(json.dumps({
    "syncs": [[s.id, s.name, s.source_id, s.destination_id, len(s.mappings)]
              for s in data.syncs],
    "run": dict(out.sync_run),
    "source": dict(out.source),
    "destination": dict(out.destination),
}))
"""


def _client_command() -> list[str]:
    uv = shutil.which("uv")
    if uv is None:
        _unavailable(f"uv is needed to install {CLIENT} in an isolated environment")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return [
        str(uv),
        "run",
        "--isolated",
        "--no-project",
        "--python",
        python,
        "--with",
        CLIENT,
        "python",
    ]


def test_published_dagster_client_unchanged(live: Live, tmp_path: Path) -> None:
    """dagster-census lists every page (30 syncs, 25 a page), triggers and polls to the end."""
    cmd = _client_command()
    made = []
    for i in range(30):
        sync = live.primary.post(
            "/syncs",
            json={
                "name": f"s{i:02d}",
                "label": f"Sync {i:02d}",
                "model_id": SEED_MODEL,
                "destination_id": SEED_DESTINATION,
                "field_mapping": [{"source_column": "email", "destination_field": "Email"}],
                "sync_mode": "upsert",
                "primary_key": "customer_id",
            },
        )
        assert sync.status_code == 201, sync.text
        made.append(sync.json()["id"])
    ints = [s["id"] for s in live.vendor.get("/syncs", params={"per_page": 100}).json()["data"]]
    script = tmp_path / "client.py"
    script.write_text(textwrap.dedent(CLIENT_SCRIPT))
    done = subprocess.run(
        [*cmd, str(script), live.server.base + COMPAT, live.token, str(ints[3])],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0 and "No solution found" in done.stderr + done.stdout:
        _unavailable(f"{CLIENT} cannot be installed here: {done.stderr[-500:]}")
    assert done.returncode == 0, done.stderr[-3000:] + live.server.log.read_text()[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert [s[0] for s in result["syncs"]] == ints and len(ints) == 30
    assert result["syncs"][3][1] == "Sync 03" and result["syncs"][3][4] == 1
    assert result["run"]["status"] == "completed" and result["run"]["sync_id"] == ints[3]
    assert result["run"]["records_updated"] == 40 and result["run"]["records_failed"] == 0
    assert result["source"]["type"] == "duckdb" and result["destination"]["name"] == "Export"
    runs = live.primary.get(f"/syncs/{made[3]}/runs").json()
    assert [r["status"] for r in runs] == ["completed"]
