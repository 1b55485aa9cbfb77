"""The product path: a real ``syncline serve`` process, syncs created and triggered over REST.

``Server`` starts ``serve`` on a free loopback port with its own data directory (the embedded
default store, or PostgreSQL with ``store_url``), creates a workspace through the CLI and
talks to the API with its token. ``Server.run`` times a run from the trigger request to the
moment polling (every 20 ms) sees it completed.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.core import BenchError, process_peak_mb, reset_peak

SYNCLINE = str(Path(sys.executable).parent / "syncline")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """One ``syncline serve`` (or ``--no-workers``) process and an API client for it."""

    def __init__(
        self,
        work: Path,
        *,
        store_url: str | None = None,
        workers: bool = True,
        env: dict[str, str] | None = None,
        api_workers: int = 1,
    ) -> None:
        self.work, self.port = work, free_port()
        work.mkdir(parents=True, exist_ok=True)
        self.env = {
            **os.environ,
            "SYNCLINE_DATA_DIR": str(work / "data"),
            "SYNCLINE_SECRET_KEY": "bench-secret",
            "SYNCLINE_TOKEN_PEPPER": "bench-pepper",
            **(env or {}),
        }
        if store_url:
            self.env["SYNCLINE_DATABASE_URL"] = store_url.replace(
                "postgresql://", "postgresql+psycopg://"
            )
            subprocess.run(
                [SYNCLINE, "db", "upgrade"], env=self.env, check=True, capture_output=True
            )
        args = [SYNCLINE, "serve", "--port", str(self.port), "--log-level", "warning"]
        if not workers:
            args.append("--no-workers")
        if api_workers > 1:
            args += ["--api-workers", str(api_workers)]
        self.log = open(work / "serve.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_healthy()
        out = subprocess.run(
            [SYNCLINE, "workspace", "create", "bench", "--json"],
            env=self.env,
            check=True,
            capture_output=True,
        )
        created = json.loads(out.stdout)
        self.workspace, self.token = str(created["id"]), str(created["token"])
        self.base = f"http://127.0.0.1:{self.port}/api/v1/workspaces/{self.workspace}"
        self.http = httpx.Client(headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"serve exited {self.proc.returncode}; see {self.work}/serve.log")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise BenchError("serve did not become healthy in 90 s")

    def create(self, path: str, body: dict[str, Any]) -> str:
        r = self.http.post(self.base + path, json=body)
        if r.status_code != 201:
            raise BenchError(f"POST {path}: {r.status_code} {r.text[:500]}")
        return str(r.json()["id"])

    def pg_sync(self, name: str, model: Path, dsn: str, table: str, columns: list[str]) -> str:
        """A mirror sync of ``people`` in the DuckDB file into ``table``; returns its id."""
        source = self.create(
            "/sources", {"name": f"wh-{name}", "type": "duckdb", "config": {"path": str(model)}}
        )
        model_id = self.create(
            "/models",
            {
                "name": f"people-{name}",
                "source_id": source,
                "sql": "SELECT * FROM people",
                "primary_key": "id",
            },
        )
        dest = self.create(
            "/destinations",
            {"name": f"pg-{name}", "type": "postgres", "config": {"dsn": dsn, "table": table}},
        )
        return self.create(
            "/syncs",
            {
                "name": name,
                "model_id": model_id,
                "destination_id": dest,
                "field_mapping": [{"source_column": c, "destination_field": c} for c in columns],
                "sync_mode": "mirror",
                "primary_key": "id",
                "status": "active",
                "config": {"allow_mass_delete": True},
            },
        )

    def run(
        self, sync_id: str, *, mode: str = "incremental", timeout: float = 3600
    ) -> dict[str, Any]:
        """Trigger and poll to completion: seconds from the request to completed, the run."""
        reset_peak(self.proc.pid)
        t0 = time.perf_counter()
        r = self.http.post(f"{self.base}/syncs/{sync_id}/trigger", json={"run_mode": mode})
        if r.status_code != 201:
            raise BenchError(f"trigger: {r.status_code} {r.text[:300]}")
        run_id = r.json()["id"]
        while True:
            run = self.http.get(f"{self.base}/syncs/{sync_id}/runs/{run_id}").json()
            if run["status"] not in ("pending", "running"):
                break
            if time.perf_counter() - t0 > timeout:
                raise BenchError(f"run {run_id} still {run['status']} after {timeout:.0f} s")
            time.sleep(0.02)
        seconds = time.perf_counter() - t0
        if run["status"] != "completed":
            raise BenchError(f"run {run_id} ended {run['status']}: {run['error_message']}")
        run["bench_seconds"] = seconds
        run["bench_peak_rss_mb"] = process_peak_mb(self.proc.pid)
        return dict(run)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        self.http.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
