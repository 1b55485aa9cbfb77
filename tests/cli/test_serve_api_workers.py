"""``syncline serve --api-workers 2``: two API processes, and runs still execute (once)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx

SYNCLINE = str(Path(sys.executable).parent / "syncline")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_two_api_processes_serve_and_the_parent_runs_the_syncs(tmp_path: Path) -> None:
    wh = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(wh))
    con.execute("CREATE TABLE people AS SELECT i AS id, 'p' || i AS name FROM range(1, 21) t(i)")
    con.close()
    env = {
        **os.environ,
        "SYNCLINE_DATA_DIR": str(tmp_path / "data"),
        "SYNCLINE_SECRET_KEY": "api-workers-test",
        "SYNCLINE_TOKEN_PEPPER": "api-workers-pepper",
    }
    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [SYNCLINE, "serve", "--port", str(port), "--api-workers", "2", "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        root = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 240  # spawned workers import afresh
        healthy = False
        while not healthy and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                healthy = httpx.get(f"{root}/healthz").status_code == 200
            except httpx.HTTPError:
                time.sleep(0.2)
        assert healthy, (tmp_path / "serve.log").read_text()
        out = subprocess.run(
            [SYNCLINE, "workspace", "create", "w", "--json"],
            env=env,
            check=True,
            capture_output=True,
        )
        created = json.loads(out.stdout)
        base = f"{root}/api/v1/workspaces/{created['id']}"
        http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {created['token']}"})

        def make(path: str, body: dict[str, object]) -> str:
            r = http.post(path, json=body)
            assert r.status_code == 201, r.text
            return str(r.json()["id"])

        src = make("/sources", {"name": "wh", "type": "duckdb", "config": {"path": str(wh)}})
        model = make(
            "/models",
            {"name": "m", "source_id": src, "sql": "SELECT * FROM people", "primary_key": "id"},
        )
        dest = make("/destinations", {"name": "f", "type": "file", "config": {"path": "out"}})
        sync = make(
            "/syncs",
            {
                "name": "s",
                "model_id": model,
                "destination_id": dest,
                "field_mapping": [{"source_column": "name", "destination_field": "name"}],
                "sync_mode": "upsert",
                "primary_key": "id",
            },
        )
        assert len(_children(proc.pid)) >= 2  # uvicorn's supervisor and its two API workers
        run = http.post(f"/syncs/{sync}/trigger").json()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run = http.get(f"/syncs/{sync}/runs/{run['id']}").json()
            if run["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.2)
        assert (run["status"], run["rows_synced"]) == ("completed", 20), run
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
