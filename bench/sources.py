"""Benchmark: how fast each source streams a large model, and in how much memory.

Usage: uv run python bench/sources.py [--rows 1000000] [--batch-rows 50000] [--only duckdb,...]

For each source it loads a table of ``--rows`` rows with six columns (int id, text, double,
timestamp with time zone, bool, int) into a scratch database, then reads ``SELECT * FROM t``
through the source into a consumer that drops every batch. The read runs in a child process
of its own, so its peak RSS is the source's alone. Prints rows/s, the RSS before reading, the
peak RSS and their difference (what streaming costs), as a table and as JSON.

PostgreSQL and MySQL are used when reachable (``SYNCLINE_BENCH_PG``, default
``postgresql://postgres@127.0.0.1:5432``; ``SYNCLINE_BENCH_MYSQL``, default
``root@127.0.0.1:3306``); a scratch database ``syncline_bench`` is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PG_URL = os.environ.get("SYNCLINE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
MYSQL = os.environ.get("SYNCLINE_BENCH_MYSQL", "root@127.0.0.1:3306")
DB = "syncline_bench"
SOURCES = ["duckdb", "sqlite", "postgres", "mysql"]


def _mysql_kwargs(database: str | None = None) -> dict[str, Any]:
    user, _, hostport = MYSQL.rpartition("@")
    host, _, port = hostport.partition(":")
    kwargs: dict[str, Any] = {"host": host, "port": int(port or 3306), "user": user or "root"}
    kwargs["password"] = os.environ.get("SYNCLINE_BENCH_MYSQL_PASSWORD", "")
    if database:
        kwargs["database"] = database
    return kwargs


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def setup(name: str, rows: int, work: Path) -> dict[str, Any] | None:
    """Load the table into a scratch database; the source config, or None if unavailable."""
    import duckdb

    gen = f"""SELECT i AS id, 'customer-' || i AS name, i * 1.25 AS score,
        TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i) AS updated_at,
        i % 3 = 0 AS active, i % 1000 AS grp FROM range({rows}) t(i)"""
    if name == "duckdb":
        path = work / "bench.duckdb"
        with duckdb.connect(str(path)) as con:
            con.execute(f"CREATE TABLE t AS {gen}")
        return {"path": str(path)}
    if name == "sqlite":
        import sqlite3

        path = work / "bench.sqlite"
        lite = sqlite3.connect(path)
        lite.execute(
            """CREATE TABLE t (id INTEGER, name TEXT, score REAL, updated_at TIMESTAMPTZ,
            active BOOLEAN, grp INTEGER)"""
        )
        lite.execute(
            f"""INSERT INTO t WITH RECURSIVE s(i) AS
            (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {rows - 1})
            SELECT i, 'customer-' || i, i * 1.25,
            strftime('%Y-%m-%dT%H:%M:%S+00:00', 1704067200 + i, 'unixepoch'), i % 3 = 0, i % 1000
            FROM s"""
        )
        lite.commit()
        lite.close()
        return {"path": str(path)}
    if name == "postgres":
        import psycopg

        if not _reachable(*_host_port(PG_URL, 5432)):
            return None
        with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB}")
            conn.execute(f"CREATE DATABASE {DB}")
        with psycopg.connect(f"{PG_URL}/{DB}", autocommit=True) as conn:
            conn.execute(
                f"""CREATE TABLE t AS SELECT i::bigint AS id, 'customer-' || i AS name,
                i * 1.25::float8 AS score,
                timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second' AS updated_at,
                i % 3 = 0 AS active, (i % 1000)::int AS grp
                FROM generate_series(0, {rows - 1}) i"""
            )
        return {"dsn": f"{PG_URL}/{DB}"}
    if name == "mysql":
        import pymysql

        kwargs = _mysql_kwargs()
        if not _reachable(kwargs["host"], kwargs["port"]):
            return None
        my = pymysql.connect(**kwargs, init_command="SET time_zone = '+00:00'")
        with my.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {DB}")
            cur.execute(f"CREATE DATABASE {DB}")
            cur.execute(f"USE {DB}")
            cur.execute("CREATE TABLE digits (d INT)")
            cur.execute("INSERT INTO digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)")
            cur.execute(
                """CREATE TABLE t (id BIGINT, name VARCHAR(64), score DOUBLE,
                updated_at TIMESTAMP(6) NULL, active BOOLEAN, grp INT)"""
            )
            n = "(a.d + 10*b.d + 100*c.d + 1000*e.d + 10000*f.d + 100000*g.d + 1000000*h.d)"
            cur.execute(
                f"""INSERT INTO t SELECT {n}, CONCAT('customer-', {n}), {n} * 1.25,
                TIMESTAMPADD(SECOND, {n}, '2024-01-01 00:00:00'), {n} % 3 = 0, {n} % 1000
                FROM digits a, digits b, digits c, digits e, digits f, digits g, digits h
                WHERE {n} < {rows}"""
            )
        my.commit()
        my.close()
        return {**_mysql_kwargs(DB)}
    raise ValueError(name)


def teardown(name: str) -> None:
    """Drop the scratch server databases (files go with the temporary directory)."""
    if name == "postgres":
        import psycopg

        with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    elif name == "mysql":
        import pymysql

        my = pymysql.connect(**_mysql_kwargs())
        with my.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {DB}")
        my.close()


def _host_port(url: str, default: int) -> tuple[str, int]:
    hostport = url.split("@")[-1].split("/")[0]
    host, _, port = hostport.partition(":")
    return host, int(port or default)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(name: str, config: dict[str, Any], batch_rows: int) -> dict[str, Any]:
    """Read the whole table into a no-op consumer (runs in the child process)."""
    from syncline.connectors.registry import open_source

    source = open_source(name, config)
    assert source.check().ok
    before = _rss_mib()
    rows = batches = 0
    start = time.perf_counter()
    for batch in source.read("SELECT * FROM t", batch_rows=batch_rows):
        rows += batch.num_rows
        batches += 1
    seconds = time.perf_counter() - start
    source.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "source": name,
        "rows": rows,
        "batches": batches,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds),
        "rss_before_mib": round(before, 1),
        "peak_rss_mib": round(peak, 1),
        "peak_over_start_mib": round(peak - before, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-rows", type=int, default=50_000)
    ap.add_argument("--only", default=",".join(SOURCES))
    ap.add_argument("--child", nargs=2, metavar=("SOURCE", "CONFIG_JSON"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], json.loads(args.child[1]), args.batch_rows)))
        return
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only.split(","):
            config = setup(name, args.rows, Path(tmp))
            if config is None:
                print(f"{name}: server not reachable, skipped", file=sys.stderr)
                continue
            try:
                argv = ["--batch-rows", str(args.batch_rows), "--child", name, json.dumps(config)]
                out = subprocess.run(
                    [sys.executable, __file__, *argv],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                results.append(json.loads(out))
            finally:
                teardown(name)
    print(f"{'source':<10}{'rows':>10}{'rows/s':>12}{'RSS start':>11}{'peak RSS':>10}{'growth':>9}")
    for r in results:
        print(
            f"{r['source']:<10}{r['rows']:>10}{r['rows_per_s']:>12,}"
            f"{r['rss_before_mib']:>10.0f}M{r['peak_rss_mib']:>9.0f}M"
            f"{r['peak_over_start_mib']:>8.0f}M"
        )
    print(json.dumps({"rows": args.rows, "batch_rows": args.batch_rows, "results": results}))


if __name__ == "__main__":
    main()
