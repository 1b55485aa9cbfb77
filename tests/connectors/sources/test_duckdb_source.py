"""DuckDB specifics: querying Parquet and CSV files in-memory, and streaming a big model."""

from __future__ import annotations

import csv
import datetime as dt
import tracemalloc
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from syncline.connectors.registry import open_source
from syncline.connectors.sources.duckdb import DuckDBConfig, DuckDBSource


def _memory(*allowed: Path) -> DuckDBSource:
    return DuckDBSource(
        DuckDBConfig(path=":memory:", allowed_directories=[str(d) for d in allowed])
    )


def test_in_memory_database_checks_ok_whatever_read_only_says() -> None:
    for config in ({}, {"path": None}, {"path": ":memory:", "read_only": True}):
        src = open_source("duckdb", config)
        assert src.check().ok
        src.close()


def test_reads_a_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "users.parquet"
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "email": ["a@x.io", None, "ç@x.io"],
            "signed_up": pa.array(
                [
                    dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                    None,
                    dt.datetime(2024, 6, 1, tzinfo=dt.UTC),
                ],
                pa.timestamp("us", tz="UTC"),
            ),
        }
    )
    pq.write_table(table, path)
    with _memory(tmp_path) as src:
        sql = f"SELECT * FROM read_parquet('{path}') ORDER BY id"
        assert [(c.name, c.type) for c in src.columns(sql)] == [
            ("id", "int64"),
            ("email", "string"),
            ("signed_up", "timestamp[us, tz=UTC]"),
        ]
        assert pa.Table.from_batches(list(src.read(sql, batch_rows=2))).equals(table)


def test_reads_a_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["order_id", "customer", "total", "placed_on"])
        writer.writerows([[10, "Zoë", "19.99", "2024-05-01"], [11, "Bo", "5.00", "2024-05-02"]])
    with _memory(tmp_path) as src:
        sql = f"SELECT * FROM read_csv('{path}', header = true) ORDER BY order_id"
        types = {c.name: c.type for c in src.columns(sql)}
        assert types == {
            "order_id": "int64",
            "customer": "string",
            "total": "double",
            "placed_on": "date32[day]",
        }
        rows = pa.Table.from_batches(list(src.read(sql, batch_rows=100))).to_pylist()
        assert rows[0] == {
            "order_id": 10,
            "customer": "Zoë",
            "total": 19.99,
            "placed_on": dt.date(2024, 5, 1),
        }
        assert len(rows) == 2


def _rss_high_water_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_streams_two_million_rows_in_bounded_memory() -> None:
    """Arrow batches come from DuckDB's own memory, so watch the process's peak RSS as well.

    Materialising this result (2M rows of ~107 bytes) lifts the peak by ~240 MiB; streaming it
    by ~30 MiB.
    """
    clear_refs = Path("/proc/self/clear_refs")
    if not clear_refs.exists():
        pytest.skip("needs Linux /proc to reset the RSS high-water mark")
    n, batch_rows = 2_000_000, 10_000
    sql = f"SELECT i AS id, repeat('x', 100) || i::VARCHAR AS pad FROM range({n}) t(i)"
    with _memory() as src:
        assert src.check().ok
        clear_refs.write_text("5")  # reset VmHWM to the current RSS
        base = _rss_high_water_kib()
        rows = 0
        tracemalloc.start()
        try:
            for batch in src.read(sql, batch_rows=batch_rows):
                assert batch.num_rows <= batch_rows
                rows += batch.num_rows
            _, peak_python = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        rss_growth_mib = (_rss_high_water_kib() - base) / 1024
    assert rows == n
    assert peak_python < 8 * 2**20
    assert rss_growth_mib < 120, f"peak RSS grew by {rss_growth_mib:.0f} MiB"


def test_sources_on_one_file_open_side_by_side(tmp_path: Path) -> None:
    """DuckDB shares one locked-down instance per file: the second opener must not re-lock it."""
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT range AS id FROM range(5)")
    con.close()
    sources = [DuckDBSource(DuckDBConfig(path=str(path))) for _ in range(6)]
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            counts = list(
                pool.map(
                    lambda s: sum(b.num_rows for b in s.read("SELECT * FROM t", batch_rows=10)),
                    sources,
                )
            )
        assert counts == [5] * 6
    finally:
        for src in sources:
            src.close()
