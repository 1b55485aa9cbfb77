"""Scenario 4: the diff at 10,000,000 rows, 1 % changed, against two ways of doing it.

Setup (untimed, ``bench/diff.py``'s) writes the model with 1 % of rows changed since the last
run and the last run's snapshot to Parquet, plus the per-row SHA1 fingerprints of the last
run for the fingerprint peer. Each contender then runs in a child process of its own:

* ``syncline``: the engine's ``Differ``: model staged (untimed, that is extract), then timed
  snapshot load + hashing + NULL/duplicate key checks + classification;
* ``duckdb-join``: the bare ``FULL OUTER JOIN`` of the same keys and hashes in DuckDB
  (hashes precomputed, untimed): the floor for a join-based diff;
* ``sha1``: what a fingerprinting tool does: every row serialised, SHA1-hashed in Python and
  looked up in a dict of last run's fingerprints (timed from the first row read; the share
  spent reading rows alone is measured separately as ``read_s``).

Each reports its counts (they must agree) and its peak RSS.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core import Attempt, alternate, peak_rss_mb, run_child, summarize, write_report

CONTENDERS = ["syncline", "duckdb-join", "sha1"]


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--changed-pct", type=float, default=1.0, help="diff: share of rows changed")


def _line_sql(source: str) -> str:
    from bench.diff import COLUMNS

    cols = ", ".join(f"coalesce(CAST({c} AS VARCHAR), '')" for c in COLUMNS[1:])
    return f"SELECT CAST(id AS VARCHAR) AS pk, concat_ws('|', {cols}) AS line FROM {source}"


def setup(tmp: Path, rows: int, changed_every: int) -> None:
    import duckdb

    from bench import diff as bench_diff

    bench_diff.setup(tmp, rows, changed_every)
    with duckdb.connect() as con:
        base = bench_diff._model_sql(rows, changed_every, 0)
        con.execute(
            f"COPY (SELECT pk, sha1(line) AS fp FROM ({_line_sql(f'({base})')})) "
            f"TO '{tmp}/fingerprints.parquet'"
        )


def child(kind: str, tmp: Path, rows: int) -> dict[str, Any]:
    import duckdb
    import pyarrow.parquet as pq

    from bench import diff as bench_diff

    if kind == "syncline":
        from syncline.engine.diff import Differ, open_duckdb
        from syncline.engine.snapshot import Segment, _from_parquet

        d = Differ(open_duckdb(temp_dir=str(tmp)))
        d.stage_model(
            pq.ParquetFile(tmp / "model.parquet").iter_batches(100_000), columns=bench_diff.COLUMNS
        )
        snapshot = Segment(1, "base", _from_parquet((tmp / "snapshot.parquet").read_bytes()))
        t0 = time.perf_counter()
        d.load_snapshot([snapshot])
        counts = d.classify(bench_diff._mapping(), primary_key="id").as_dict()
        seconds = time.perf_counter() - t0
        d.close()
        return {
            "seconds": seconds,
            "counts": {k: counts[k] for k in ("added", "removed", "changed")},
        }
    if kind == "duckdb-join":
        from syncline.engine.diff import open_duckdb

        con = open_duckdb(temp_dir=str(tmp))
        hash_sql = bench_diff._mapping().hash_sql
        con.execute(f"CREATE TABLE model AS SELECT * FROM '{tmp}/model.parquet'")
        con.execute(
            f"CREATE TABLE cur AS SELECT CAST(id AS VARCHAR) AS pk, {hash_sql} AS h FROM model"
        )
        con.execute(f"CREATE TABLE snap AS SELECT pk, row_hash FROM '{tmp}/snapshot.parquet'")
        t0 = time.perf_counter()
        added, removed, changed = con.execute(
            """SELECT count(*) FILTER (WHERE s.pk IS NULL), count(*) FILTER (WHERE c.pk IS NULL),
               count(*) FILTER (WHERE s.row_hash <> c.h)
               FROM cur c FULL OUTER JOIN snap s ON s.pk = c.pk"""
        ).fetchall()[0]
        seconds = time.perf_counter() - t0
        return {
            "seconds": seconds,
            "counts": {"added": added, "removed": removed, "changed": changed},
        }
    # sha1: fingerprints of the last run in a dict, every current row hashed in Python.
    fps = pq.read_table(tmp / "fingerprints.parquet")
    previous = dict(zip(fps.column("pk").to_pylist(), fps.column("fp").to_pylist(), strict=True))
    del fps
    con = duckdb.connect()
    query = _line_sql(f"'{tmp}/model.parquet'")
    t0 = time.perf_counter()
    for batch in con.sql(query).to_arrow_reader(100_000):
        batch.column(1).to_pylist()
    read_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    added = changed = seen = 0
    sha1 = hashlib.sha1
    for batch in con.sql(query).to_arrow_reader(100_000):
        for pk, line in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True):
            old = previous.get(pk)
            if old is None:
                added += 1
            else:
                seen += 1
                changed += old != sha1(line.encode()).hexdigest()
    seconds = time.perf_counter() - t0
    counts = {"added": added, "removed": len(previous) - seen, "changed": changed}
    return {"seconds": seconds, "read_s": round(read_s, 3), "counts": counts}


def run(args: argparse.Namespace, log: Callable[[str], None]) -> tuple[Path, Path]:
    rows: int = args.rows
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as name:
        tmp = Path(name)
        log(f"diff setup: {rows:,} rows")
        setup(tmp, rows, max(1, round(100 / args.changed_pct)))

        def contender(kind: str) -> Callable[[int], Attempt]:
            def go(_: int) -> Attempt:
                argv = [sys.executable, "-m", "bench.scenarios.diff", kind, str(tmp), str(rows)]
                out, wall, rss = run_child(argv)
                extra = {"counts": out["counts"], "wall_s": round(wall, 2)}
                if "read_s" in out:
                    extra["read_s"] = out["read_s"]
                return Attempt(out["seconds"], rows, None, rss, extra)

            return go

        results = alternate({k: contender(k) for k in CONTENDERS}, args.repeat, log=log)
    summary = {n: summarize(a) for n, a in results.items()}
    counts = {n: a[-1].extra["counts"] for n, a in results.items()}
    agree = len({json.dumps(c, sort_keys=True) for c in counts.values()}) == 1
    section = {
        "contenders": summary,
        "ours": "syncline",
        "table": [{"contender": n, **c} for n, c in counts.items()],
    }
    notes = [
        f"counts agree across contenders: {agree}",
        "seconds: syncline = snapshot load + classify (model staged untimed); duckdb-join = the "
        "join alone; sha1 = hashing + lookups incl. reading rows (read_s = reading alone)",
        "peak RSS: each child's VmHWM (the whole process, setup of its inputs included)",
    ]
    params = {"rows": rows, "changed_pct": args.changed_pct, "repeat": args.repeat}
    return write_report("diff", params, {"diff": section}, notes=notes)


def main() -> None:
    kind, tmp, rows = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    out = child(kind, tmp, rows)
    print(json.dumps({**out, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
