"""Scenario 6: the REST API under load: 200 syncs, mixed reads and triggers, on loopback.

One ``syncline serve --no-workers`` on a PostgreSQL metadata store (no runs execute, so only
the API is measured; triggered runs stay pending and later triggers of the same sync answer
200 with that run). ``bench.loadgen`` runs in a process of its own: first open loop at each
of ``--api-rates`` for ``--api-duration`` seconds (latency per kind from the moment each
request was due), then closed loop with ``--api-concurrency`` clients for the maximum
throughput. Any 5xx is counted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core import process_peak_mb, run_child, write_report
from bench.data import scratch_db
from bench.product import Server

MIX = {"get_sync": 0.4, "list_runs": 0.25, "list_syncs": 0.15, "trigger": 0.2}
# The default per-token limit (1200/minute, 20 req/s) would turn most of this load into 429s,
# which are cheap and say nothing about serving; the limiter stays on, its cost is measured.
LIMITS = {
    "SYNCLINE_RATE_LIMIT_PER_TOKEN": "1000000/minute",
    "SYNCLINE_RATE_LIMIT_PER_IP": "1000000/minute",
}


def server_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live children (``--api-workers``).

    Steadier than latency on a shared machine: it counts the work per request, not the wait.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        own = stat.parent.name == str(pid)
        if own or fields[1] == str(pid):  # fields[1]: the parent pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--syncs", type=int, default=200, help="api: syncs to create")
    ap.add_argument("--api-rates", default="50,100,200", help="api: open-loop requests/s")
    ap.add_argument("--api-duration", type=float, default=20.0, help="api: seconds per rate")
    ap.add_argument("--api-concurrency", type=int, default=32, help="api: closed-loop clients")
    ap.add_argument(
        "--api-workers", type=int, default=1, help="api: API processes (serve --api-workers)"
    )


def run(args: argparse.Namespace, log: Callable[[str], None]) -> tuple[Path, Path]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-api-") as name, scratch_db("bench_api") as meta:
        import duckdb

        duckdb.connect(f"{name}/wh.duckdb").close()
        with Server(
            Path(name), store_url=meta, workers=False, api_workers=args.api_workers, env=LIMITS
        ) as server:
            log(f"api: creating {args.syncs} syncs")
            source = server.create(
                "/sources",
                {"name": "wh", "type": "duckdb", "config": {"path": f"{name}/wh.duckdb"}},
            )
            model = server.create(
                "/models",
                {"name": "m", "source_id": source, "sql": "SELECT 1 AS id", "primary_key": "id"},
            )
            syncs = []
            for i in range(args.syncs):
                dest = server.create(
                    "/destinations",
                    {
                        "name": f"d{i}",
                        "type": "postgres",
                        "config": {"dsn": meta, "table": f"t{i}"},
                    },
                )
                syncs.append(
                    server.create(
                        "/syncs",
                        {
                            "name": f"s{i}",
                            "model_id": model,
                            "destination_id": dest,
                            "field_mapping": [{"source_column": "id", "destination_field": "id"}],
                            "sync_mode": "upsert",
                            "primary_key": "id",
                            "status": "active",
                        },
                    )
                )
            base = {"base": server.base, "token": server.token, "syncs": syncs, "mix": MIX}
            plan = [("open", float(r)) for r in args.api_rates.split(",") if r] + [("closed", 0.0)]
            warm = {**base, "rate": 0, "duration": min(3.0, args.api_duration), "concurrency": 2}
            run_child([sys.executable, "-m", "bench.loadgen", json.dumps(warm)])  # discarded
            for loop, rate in plan:
                cfg = {
                    **base,
                    "rate": rate,
                    "duration": args.api_duration,
                    "concurrency": args.api_concurrency,
                }
                cpu0 = server_cpu_s(server.proc.pid)
                out, _, _ = run_child([sys.executable, "-m", "bench.loadgen", json.dumps(cfg)])
                cpu = server_cpu_s(server.proc.pid) - cpu0
                cpu_ms = round(1000 * cpu / max(1, out["requests"]), 2)
                label = f"{rate:g}/s" if loop == "open" else f"max ({args.api_concurrency} clients)"
                log(f"api {label}: {out['achieved_rps']} req/s, server CPU {cpu_ms} ms/request")
                for kind, k in out["kinds"].items():
                    fivexx = sum(n for c, n in k["status"].items() if c.startswith("5"))
                    errors = sum(n for c, n in k["status"].items() if not c[:1].isdigit())
                    limited = k["status"].get("429", 0)
                    ok = sum(n for c, n in k["status"].items() if c.startswith("2"))
                    rows.append(
                        {
                            "load": label,
                            "achieved_rps": out["achieved_rps"],
                            "server_cpu_ms_per_req": cpu_ms,
                            "kind": kind,
                            "count": k["count"],
                            "2xx": ok,
                            "p50_ms": k["p50_ms"],
                            "p95_ms": k["p95_ms"],
                            "p99_ms": k["p99_ms"],
                            "max_ms": k["max_ms"],
                            "429": limited,
                            "5xx": fivexx,
                            "errors": errors,
                        }
                    )
            peak = process_peak_mb(server.proc.pid)
    params = {
        "syncs": args.syncs,
        "rates": args.api_rates,
        "duration_s": args.api_duration,
        "concurrency": args.api_concurrency,
        "api_workers": args.api_workers,
        "mix": MIX,
        "server_peak_rss_mb": peak,
    }
    notes = [
        "latency from the moment each request was due (open loop), in ms",
        "server_cpu_ms_per_req: CPU time of the serve process(es) over the phase / requests "
        "(not PostgreSQL's)",
        f"server: `syncline serve --no-workers --api-workers {args.api_workers}` on a PostgreSQL "
        "store",
    ]
    return write_report("api", params, {"api": {"table": rows}}, notes=notes)
