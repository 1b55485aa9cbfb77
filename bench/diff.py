"""Benchmark: the diff on a large model against a bare DuckDB full outer join.

Usage: uv run python bench/diff.py [--rows 10000000] [--changed-pct 1]

A setup step writes the model (with ``changed-pct`` % of rows changed since the last run) and
the last run's snapshot to Parquet. A fresh child process then does what a run does between
extract and load — streams the model in (untimed, that is extract), loads the snapshot and
classifies every row (timed: hashing, duplicate/NULL key checks, the join) — and, in the same
process on the same keys and hashes, a bare DuckDB FULL OUTER JOIN. It prints both rates,
their ratio and the child's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from syncline.domain.mapping import FieldMapping
from syncline.engine.diff import Differ, open_duckdb
from syncline.engine.mapping import CompiledMapping, compile_mapping
from syncline.engine.snapshot import Segment, _from_parquet, delta_table

COLUMNS = ["id", "email", "first_name", "revenue", "active", "updated_at"]


def _mapping() -> CompiledMapping:
    return compile_mapping(
        [FieldMapping(source_column=c, destination_field=c) for c in COLUMNS[1:]],
        primary_key="id",
        model_columns=COLUMNS,
    )


def _model_sql(rows: int, changed_every: int, bump: int) -> str:
    change = f"CASE WHEN i % {changed_every} = 0 THEN {bump} ELSE 0 END"
    return f"""SELECT i AS id, 'user' || i || '@example.com' AS email,
        'name' || (i % 5000) AS first_name, (i * 1.25 + {change})::DOUBLE AS revenue,
        (i % 3 = 0) AS active, TIMESTAMP '2024-01-01' + to_seconds(i) AS updated_at
        FROM range({rows}) t(i)"""


def setup(tmp: Path, rows: int, changed_every: int) -> None:
    """Write model.parquet (this run) and snapshot.parquet (what the last run committed)."""
    con = open_duckdb(temp_dir=str(tmp))
    con.execute(f"COPY ({_model_sql(rows, changed_every, 7)}) TO '{tmp}/model.parquet'")
    d = Differ(open_duckdb(temp_dir=str(tmp)))
    d.stage_model(
        con.sql(_model_sql(rows, changed_every, 0)).to_arrow_reader(100_000), columns=COLUMNS
    )
    d.load_snapshot([])
    d.classify(_mapping(), primary_key="id")
    t = d.con.sql("SELECT __pk, __hash FROM plan").to_arrow_table()
    base = delta_table(t.column(0), t.column(1), []).replace_schema_metadata(
        {"hash_probe": d.probe}
    )
    pq.write_table(base, tmp / "snapshot.parquet", compression="zstd")
    d.close()
    con.close()


def _peak_rss_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def measure(tmp: str, rows: int, out: Any) -> None:
    """In a fresh process: the diff, then the bare join, and this process's peak RSS."""
    path = Path(tmp)
    d = Differ(open_duckdb(temp_dir=tmp))
    d.stage_model(pq.ParquetFile(path / "model.parquet").iter_batches(100_000), columns=COLUMNS)
    snapshot = Segment(1, "base", _from_parquet((path / "snapshot.parquet").read_bytes()))
    mapping = _mapping()
    t0 = time.perf_counter()
    d.load_snapshot([snapshot])
    t_snap = time.perf_counter() - t0
    counts = d.classify(mapping, primary_key="id")
    diff_s = time.perf_counter() - t0
    diff_peak_mb = _peak_rss_mb()
    d.con.execute(
        f"CREATE TABLE cur AS SELECT CAST(id AS VARCHAR) AS pk, {mapping.hash_sql} AS h FROM model"
    )
    d.con.execute("CREATE TABLE snap_copy AS SELECT pk, row_hash FROM snap")
    t1 = time.perf_counter()
    bare = d.con.execute(
        """SELECT count(*) FILTER (WHERE s.pk IS NULL), count(*) FILTER (WHERE c.pk IS NULL),
                  count(*) FILTER (WHERE s.row_hash <> c.h)
           FROM cur c FULL OUTER JOIN snap_copy s ON s.pk = c.pk"""
    ).fetchall()[0]
    bare_s = time.perf_counter() - t1
    out.put(
        {
            "rows": rows,
            "counts": counts.as_dict(),
            "bare_counts": {"added": bare[0], "removed": bare[1], "changed": bare[2]},
            "diff_seconds": round(diff_s, 3),
            "of_which_snapshot_load_seconds": round(t_snap, 3),
            "diff_rows_per_s": round(rows / diff_s),
            "bare_join_seconds": round(bare_s, 3),
            "bare_rows_per_s": round(rows / bare_s),
            "diff_speed_vs_bare": round(bare_s / diff_s, 3),
            "peak_rss_mb_after_diff": diff_peak_mb,
            "peak_rss_mb_after_bare_join": _peak_rss_mb(),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--changed-pct", type=float, default=1.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup(Path(tmp), args.rows, max(1, round(100 / args.changed_pct)))
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        p = ctx.Process(target=measure, args=(tmp, args.rows, q))
        p.start()
        result = q.get()
        p.join()
    result["changed_pct"] = args.changed_pct
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
