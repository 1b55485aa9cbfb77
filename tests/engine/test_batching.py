"""Cutting what a run sends into batches of the size asked for."""

from __future__ import annotations

import pyarrow as pa

from syncline.connectors.base import Operation
from syncline.engine.batching import even_batch_rows, exact_batches


def _batches(*sizes: int) -> list[pa.RecordBatch]:
    out, start = [], 0
    for n in sizes:
        out.append(pa.record_batch({"k": pa.array(range(start, start + n))}))
        start += n
    return out


def test_uneven_batches_come_out_exact_and_in_order() -> None:
    tables = list(exact_batches(_batches(3719, 0, 8281, 17), 5000))
    assert [t.num_rows for t in tables] == [5000, 5000, 2017]
    assert [v for t in tables for v in t.column("k").to_pylist()] == list(range(12017))
    assert all(t.column("k").num_chunks == 1 for t in tables)


def test_nothing_in_nothing_out() -> None:
    assert list(exact_batches(_batches(0, 0), 10)) == []
    assert [t.num_rows for t in exact_batches(_batches(10), 10)] == [10]


def test_rows_are_spread_over_the_lanes_within_the_batch_size() -> None:
    assert even_batch_rows(50_000, 12_000, 2, Operation.UPSERT) == 6_000
    assert even_batch_rows(50_000, 12_001, 2, Operation.UPSERT) == 6_001
    assert even_batch_rows(50_000, 1_000_000, 2, Operation.UPSERT) == 50_000
    assert even_batch_rows(50_000, 1, 2, Operation.DELETE) == 1
    assert even_batch_rows(50_000, 12_000, 1, Operation.UPSERT) == 50_000
    assert even_batch_rows(50_000, 12_000, 2, Operation.INSERT) == 50_000  # one lane anyway
    assert even_batch_rows(50_000, 0, 2, Operation.UPDATE) == 50_000
