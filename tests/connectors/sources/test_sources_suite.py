"""The contract every source keeps, run against each database in turn (see source_harness)."""

from __future__ import annotations

import datetime as dt
import tracemalloc
from decimal import Decimal

import pyarrow as pa
import pytest
from source_harness import Harness

from syncline.connectors.base import Column, Source, SourceError

ROWS = [
    (
        1,
        42,
        9223372036854775807,
        "héllo wörld ✓ 日本 🚀",
        Decimal("12345.67"),
        True,
        dt.date(2024, 2, 29),
        dt.datetime(2024, 3, 1, 12, 34, 56, 789000, tzinfo=dt.UTC),
    ),
    (2, None, None, None, None, None, None, None),
    (
        3,
        -7,
        -9223372036854775807,
        "",
        Decimal("-0.01"),
        False,
        dt.date(1999, 12, 31),
        dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    ),
]


def _literal(h: Harness, value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        return str(h.ts_literal(value.strftime("%Y-%m-%d %H:%M:%S.%f")))
    if isinstance(value, str | dt.date):
        return "'" + str(value).replace("'", "''") + "'"
    return str(value)


def _create_round_trip(h: Harness) -> None:
    cols = ", ".join(f"{name} {ddl}" for name, ddl in h.ddl.items())
    values = ", ".join("(" + ", ".join(_literal(h, v) for v in row) + ")" for row in ROWS)
    h.execute([f"CREATE TABLE rt ({cols})", f"INSERT INTO rt VALUES {values}"])


def _create_numbers(h: Harness, n: int) -> None:
    values = ", ".join(f"({i})" for i in range(n))
    h.execute([f"CREATE TABLE nums (n {h.ddl['id']})", f"INSERT INTO nums VALUES {values}"])


def _expected_columns(h: Harness) -> list[tuple[str, str]]:
    return [
        ("id", "int64"),
        ("small", h.int_type),
        ("big", "int64"),
        ("label", "string"),
        ("amount", "decimal128(12, 2)"),
        ("flag", "bool"),
        ("born_on", "date32[day]"),
        ("seen_at", "timestamp[us, tz=UTC]"),
    ]


def test_satisfies_the_protocol(harness: Harness) -> None:
    assert isinstance(harness.source(), Source)


def test_check_ok(harness: Harness) -> None:
    result = harness.source().check()
    assert result.ok, result.message


def test_check_failure_is_reported_not_raised(harness: Harness) -> None:
    result = harness.source(**harness.unreachable).check()
    assert not result.ok
    assert harness.unreachable_hint in result.message


def test_unreachable_source_raises_source_error(harness: Harness) -> None:
    src = harness.source(**harness.unreachable)
    with pytest.raises(SourceError) as err:
        src.columns("SELECT 1 AS x")
    assert harness.unreachable_hint in str(err.value)
    if harness.name in ("postgres", "mysql"):
        assert err.value.retryable  # the network may come back; a missing file will not


def test_columns_discovers_arrow_types(harness: Harness) -> None:
    _create_round_trip(harness)
    cols = harness.source().columns("SELECT * FROM rt")
    assert [(c.name, c.type) for c in cols] == _expected_columns(harness)
    assert all(isinstance(c, Column) for c in cols)


def test_read_round_trips_values_and_types(harness: Harness) -> None:
    _create_round_trip(harness)
    src = harness.source()
    batches = list(src.read("SELECT * FROM rt ORDER BY id", batch_rows=100))
    assert len(batches) == 1
    batch = batches[0]
    assert [(f.name, str(f.type)) for f in batch.schema] == _expected_columns(harness)
    assert [c.type for c in src.columns("SELECT * FROM rt")] == [str(t) for t in batch.schema.types]
    got = [tuple(row.values()) for row in batch.to_pylist()]
    assert got == ROWS


def test_batch_rows_is_respected_with_one_schema(harness: Harness) -> None:
    _create_numbers(harness, 2500)
    batches = list(harness.source().read("SELECT n FROM nums ORDER BY n", batch_rows=1000))
    assert [b.num_rows for b in batches] == [1000, 1000, 500]
    assert len({b.schema for b in batches}) == 1
    values = pa.Table.from_batches(batches).column("n").to_pylist()
    assert values == list(range(2500))


def test_empty_result_yields_no_batch(harness: Harness) -> None:
    _create_round_trip(harness)
    src = harness.source()
    assert list(src.read("SELECT * FROM rt WHERE 1 = 0", batch_rows=10)) == []
    assert [c.name for c in src.columns("SELECT * FROM rt WHERE 1 = 0")][:2] == ["id", "small"]


def test_trailing_semicolon_is_accepted(harness: Harness) -> None:
    _create_round_trip(harness)
    src = harness.source()
    assert [c.name for c in src.columns("SELECT id FROM rt;\n")] == ["id"]
    assert sum(b.num_rows for b in src.read("SELECT id FROM rt ;", batch_rows=10)) == 3


def test_bad_sql_raises_source_error_with_database_message(harness: Harness) -> None:
    src = harness.source()
    with pytest.raises(SourceError) as err:
        src.columns("SELECT * FROM no_such_table")
    assert harness.missing_table_text in str(err.value)
    assert not err.value.retryable
    with pytest.raises(SourceError) as err:
        list(src.read("SELECT * FROM no_such_table", batch_rows=10))
    assert harness.missing_table_text in str(err.value)
    with pytest.raises(SourceError, match=r"syntax|Parser"):
        src.columns("SELEC nonsense FROM")


def test_source_never_writes(harness: Harness) -> None:
    _create_round_trip(harness)
    src = harness.source()
    with pytest.raises(SourceError):
        list(src.read("DELETE FROM rt", batch_rows=10))
    assert sum(b.num_rows for b in src.read("SELECT id FROM rt", batch_rows=10)) == 3


def test_abandoned_read_leaves_source_usable(harness: Harness) -> None:
    _create_numbers(harness, 2500)
    src = harness.source()
    stream = src.read("SELECT n FROM nums", batch_rows=100)
    assert next(stream).num_rows == 100
    stream.close()
    assert src.check().ok
    src.close()
    assert sum(b.num_rows for b in src.read("SELECT n FROM nums", batch_rows=1000)) == 2500


def test_streaming_memory_is_bounded(harness: Harness) -> None:
    # 300,000 rows of ~110 bytes: held as Python objects they would take ~70 MB.
    n, batch_rows, limit = 300_000, 2_000, 16 * 2**20
    _create_numbers(harness, 1000)
    sql = (
        "SELECT a.n * 1000 + b.n AS id, "
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxx' AS pad FROM nums a, nums b WHERE a.n < 300"
    )
    src = harness.source()
    rows, peak_pool = 0, 0
    base_pool = pa.total_allocated_bytes()
    tracemalloc.start()
    try:
        for batch in src.read(sql, batch_rows=batch_rows):
            assert batch.num_rows <= batch_rows
            rows += batch.num_rows
            peak_pool = max(peak_pool, pa.total_allocated_bytes() - base_pool)
        _, peak_python = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == n
    assert peak_python < limit, f"Python allocations peaked at {peak_python / 2**20:.1f} MiB"
    assert peak_pool < limit, f"Arrow pool peaked at {peak_pool / 2**20:.1f} MiB"


def test_two_reads_can_interleave(harness: Harness) -> None:
    _create_numbers(harness, 2500)
    src = harness.source()
    first = src.read("SELECT n FROM nums ORDER BY n", batch_rows=1000)
    second = src.read("SELECT n * 2 AS m FROM nums ORDER BY n", batch_rows=1000)
    pairs = list(zip(first, second, strict=True))
    assert [(a.num_rows, b.num_rows) for a, b in pairs] == [(1000, 1000), (1000, 1000), (500, 500)]
    assert pairs[-1][1].column(0).to_pylist()[-1] == 4998
