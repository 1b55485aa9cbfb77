"""Batch sizes: how the rows a run sends are cut into the batches it writes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pyarrow as pa

from syncline.connectors.base import Operation


def exact_batches(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """``batches`` regrouped into tables of exactly ``rows`` rows (the last one fewer).

    DuckDB's Arrow reader hands back batches of uneven sizes (each pipeline thread's share),
    so 12,000 planned rows came out as 3,719 + 8,281: load lanes are balanced only when the
    batches are the size asked for.
    """
    held: list[pa.RecordBatch] = []
    n = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        held.append(batch)
        n += batch.num_rows
        while n >= rows:
            table = pa.Table.from_batches(held)
            yield table.slice(0, rows).combine_chunks()
            rest = table.slice(rows)
            held, n = rest.to_batches(), rest.num_rows
    if n:
        yield pa.Table.from_batches(held).combine_chunks()


def even_batch_rows(batch_rows: int, planned: int, lanes: int, operation: Operation) -> int:
    """Rows per batch so that ``planned`` rows keep every lane busy: 12,000 changed rows in
    one or two 50,000-row batches would leave a lane idle; with two lanes they go as two of
    6,000. Never more than ``batch_rows``."""
    if lanes < 2 or planned < 1 or operation is Operation.INSERT:
        return batch_rows
    return max(1, min(batch_rows, -(-planned // lanes)))
