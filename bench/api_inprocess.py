"""CPU per API request, in one process: ``python -m bench.api_inprocess [--requests N]``.

The HTTP scenario (``python -m bench api``) measures latency, which on a shared machine is
mostly waiting for a core. This runs the app under Starlette's TestClient on a scratch
PostgreSQL store (20 syncs unless ``--syncs``, 10 of them with a pending run) and reports, per
read kind, the process CPU time per request (client and server together, so compare
before/after, not absolute), the part of it spent off the client's thread (the app's event
loop and thread pool: the server, plus the TestClient's side of the in-memory transport) and
the wall time. Rate limits are on but raised out of the way.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.data import scratch_db


def measure(
    requests: int, syncs_count: int = 20, *, freeze: bool = True
) -> dict[str, dict[str, float]]:
    """CPU and wall milliseconds per request for get_sync, list_runs, list_syncs and trigger.

    ``list_syncs`` asks for a page of 50: with ``syncs_count`` >= 50 that is the HTTP
    scenario's page (200 syncs there); with the default 20 it is the whole list. With
    ``freeze`` the app starts as ``serve`` starts it (``api.heap.frozen_startup_heap``);
    ``gc_full`` counts the full collections during each kind's timed requests and their pause.
    """
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
        pauses: list[float] = []
        started: list[float] = []

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if info["generation"] == 2:
                if phase == "start":
                    started.append(time.perf_counter())
                elif started:
                    pauses.append(time.perf_counter() - started.pop())

        hooks = []
        if freeze:  # imported only here: ``--no-freeze`` also measures trees without it
            from syncline.api.heap import frozen_startup_heap

            hooks.append(frozen_startup_heap)
        gc.callbacks.append(on_gc)
        with contextlib.ExitStack() as stack:
            stack.callback(gc.callbacks.remove, on_gc)
            client = stack.enter_context(TestClient(create_app(ctx, lifespan_hooks=hooks)))

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
            for i in range(syncs_count):
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
                # As in the HTTP scenario: the run is still pending, so 200 with that run.
                "trigger": [f"{base}/syncs/{s}/trigger" for s in syncs[:10]],
            }
            for kind, urls in paths.items():
                method = "POST" if kind == "trigger" else "GET"
                for i in range(50):  # warm: statement caches, prepared statements, the token
                    client.request(method, urls[i % len(urls)], headers=headers)
                del pauses[:]
                wall0, cpu0 = time.perf_counter(), time.process_time()
                client0 = time.thread_time()  # this thread is the client's
                for i in range(requests):
                    r = client.request(method, urls[i % len(urls)], headers=headers)
                    if r.status_code != 200:
                        raise RuntimeError(f"{method} {kind}: {r.status_code} {r.text[:300]}")
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                client_cpu = time.thread_time() - client0
                out[kind] = {
                    "cpu_ms": round(1000 * cpu / requests, 2),
                    "server_cpu_ms": round(1000 * (cpu - client_cpu) / requests, 2),
                    "wall_ms": round(1000 * wall / requests, 2),
                    "gc_full_count": len(pauses),
                    "gc_full_ms": round(1000 * sum(pauses), 1),
                }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.api_inprocess", description=__doc__)
    ap.add_argument("--requests", type=int, default=500, help="timed requests per kind")
    ap.add_argument("--syncs", type=int, default=20, help="syncs in the workspace (>= 10)")
    ap.add_argument(
        "--no-freeze", action="store_true", help="start the app without freezing its heap"
    )
    args = ap.parse_args()
    results = measure(args.requests, max(args.syncs, 10), freeze=not args.no_freeze)
    for kind, figures in results.items():
        print(
            f"{kind}: {figures['cpu_ms']} ms CPU/request ({figures['server_cpu_ms']} ms off the"
            f" client's thread), {figures['wall_ms']} ms wall; full GC passes:"
            f" {figures['gc_full_count']}, {figures['gc_full_ms']} ms"
        )


if __name__ == "__main__":
    main()
