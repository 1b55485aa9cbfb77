"""Deterministic data: the 12-column model in DuckDB, its 1 % changes, PostgreSQL scratch.

The model is a pure function of the row number, so every run of a scenario sees the same
rows; a round's change set (updates, inserts, deletes) is a pure function of the round. The
destination check walks model and table side by side in key order and compares every value.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from psycopg import sql

from bench.core import PG

COLUMNS = [
    "id",
    "email",
    "first_name",
    "last_name",
    "plan",
    "country",
    "score",
    "visits",
    "revenue",
    "active",
    "created_at",
    "updated_at",
]
DDL = """(
    id bigint PRIMARY KEY, email text, first_name text, last_name text, plan text,
    country text, score integer, visits bigint, revenue numeric(12,2), active boolean,
    created_at timestamp with time zone, updated_at timestamp with time zone
)"""
_ROW = """i AS id, 'user' || i || '@example.com' AS email, 'first' || (i % 5000) AS first_name,
    'last' || (i % 7919) AS last_name,
    ['free', 'starter', 'pro', 'enterprise'][1 + i % 4] AS plan,
    ['US', 'DE', 'FR', 'BR', 'IN', 'JP'][1 + i % 6] AS country,
    CAST(i % 100000 AS INTEGER) AS score, CAST(i * 7 % 100003 AS BIGINT) AS visits,
    CAST((i % 10000000) / 100 AS DECIMAL(12, 2)) AS revenue, i % 10 < 7 AS active,
    TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i) AS created_at,
    TIMESTAMPTZ '2024-06-01 00:00:00+00' + to_seconds(i) AS updated_at"""


def build_model(path: Path, rows: int) -> None:
    """Write ``people`` (ids 1..rows) into a fresh DuckDB file."""
    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE TABLE people AS SELECT {_ROW} FROM range(1, {rows} + 1) t(i)")


def change_counts(rows: int) -> dict[str, int]:
    """1 % updated, 0.2 % inserted, 0.1 % deleted: 10,000 / 2,000 / 1,000 at a million."""
    return {
        "updates": max(1, rows // 100),
        "inserts": max(1, rows // 500),
        "deletes": max(1, rows // 1000),
    }


def apply_changes(path: Path, rows: int, round_no: int) -> dict[str, int]:
    """Change the model in place the same way every time for the same round."""
    n = change_counts(rows)
    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(
            f"""CREATE TEMP TABLE pick AS SELECT id,
            row_number() OVER (ORDER BY hash(id, {round_no})) AS k FROM people"""
        )
        con.execute(
            f"""UPDATE people SET score = score + 1, plan = 'changed{round_no}',
            updated_at = updated_at + INTERVAL 1 DAY
            WHERE id IN (SELECT id FROM pick WHERE k <= {n["updates"]})"""
        )
        con.execute(
            f"""DELETE FROM people WHERE id IN (SELECT id FROM pick WHERE k > {n["updates"]}
            AND k <= {n["updates"] + n["deletes"]})"""
        )
        (top,) = con.execute("SELECT max(id) FROM people").fetchone() or (0,)
        con.execute(
            f"INSERT INTO people SELECT {_ROW} FROM range({top + 1}, {top + 1 + n['inserts']}) t(i)"
        )
    return n


def model_count(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return int((con.execute("SELECT count(*) FROM people").fetchone() or (0,))[0])


@contextmanager
def scratch_db(prefix: str = "syncline_bench") -> Iterator[str]:
    """A fresh PostgreSQL database for one scenario, dropped afterwards; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as root:
        root.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{PG}/{name}"
    finally:
        with psycopg.connect(f"{PG}/postgres", autocommit=True) as root:
            root.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def create_table(dsn: str, table: str) -> None:
    """The destination table every contender writes to (same types, same key)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        conn.execute(sql.SQL("CREATE TABLE {} " + DDL).format(sql.Identifier(table)))
        conn.execute("CHECKPOINT")


def table_count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        return int((row.fetchone() or (0,))[0])


def _norm(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))
    if isinstance(value, float):
        return Decimal(str(value)).quantize(Decimal("0.01"))
    return value


def compare(model: Path, dsn: str, table: str) -> dict[str, int]:
    """Walk model and destination in key order; count missing, extra and different rows."""
    times = ("created_at", "updated_at")
    duck = ", ".join(f"epoch_us({c})" if c in times else c for c in COLUMNS)
    pg = ", ".join(
        f"(extract(epoch FROM {c}) * 1000000)::bigint" if c in times else c for c in COLUMNS
    )
    missing = extra = different = 0
    with (
        duckdb.connect(str(model), read_only=True) as con,
        psycopg.connect(dsn) as conn,
        conn.cursor(name="bench_compare") as cur,
    ):
        con.execute("SET TimeZone = 'UTC'")
        conn.execute("SET TimeZone = 'UTC'")
        con.execute(f"SELECT {duck} FROM people ORDER BY id")
        cur.execute(sql.SQL(f"SELECT {pg} FROM {{}} ORDER BY id").format(sql.Identifier(table)))
        left, right = _rows(con.fetchmany), _rows(cur.fetchmany)
        a, b = next(left, None), next(right, None)
        while a is not None or b is not None:
            if b is None or (a is not None and a[0] < b[0]):
                missing, a = missing + 1, next(left, None)
            elif a is None or b[0] < a[0]:
                extra, b = extra + 1, next(right, None)
            else:
                different += tuple(map(_norm, a)) != tuple(map(_norm, b))
                a, b = next(left, None), next(right, None)
    return {"missing": missing, "extra": extra, "different": different}


def _rows(fetch: Any) -> Iterator[tuple[Any, ...]]:
    while batch := fetch(20_000):
        yield from batch
