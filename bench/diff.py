"""Benchmark: the diff on a large model against a bare DuckDB full outer join.

Usage: uv run python bench/diff.py [--rows 10000000] [--changed-pct 1]

Prints rows/s of Syncline's diff (snapshot replay + hashing + classification, the work a run
does between extract and load) and of a bare DuckDB FULL OUTER JOIN of the same keys and
precomputed hashes, their ratio, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

import pyarrow as pa

from syncline.domain.mapping import FieldMapping
from syncline.engine.diff import Differ, open_duckdb
from syncline.engine.mapping import compile_mapping
from syncline.engine.snapshot import Segment, delta_table

COLUMNS = ["id", "email", "first_name", "revenue", "active", "updated_at"]


def _model_sql(rows: int, changed_every: int, version: int) -> str:
    # version 2 changes the revenue of every `changed_every`-th row.
    bump = f"CASE WHEN i % {changed_every} = 0 THEN {version} ELSE 0 END" if version else "0"
    return f"""SELECT i AS id, 'user' || i || '@example.com' AS email,
        'name' || (i % 5000) AS first_name, (i * 1.25 + {bump})::DOUBLE AS revenue,
        (i % 3 = 0) AS active, TIMESTAMP '2024-01-01' + to_seconds(i) AS updated_at
        FROM range({rows}) t(i)"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--changed-pct", type=float, default=1.0)
    args = ap.parse_args()
    changed_every = max(1, round(100 / args.changed_pct))
    mapping = compile_mapping(
        [FieldMapping(source_column=c, destination_field=c) for c in COLUMNS[1:]],
        primary_key="id",
        model_columns=COLUMNS,
    )
    with tempfile.TemporaryDirectory() as tmp:
        gen = open_duckdb(temp_dir=tmp, memory_limit="1GB")
        # Run 1's snapshot, as the engine would have committed it.
        d0 = Differ(open_duckdb(temp_dir=tmp, memory_limit="1GB"))
        d0.stage_model(
            gen.sql(_model_sql(args.rows, changed_every, 0)).to_arrow_reader(100_000),
            columns=COLUMNS,
        )
        d0.load_snapshot([])
        d0.classify(mapping, primary_key="id")
        snap_arrow = d0.con.sql("SELECT __pk, __hash FROM plan").to_arrow_table()
        base = delta_table(snap_arrow.column(0), snap_arrow.column(1), [])
        base = base.replace_schema_metadata({"hash_probe": d0.probe})
        d0.close()
        del snap_arrow

        # Run 2: the model with changed rows, streamed in as Arrow batches (extract, untimed).
        d = Differ(open_duckdb(temp_dir=tmp, memory_limit="1GB"))
        d.stage_model(
            gen.sql(_model_sql(args.rows, changed_every, 7)).to_arrow_reader(100_000),
            columns=COLUMNS,
        )
        t0 = time.perf_counter()
        d.load_snapshot([Segment(1, "base", base)])
        counts = d.classify(mapping, primary_key="id")
        diff_s = time.perf_counter() - t0

        # Bare baseline: the same keys and hashes, already materialised, one full outer join.
        d.con.execute(
            f"CREATE TABLE cur AS SELECT CAST(id AS VARCHAR) AS pk, {mapping.hash_sql} AS h "
            "FROM model"
        )
        t1 = time.perf_counter()
        bare = d.con.sql(
            """SELECT count(*) FILTER (WHERE s.pk IS NULL) AS added,
                      count(*) FILTER (WHERE c.pk IS NULL) AS removed,
                      count(*) FILTER (WHERE s.row_hash <> c.h) AS changed
               FROM cur c FULL OUTER JOIN snap s ON s.pk = c.pk"""
        ).fetchall()
        bare_s = time.perf_counter() - t1
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result = {
            "rows": args.rows,
            "changed_pct": args.changed_pct,
            "counts": counts.as_dict(),
            "bare_counts": bare[0],
            "diff_seconds": round(diff_s, 3),
            "diff_rows_per_s": round(args.rows / diff_s),
            "bare_join_seconds": round(bare_s, 3),
            "bare_rows_per_s": round(args.rows / bare_s),
            "ratio_vs_bare": round(bare_s / diff_s, 3),
            "peak_rss_mb": round(peak_mb),
            "arrow_pool_mb": round(pa.total_allocated_bytes() / 2**20),
        }
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
