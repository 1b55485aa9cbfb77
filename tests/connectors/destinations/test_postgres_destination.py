"""PostgreSQL destination: rejected rows are isolated, values cast into column types."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from postgres_helpers import dest_factory, sql, write

from syncline.connectors.base import Operation

pytestmark = pytest.mark.postgres
__all__ = ["dest_factory"]  # the fixture, imported so pytest finds it here


BAD = {17: "score", 512: "email", 998: "score"}  # row index -> the column that breaks it


def thousand_rows(first_id: int = 1) -> pa.Table:
    ids = list(range(first_id, first_id + 1000))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "email": [None if BAD.get(i) == "email" else f"u{k}@x.io" for i, k in enumerate(ids)],
            "score": [-1 if BAD.get(i) == "score" else i for i in range(1000)],
        }
    )


@pytest.mark.parametrize("existing", [0, 500], ids=["new-keys", "half-existing"])
@pytest.mark.parametrize("op", [Operation.UPSERT, Operation.INSERT])
def test_rejected_rows_are_isolated_and_the_rest_applied(
    pg_database: str, dest_factory: Any, op: Operation, existing: int
) -> None:
    sql(
        pg_database,
        "CREATE TABLE t (id bigint PRIMARY KEY, email text NOT NULL,"
        " score integer CONSTRAINT score_positive CHECK (score >= 0))",
        f"INSERT INTO t SELECT i, 'old' || i, 0 FROM generate_series(1, {existing}) i",
    )
    result = write(dest_factory(), op, thousand_rows())
    assert sorted(e.index for e in result.errors) == sorted(BAD)
    by_index = {e.index: e for e in result.errors}
    assert {e.error_class for e in result.errors} == {"constraint_violation"}
    assert 'violates check constraint "score_positive"' in by_index[17].message
    assert 'null value in column "email"' in by_index[512].message
    stored = dict(sql(pg_database, "SELECT id, email FROM t"))
    assert len(stored) == 997 + sum(1 for i in BAD if i < existing)  # bad existing rows stay
    expected_new = "old1" if op is Operation.INSERT and existing else "u1@x.io"
    assert stored[1] == expected_new
    assert 18 not in stored or stored[18] == "old18"


@pytest.mark.parametrize("op", [Operation.UPSERT, Operation.UPDATE, Operation.DELETE])
def test_isolation_bisects_large_batches(
    pg_database: str, dest_factory: Any, op: Operation
) -> None:
    """5,000 rows: halving finds the failing slices, the row loop the rows (edges included)."""
    bad = [0, 2047, 2048, 3333, 4999]
    sql(
        pg_database,
        "CREATE TABLE t (id bigint PRIMARY KEY, score integer CHECK (score >= 0))",
        "INSERT INTO t SELECT i, 0 FROM generate_series(0, 5999) i",
        "CREATE TABLE child (id bigint REFERENCES t (id))",
        f"INSERT INTO child VALUES {', '.join(f'({i})' for i in bad)}",
    )
    ids = list(range(5000))
    table = pa.table({"id": ids, "score": [-1 if i in bad else 1 for i in ids]})
    result = write(dest_factory(), op, table.select(["id"]) if op is Operation.DELETE else table)
    assert [e.index for e in result.errors] == bad
    expected = "violates foreign key" if op is Operation.DELETE else "violates check constraint"
    assert all(expected in e.message for e in result.errors)
    remaining = dict(sql(pg_database, "SELECT id, score FROM t WHERE id < 5000"))
    if op is Operation.DELETE:
        assert sorted(remaining) == bad
    else:
        assert sum(remaining.values()) == 5000 - len(bad) and all(remaining[i] == 0 for i in bad)


def test_a_trigger_rejecting_a_row_is_reported_for_that_row(
    pg_database: str, dest_factory: Any
) -> None:
    sql(
        pg_database,
        "CREATE TABLE t (id bigint PRIMARY KEY)",
        "CREATE FUNCTION no13() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF NEW.id = 13 THEN RAISE EXCEPTION 'unlucky %', NEW.id; END IF; RETURN NEW; END $$",
        "CREATE TRIGGER no13 BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION no13()",
    )
    result = write(dest_factory(), Operation.INSERT, pa.table({"id": [12, 13, 14]}))
    assert [(e.index, e.error_class, e.message) for e in result.errors] == [
        (1, "rejected", "unlucky 13")
    ]
    assert sql(pg_database, "SELECT id FROM t ORDER BY id") == [(12,), (14,)]


def test_text_postgres_cannot_store_or_that_is_too_long_is_rejected(
    pg_database: str, dest_factory: Any
) -> None:
    sql(pg_database, "CREATE TABLE t (id bigint PRIMARY KEY, code varchar(5), doc jsonb)")
    table = pa.table(
        {
            "id": [1, 2, 3, 4],
            "code": ["ok", "nul\x00", "toolong", "fine"],
            "doc": ["{}", "{}", "{}", "{bad"],  # the bad JSON sends the batch through text staging
        }
    )
    result = write(dest_factory(), Operation.UPSERT, table)
    assert [(e.index, e.error_class) for e in result.errors] == [
        (1, "invalid_value"),
        (2, "invalid_value"),
        (3, "invalid_value"),
    ]
    assert "NUL" in result.errors[0].message
    assert "too long" in result.errors[1].message  # never silently truncated
    assert sql(pg_database, "SELECT id, code FROM t") == [(1, "ok")]


def test_update_rejections_and_not_found_are_told_apart(
    pg_database: str, dest_factory: Any
) -> None:
    sql(
        pg_database,
        "CREATE TABLE t (id bigint PRIMARY KEY, score integer CHECK (score >= 0))",
        "INSERT INTO t VALUES (1, 1), (2, 2), (3, 3)",
    )
    table = pa.table({"id": [1, 2, 3, 4], "score": [10, -5, 30, 40]})
    result = write(dest_factory(), Operation.UPDATE, table)
    assert [(e.index, e.error_class) for e in result.errors] == [
        (1, "constraint_violation"),
        (3, "not_found"),
    ]
    assert sql(pg_database, "SELECT id, score FROM t ORDER BY id") == [(1, 10), (2, 2), (3, 30)]


def test_values_the_column_type_rejects_are_invalid_value(
    pg_database: str, dest_factory: Any
) -> None:
    sql(pg_database, "CREATE TABLE t (id bigint PRIMARY KEY, n smallint, doc jsonb)")
    table = pa.table(
        {
            "id": [1, 2, 3, 4],
            "n": pa.array([1, 70_000, 3, 4], pa.int64()),  # 70000 overflows smallint
            "doc": ['{"a": 1}', "[1, 2]", "{not json", None],
        }
    )
    result = write(dest_factory(), Operation.UPSERT, table)
    assert [(e.index, e.error_class) for e in result.errors] == [
        (1, "invalid_value"),
        (2, "invalid_value"),
    ]
    assert "out of range" in result.errors[0].message
    assert "json" in result.errors[1].message
    assert sql(pg_database, "SELECT id, n, doc FROM t ORDER BY id") == [
        (1, 1, {"a": 1}),
        (4, 4, None),
    ]


def test_arrow_values_cast_into_existing_column_types(pg_database: str, dest_factory: Any) -> None:
    sql(
        pg_database,
        "CREATE TABLE t (id text PRIMARY KEY, i integer, f numeric, d double precision,"
        " txt text, b boolean, day date, ts timestamptz, naive timestamp, j json, jb jsonb)",
    )
    table = pa.table(
        {
            "id": pa.array([7], pa.int64()),  # bigint key into a text key column
            "i": pa.array([5], pa.int16()),
            "f": pa.array([2.5], pa.float64()),
            "d": pa.array([Decimal("1.25")], pa.decimal128(5, 2)),
            "txt": pa.array([42], pa.int64()),
            "b": [True],
            "day": ["2024-03-01"],
            "ts": pa.array([datetime(2024, 3, 1, 12, tzinfo=UTC)], pa.timestamp("ms", tz="+05:00")),
            "naive": pa.array([datetime(2024, 3, 1, 12)], pa.timestamp("ns")),
            "j": pa.array([[1, 2]], pa.list_(pa.int64())),
            "jb": pa.array([{"k": "v"}]),
        }
    )
    assert write(dest_factory(), Operation.UPSERT, table).errors == []
    [row] = sql(pg_database, "SELECT * FROM t")
    assert row[:7] == ("7", 5, Decimal("2.5"), 1.25, "42", True, datetime(2024, 3, 1).date())
    assert row[7] == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert row[8:] == (datetime(2024, 3, 1, 12), [1, 2], {"k": "v"})
