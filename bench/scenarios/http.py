"""Scenario 5: a rate-limited SaaS API, the HubSpot emulator, one sync and two on one account.

The emulator (``syncline.emulators.hubspot_emulator``) runs in this process at a documented
limit (default 50 requests per rolling 10 s, HubSpot's 100-input batches: a ceiling of 500
records/s), latency (50 ms a request) and fault rate (2 %: half 429 without Retry-After, half
503, never applied). Each attempt gets a fresh emulator and a fresh metadata store (PostgreSQL
by default, so the two children share the account's rate budget through it; ``--http-store
sqlite`` gives each child its own); Syncline runs through the engine in child processes
(``one``: one sync of all rows; ``two``: two syncs of half the rows each, at the same time, on
the same account and token).

Reported per attempt: records/s against the ceiling (share), the share of the least time the
limit permits for the requests made (a rolling window lets the first ``limit`` requests go at
once, so a short run can beat the steady-state ceiling), 429s the emulator answered
because the window was full (requests over the limit), and records lost (a model row missing
or different in the account) or doubled (more objects than distinct keys).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from bench.core import Attempt, BenchError, alternate, child_env, summarize, write_report
from bench.data import scratch_db
from syncline.emulators.hubspot_emulator import HsProperty, HubSpotEmulator

OBJECT = "p_bench"
PROPERTIES = [
    HsProperty("ext_id", unique=True),
    HsProperty("email"),
    HsProperty("plan"),
    HsProperty("score", "number", "number"),
]
FIELDS = "email:email,plan:plan,score:score"


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--rate-limit", type=int, default=50, help="http: requests per interval")
    ap.add_argument("--interval-ms", type=int, default=10_000, help="http: rolling window")
    ap.add_argument("--latency", type=float, default=0.05, help="http: seconds per request")
    ap.add_argument("--fault-rate", type=float, default=0.02, help="http: share of 429/503")
    ap.add_argument(
        "--http-store",
        choices=["postgres", "sqlite"],
        default="postgres",
        help="http: the children's metadata store (postgres: one shared rate budget)",
    )


def _model(path: Path, table: str, start: int, rows: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(
            f"""CREATE OR REPLACE TABLE {table} AS SELECT i AS id, 'u' || i || '@example.com'
            AS email, ['free', 'pro'][1 + i % 2] AS plan, i % 1000 AS score
            FROM range({start}, {start + rows}) t(i)"""
        )


def _check(hs: HubSpotEmulator, path: Path, tables: list[str]) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        model = {
            str(i): (e, p, str(s))
            for t in tables
            for i, e, p, s in con.execute(f"SELECT id, email, plan, score FROM {t}").fetchall()
        }
    objects = hs.objects(OBJECT)
    got: dict[str, tuple[Any, ...]] = {}
    for o in objects:
        p = o["properties"]
        got[str(p.get("ext_id"))] = (p.get("email"), p.get("plan"), p.get("score"))
    lost = sum(1 for k, v in model.items() if got.get(k) != v)
    return {"lost": lost, "doubled": len(objects) - len(got), "extra": len(set(got) - set(model))}


def run(args: argparse.Namespace, log: Callable[[str], None]) -> tuple[Path, Path]:
    rows: int = args.rows
    ceiling = args.rate_limit * 100 / (args.interval_ms / 1000)  # records/s
    with tempfile.TemporaryDirectory(prefix="bench-http-") as name:
        tmp = Path(name)
        model = tmp / "model.duckdb"
        _model(model, "one_all", 1, rows)
        _model(model, "two_a", 1, rows // 2)
        _model(model, "two_b", 1 + rows // 2, rows - rows // 2)

        def contender(tables: list[str]) -> Callable[[int], Attempt]:
            def go(r: int) -> Attempt:
                hs = HubSpotEmulator(
                    {OBJECT: PROPERTIES},
                    rate_limit=args.rate_limit,
                    rate_interval_ms=args.interval_ms,
                    latency=args.latency,
                    fault_rate=args.fault_rate,
                    seed=16 + r,
                )
                with hs, _store(args.http_store) as url:
                    dest = {
                        "access_token": hs.token,
                        "base_url": hs.url,
                        "object_type": OBJECT,
                        "id_property": "ext_id",
                    }
                    t0 = time.perf_counter()
                    procs = [_spawn(tmp / f"{t}-{r}", model, t, dest, url) for t in tables]
                    outs = [_wait(p) for p in procs]
                    wall = time.perf_counter() - t0
                    check = _check(hs, model, tables)
                    over = hs.rate_limited
                    calls = len(hs.calls)
                # From the first sync's start to the last one's end (execute_run, no start-up).
                seconds = max(o["ended"] for o in outs) - min(o["started"] for o in outs)
                rate = rows / seconds
                permitted = (calls - 1) // args.rate_limit * args.interval_ms / 1000
                extra = {
                    "records_per_s": round(rate, 1),
                    "share_of_ceiling": round(rate / ceiling, 3),
                    "share_of_permitted": round(permitted / seconds, 3),
                    "window_429s": over,
                    "requests": calls,
                    "wall_s": round(wall, 2),
                    **check,
                }
                return Attempt(
                    seconds,
                    rows,
                    sum(o["sent"] for o in outs),
                    max(o["peak_rss_mb"] for o in outs),
                    extra,
                )

            return go

        contenders = {
            "one sync": contender(["one_all"]),
            "two syncs": contender(["two_a", "two_b"]),
        }
        results = alternate(contenders, args.repeat, log=log)
    summary = {n: summarize(a) for n, a in results.items()}
    table = [
        {
            "contender": n,
            "round": i + 1,
            **{
                k: a.extra[k]
                for k in (
                    "records_per_s",
                    "share_of_ceiling",
                    "share_of_permitted",
                    "window_429s",
                    "requests",
                    "lost",
                    "doubled",
                )
            },
        }
        for n, atts in results.items()
        for i, a in enumerate(atts)
    ]
    params = {
        "rows": rows,
        "rate_limit": args.rate_limit,
        "interval_ms": args.interval_ms,
        "latency_s": args.latency,
        "fault_rate": args.fault_rate,
        "ceiling_records_per_s": ceiling,
        "repeat": args.repeat,
        "store": args.http_store,
    }
    notes = [
        "share_of_permitted: the least time the rolling window permits for the requests made "
        "((requests - 1) // limit intervals) over the time taken",
        "seconds: from the first execute_run start to the last end (process start-up excluded)",
        "window_429s: requests the emulator refused because its rolling window was full "
        "(the client exceeded the limit); injected faults are not counted there",
    ]
    return write_report(
        "http", params, {"http": {"contenders": summary, "table": table}}, notes=notes
    )


@contextmanager
def _store(kind: str) -> Iterator[str | None]:
    """A fresh, migrated PostgreSQL metadata store for the children, or None (SQLite each)."""
    if kind == "sqlite":
        yield None
        return
    from syncline.store.db import upgrade

    with scratch_db("syncline_bench_http") as dsn:
        url = dsn.replace("postgresql://", "postgresql+psycopg://", 1)
        upgrade(url)
        yield url


def _spawn(
    data: Path, model: Path, table: str, dest: dict[str, Any], url: str | None
) -> subprocess.Popen[str]:
    argv = [
        sys.executable,
        "-m",
        "bench.child",
        "engine",
        "--data",
        str(data),
        "--model",
        str(model),
        "--model-table",
        table,
        "--dest",
        f"hubspot={json.dumps(dest)}",
        "--fields",
        FIELDS,
        "--sync-mode",
        "upsert",
        *(["--database-url", url] if url else []),
    ]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env()
    )


def _wait(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise BenchError(f"sync exited {proc.returncode}: {err[-2000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result
