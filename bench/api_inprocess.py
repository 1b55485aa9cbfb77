"""CPU per API request, in one process: ``python -m bench.api_inprocess [--requests N]``.

The HTTP scenario (``python -m bench api``) measures latency, which on a shared machine is
mostly waiting for a core. This runs the app under Starlette's TestClient on a scratch
PostgreSQL store (20 syncs, 10 of them with a pending run) and reports, per read kind, the
process CPU time per request (client and server together, so compare before/after, not
absolute) and the wall time. Rate limits are on but raised out of the way.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.data import scratch_db


def measure(requests: int) -> dict[str, dict[str, float]]:
    """CPU and wall milliseconds per request for get_sync, list_runs and list_syncs."""
    import duckdb
    from fastapi.testclient import TestClient

    from syncline.api.app import create_app
    from syncline.bootstrap import build_context
    from syncline.services.workspaces import create_workspace
    from syncline.settings import Settings
    from syncline.store.db import upgrade

    out: dict[str, dict[str, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-api-inproc-") as tmp,
        scratch_db("bench_api_inproc") as dsn,
    ):
        url = dsn.replace("postgresql://", "postgresql+psycopg://")
        upgrade(url)
        duckdb.connect(f"{tmp}/wh.duckdb").close()
        unlimited = "1000000/minute"
        settings = Settings(
            data_dir=Path(tmp),
            database_url=url,
            rate_limit_per_token=unlimited,
            rate_limit_per_ip=unlimited,
        )
        ctx = build_context(settings)
        with ctx.sessions() as s:
            ws, token = create_workspace(s, name="bench", pepper=ctx.token_pepper)
        headers = {"Authorization": f"Bearer {token}"}
        base = f"/api/v1/workspaces/{ws.id}"
        with TestClient(create_app(ctx)) as client:

            def create(path: str, body: dict[str, Any]) -> str:
                r = client.post(base + path, json=body, headers=headers)
                if r.status_code != 201:
                    raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:300]}")
                return str(r.json()["id"])

            src = create(
                "/sources", {"name": "wh", "type": "duckdb", "config": {"path": f"{tmp}/wh.duckdb"}}
            )
            model = create(
                "/models",
                {"name": "m", "source_id": src, "sql": "SELECT 1 AS id", "primary_key": "id"},
            )
            syncs = []
            for i in range(20):
                dest = create(
                    "/destinations",
                    {"name": f"d{i}", "type": "postgres", "config": {"dsn": dsn, "table": f"t{i}"}},
                )
                mapping = [{"source_column": "id", "destination_field": "id"}]
                body = {"name": f"s{i}", "model_id": model, "destination_id": dest}
                body |= {"field_mapping": mapping, "sync_mode": "upsert", "primary_key": "id"}
                syncs.append(create("/syncs", body | {"status": "active"}))
            for sync_id in syncs[:10]:
                client.post(f"{base}/syncs/{sync_id}/trigger", headers=headers)
            paths = {
                "get_sync": [f"{base}/syncs/{s}" for s in syncs],
                "list_runs": [f"{base}/syncs/{s}/runs" for s in syncs],
                "list_syncs": [f"{base}/syncs?per_page=50"],
            }
            for kind, urls in paths.items():
                for i in range(50):  # warm: statement caches, prepared statements, the token
                    client.get(urls[i % len(urls)], headers=headers)
                wall0, cpu0 = time.perf_counter(), time.process_time()
                for i in range(requests):
                    r = client.get(urls[i % len(urls)], headers=headers)
                    if r.status_code != 200:
                        raise RuntimeError(f"GET {kind}: {r.status_code} {r.text[:300]}")
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                out[kind] = {
                    "cpu_ms": round(1000 * cpu / requests, 2),
                    "wall_ms": round(1000 * wall / requests, 2),
                }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.api_inprocess", description=__doc__)
    ap.add_argument("--requests", type=int, default=500, help="timed requests per kind")
    args = ap.parse_args()
    for kind, figures in measure(args.requests).items():
        print(f"{kind}: {figures['cpu_ms']} ms CPU/request, {figures['wall_ms']} ms wall")


if __name__ == "__main__":
    main()
