"""Benchmark: the PostgreSQL destination's initial upsert against a bare COPY of the same rows.

Usage: uv run python bench/load_postgres.py [--rows 1000000] [--batch 50000] [--repeat 2]
       [--server "host=127.0.0.1 port=5432 user=postgres"]

Creates a scratch database, generates the rows once as Arrow, then (in the same run, same
server, alternating) loads them:

* ``destination``: ``PostgresDestination.write`` of upsert batches into an empty table
  (COPY into a TEMP staging table + ``INSERT ... ON CONFLICT DO UPDATE``, one transaction per
  batch), exactly as a sync would;
* ``bare COPY``: ``COPY ... FROM STDIN (FORMAT csv)`` of the same batches, rendered by the same
  Arrow CSV code the destination uses (so only the destination's extra work is measured),
  straight into an equivalent table (same columns, same primary key, logged, not UNLOGGED).

``--on-conflict-only`` turns off the destination's plain-INSERT fast path for new keys, to show
the cost of the general ``INSERT ... ON CONFLICT`` path (what every batch with existing keys pays).

Prints the best rows/s of each over ``--repeat`` rounds and their ratio, then drops the database.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from syncline.connectors.base import ChangeBatch, Operation, RunInfo, SyncMode
from syncline.connectors.destinations.postgres.destination import (
    PostgresDestination,
    PostgresDestinationConfig,
)
from syncline.connectors.destinations.postgres.types import copyable, csv_chunks

DDL = """(
    id bigint PRIMARY KEY,
    email text,
    plan text,
    score integer,
    revenue numeric(12,2),
    active boolean,
    updated_at timestamp with time zone
)"""


def make_rows(n: int) -> pa.Table:
    """Deterministic mixed-type rows (bigint key, text, int, numeric, bool, timestamptz)."""
    rnd = random.Random(42)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    plans = ["free", "starter", "pro", "enterprise"]
    return pa.table(
        {
            "id": pa.array(range(1, n + 1), pa.int64()),
            "email": pa.array([f"user{i}@example.com" for i in range(n)]),
            "plan": pa.array([plans[i % 4] for i in range(n)]),
            "score": pa.array([rnd.randrange(100_000) for _ in range(n)], pa.int32()),
            "revenue": pa.array(
                [Decimal(rnd.randrange(10_000_000)) / 100 for _ in range(n)], pa.decimal128(12, 2)
            ),
            "active": pa.array([rnd.random() < 0.7 for _ in range(n)]),
            "updated_at": pa.array(
                [start + timedelta(seconds=i) for i in range(n)], pa.timestamp("us", tz="UTC")
            ),
        }
    )


def reset(admin: psycopg.Connection[tuple[object, ...]], table: str) -> None:
    admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
    admin.execute(sql.SQL("CREATE TABLE {} " + DDL).format(sql.Identifier(table)))
    admin.execute("CHECKPOINT")  # neither side pays for the other's dirty buffers


def bare_copy(dsn: str, batches: list[pa.Table]) -> float:
    """Seconds to COPY every batch into ``bare``, one transaction per batch."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        t0 = time.perf_counter()
        for batch in batches:
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy("COPY bare FROM STDIN (FORMAT csv)") as copy,
            ):
                rendered = pa.table({c: copyable(batch.column(c)) for c in batch.column_names})
                for chunk in csv_chunks(rendered):
                    copy.write(chunk)
        return time.perf_counter() - t0


def destination(
    dsn: str, batches: list[pa.Table], keys: list[list[str]], *, on_conflict_only: bool
) -> float:
    """Seconds for ``PostgresDestination`` to upsert every batch into ``dest``."""
    config = PostgresDestinationConfig.model_validate({"dsn": dsn, "table": "dest"})
    dest = PostgresDestination(config)
    fields = batches[0].column_names
    dest.begin(RunInfo("bench", uuid.uuid4().hex, SyncMode.UPSERT, "id", fields))
    if on_conflict_only:
        dest._writer.fast_insert = False  # type: ignore[union-attr]  # bench-only switch
    t0 = time.perf_counter()
    for seq, (batch, batch_keys) in enumerate(zip(batches, keys, strict=True)):
        result = dest.write(ChangeBatch(Operation.UPSERT, batch, batch_keys, "id", seq))
        if result.errors:
            raise SystemExit(f"destination rejected rows: {result.errors[:3]}")
    elapsed = time.perf_counter() - t0
    dest.finish(success=True)
    dest.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--server", default="host=127.0.0.1 port=5432 user=postgres")
    parser.add_argument("--on-conflict-only", action="store_true")
    args = parser.parse_args()

    rows = make_rows(args.rows)
    batches = [rows.slice(i, args.batch) for i in range(0, args.rows, args.batch)]
    keys = [pc.cast(b.column("id"), pa.string()).to_pylist() for b in batches]  # engine's work

    name = f"syncline_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{args.server} dbname=postgres", autocommit=True) as root:
        root.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = f"{args.server} dbname={name}"
    best = {"destination": float("inf"), "bare COPY": float("inf")}
    try:
        with psycopg.connect(dsn, autocommit=True) as admin:
            for _ in range(args.repeat):
                reset(admin, "dest")
                took = destination(dsn, batches, keys, on_conflict_only=args.on_conflict_only)
                best["destination"] = min(best["destination"], took)
                reset(admin, "bare")
                best["bare COPY"] = min(best["bare COPY"], bare_copy(dsn, batches))
                counts = [
                    admin.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t)))
                    for t in ("dest", "bare")
                ]
                assert all(c.fetchone() == (args.rows,) for c in counts), "row count mismatch"
    finally:
        with psycopg.connect(f"{args.server} dbname=postgres", autocommit=True) as root:
            root.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    path = "INSERT ... ON CONFLICT only" if args.on_conflict_only else "default"
    print(f"rows={args.rows:,} batch={args.batch:,} best of {args.repeat}, destination: {path}")
    for label, seconds in best.items():
        print(f"{label:>12}: {args.rows / seconds:>10,.0f} rows/s  ({seconds:.2f} s)")
    ratio = best["bare COPY"] / best["destination"]
    print(f"       ratio: {ratio:.0%} of bare COPY (target >= 50%)")


if __name__ == "__main__":
    main()
