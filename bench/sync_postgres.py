"""Benchmark: a whole initial sync run, DuckDB model -> PostgreSQL table, against a bare COPY.

Usage: uv run python bench/sync_postgres.py [--rows 1000000]

The run goes through the real engine (extract from a DuckDB file, hash and diff against an
empty snapshot, map, load through the PostgreSQL destination, commit snapshot deltas per
batch) on an embedded metadata store. The baseline reads the same rows from the same DuckDB
file and COPYs them into an equivalent table (same types, same primary key), one transaction
per 50,000 rows. Both are timed in this process, in the same run; the ratio is printed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

import duckdb
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).parent))
from load_postgres import DDL, bare_copy

from syncline.bootstrap import build_context
from syncline.execution.engine_env import run_engine
from syncline.runs.lifecycle import claim_run, finish_run
from syncline.settings import Settings
from syncline.store.db import upgrade
from syncline.store.tables import Destination, Model, Source, Sync, SyncRun, Workspace

MODEL_SQL = """SELECT i AS id, 'user' || i || '@example.com' AS email,
    ['free','starter','pro','enterprise'][1 + i % 4] AS plan, CAST(i % 100000 AS INTEGER) AS score,
    CAST((i % 10000000) / 100 AS DECIMAL(12, 2)) AS revenue, i % 10 < 7 AS active,
    TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i) AS updated_at
    FROM range(1, {n} + 1) t(i)"""
COLUMNS = ["id", "email", "plan", "score", "revenue", "active", "updated_at"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--server", default="host=127.0.0.1 port=5432 user=postgres")
    args = ap.parse_args()
    name = f"syncline_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{args.server} dbname=postgres", autocommit=True) as root:
        root.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = f"{args.server} dbname={name}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            wh = Path(tmp) / "wh.duckdb"
            con = duckdb.connect(str(wh))
            con.execute(f"CREATE TABLE people AS {MODEL_SQL.format(n=args.rows)}")
            con.close()

            # Baseline: the same rows, read from DuckDB, COPYed in 50k-row transactions.
            with psycopg.connect(dsn, autocommit=True) as admin:
                admin.execute(sql.SQL("CREATE TABLE bare " + DDL))
            read = duckdb.connect(str(wh), read_only=True)
            t0 = time.perf_counter()
            table = read.sql("SELECT * FROM people").to_arrow_table()
            batches = [table.slice(i, 50_000) for i in range(0, table.num_rows, 50_000)]
            copy_s = bare_copy(dsn, batches) + (time.perf_counter() - t0)
            read.close()
            del table, batches

            settings = Settings(data_dir=Path(tmp) / "data", database_url=None)
            upgrade(settings.resolved_database_url())
            ctx = build_context(settings)
            with ctx.sessions.begin() as s:
                ws = Workspace(name="bench")
                s.add(ws)
                s.flush()
                src = Source(
                    workspace_id=ws.id,
                    name="wh",
                    type="duckdb",
                    config=ctx.secrets.encrypt_config({"path": str(wh)}),
                )
                dst = Destination(
                    workspace_id=ws.id,
                    name="pg",
                    type="postgres",
                    config=ctx.secrets.encrypt_config({"dsn": dsn, "table": "dest"}),
                )
                s.add_all([src, dst])
                s.flush()
                model = Model(
                    workspace_id=ws.id,
                    source_id=src.id,
                    name="people",
                    sql="SELECT * FROM people",
                    primary_key="id",
                )
                s.add(model)
                s.flush()
                sync = Sync(
                    workspace_id=ws.id,
                    model_id=model.id,
                    destination_id=dst.id,
                    name="bench",
                    sync_mode="upsert",
                    primary_key="id",
                    field_mapping=[{"source_column": c, "destination_field": c} for c in COLUMNS],
                )
                s.add(sync)
                s.flush()
                run = SyncRun(sync_id=sync.id, workspace_id=ws.id)
                s.add(run)
                s.flush()
                run_id = run.id
            assert claim_run(ctx.sessions, run_id, executor_id="bench")
            t1 = time.perf_counter()
            outcome = run_engine(ctx, run_id)
            run_s = time.perf_counter() - t1
            finish_run(ctx.sessions, run_id, outcome, executor_id="bench")
            ctx.dispose()
            if outcome.rows_synced != args.rows:
                raise SystemExit(f"run did not sync every row: {outcome}")
            with psycopg.connect(dsn) as conn:
                n = conn.execute("SELECT count(*) FROM dest").fetchone()
            assert n == (args.rows,), n
        print(f"rows={args.rows:,}")
        print(f"  sync run:  {args.rows / run_s:>10,.0f} rows/s  ({run_s:.2f} s)")
        print(f"  bare COPY: {args.rows / copy_s:>10,.0f} rows/s  ({copy_s:.2f} s)")
        print(f"  ratio: {copy_s / run_s:.0%} of bare COPY (target >= 50%)")
    finally:
        with psycopg.connect(f"{args.server} dbname=postgres", autocommit=True) as root:
            root.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


if __name__ == "__main__":
    main()
