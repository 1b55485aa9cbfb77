"""The streamed diff: classify a model as it streams from the source, never staging it whole.

An unchanged re-run used to copy every row and column of the model into DuckDB, hash it and
join it with the snapshot, only to keep nothing. Here one DuckDB query hashes each batch as
it arrives and probes the snapshot with it; rows the snapshot holds with the same hash are
counted, not kept. ``Differ.classify`` then runs over what was kept (see ``stream_model``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import pyarrow as pa

from syncline.engine.diff import Differ, cast_to
from syncline.engine.mapping import CompiledMapping, quote_ident

# The query's own columns; a model with a column of one of these names is staged whole.
STREAM_COLUMNS = frozenset({"__sl_pk", "__sl_hash", "__sl_m", "__sl_spk", "__sl_shash"})


def stream_model(
    differ: Differ,
    first: pa.RecordBatch,
    rest: Iterable[pa.RecordBatch],
    mapping: CompiledMapping,
    *,
    primary_key: str,
) -> int:
    """Diff the model against the loaded snapshot as it streams; returns the model's rows.

    Kept, as ``model`` and ``snap``, is only what may need action: the model rows with a
    NULL key, a key absent from the snapshot or another hash, and the snapshot rows they
    match or that no model row matches (removed). ``differ.counts`` keep the WHOLE model's
    and snapshot's sizes, so ``classify`` over the kept rows counts ``unchanged`` and finds
    duplicates among new keys exactly as over the whole model. One case it cannot decide
    from them: a key repeated among rows the snapshot holds, some copies of which may have
    been left out as unchanged. The count identity it already checks (more matched rows
    than matched snapshot keys) tells; with ``differ.partial`` set it then raises
    ``HiddenDuplicates``, and the caller stages the whole model instead (rare; slower, and
    the rejection stays exact).
    """
    con, rows = differ.con, [0]

    def counted() -> Iterator[pa.RecordBatch]:
        for batch in cast_to(first.schema, itertools.chain([first], rest)):
            rows[0] += batch.num_rows
            yield batch

    pk = quote_ident(primary_key)
    con.register("__model_stream", pa.RecordBatchReader.from_batches(first.schema, counted()))
    # The snapshot (the right side) must be the join's build side: DuckDB cannot size a
    # stream and would otherwise build on it, hashing the whole model, every column (2x).
    con.execute("SET disabled_optimizers = 'join_order,build_side_probe_side'")
    try:
        con.execute(
            f"""CREATE OR REPLACE TABLE model AS SELECT * FROM (
              SELECT k.*, s.pk AS __sl_spk, s.row_hash AS __sl_shash
              FROM (SELECT *, CAST({pk} AS VARCHAR) AS __sl_pk,
                      {mapping.hash_sql} AS __sl_hash, TRUE AS __sl_m
                    FROM __model_stream) k
              FULL OUTER JOIN snap s ON s.pk = k.__sl_pk)
            WHERE __sl_m IS NULL OR __sl_pk IS NULL OR __sl_spk IS NULL
              OR __sl_shash IS DISTINCT FROM __sl_hash"""
        )
    finally:
        con.execute("RESET disabled_optimizers")
        con.unregister("__model_stream")
    # Snapshot keys are unique: DISTINCT folds a key matched by several kept model rows.
    con.execute(
        "CREATE OR REPLACE TABLE snap_kept AS SELECT DISTINCT __sl_spk AS pk, "
        "__sl_shash AS row_hash FROM model WHERE __sl_spk IS NOT NULL"
    )
    differ.replace_snap("snap_kept")
    # Removed snapshot rows have no model side. The helper columns stay: the mapping was
    # compiled from the source's columns, and nothing reads ``model`` by position.
    con.execute("DELETE FROM model WHERE __sl_m IS NULL")
    differ.counts.model_rows = rows[0]
    differ.partial = True
    return rows[0]
