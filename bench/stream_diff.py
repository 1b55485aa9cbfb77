"""Benchmark: the streamed diff against staging the whole model, on one unchanged re-run.

Usage: uv run python -m bench.stream_diff [--rows 1000000] [--repeat 3] [--changed-pct 0]

Builds the bench model (``bench.data.build_model``, 12 columns) and the snapshot its first
run leaves (a file segment), then alternates, each in the same process: *staged* (what runs
did before: stream the model into a DuckDB table, load the snapshot, classify with the full
outer join) and *streamed* (``engine/stream.py``: peek the first batch, load the snapshot,
hash and join the model as it streams, classify what was kept). Both read the model from the
DuckDB file through a cursor, as the DuckDB source does, and the snapshot through the store.
``--kinds staged`` with ``PYTHONPATH`` at an older tree measures that tree. It prints wall
and CPU seconds (all threads) per attempt and their medians; on a shared
machine read the CPU figures and the ratios. With ``--changed-pct`` that share of rows gets a
new ``score`` after the snapshot is taken.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from bench.data import COLUMNS, build_model
from syncline.domain.mapping import FieldMapping
from syncline.engine.diff import Differ, open_duckdb
from syncline.engine.mapping import CompiledMapping, compile_mapping
from syncline.engine.snapshot import FileSnapshotStore, delta_table

SYNC = "bench-sync"


def _mapping() -> CompiledMapping:
    return compile_mapping(
        [FieldMapping(source_column=c, destination_field=c) for c in COLUMNS],
        primary_key="id",
        model_columns=COLUMNS,
    )


def _batches(model: Path) -> Iterator[pa.RecordBatch]:
    with duckdb.connect(str(model), read_only=True) as con:
        yield from con.sql("SELECT * FROM people").to_arrow_reader(50_000)


def _snapshot(model: Path, store: FileSnapshotStore, work: Path) -> None:
    d = Differ(open_duckdb(temp_dir=str(work)))
    d.stage_model(_batches(model), columns=COLUMNS)
    d.load_snapshot([])
    d.classify(_mapping(), primary_key="id")
    got = d.con.sql("SELECT __pk, __hash FROM plan WHERE __class = 'added'").to_arrow_table()
    delta = delta_table(got.column(0).to_pylist(), got.column(1), [])
    store.append(SYNC, "delta", delta.replace_schema_metadata({"hash_probe": d.probe}), run_id=None)
    d.close()


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def attempt(kind: str, model: Path, store: FileSnapshotStore, work: Path) -> dict[str, Any]:
    mapping = _mapping()
    t0, c0 = time.perf_counter(), _cpu()
    d = Differ(open_duckdb(temp_dir=str(work)))
    batches = _batches(model)
    if kind == "staged":
        d.stage_model(batches, columns=COLUMNS)
        d.load_snapshot(store.segments(SYNC))
    else:
        from syncline.engine.stream import stream_model  # absent before the streamed diff

        first = next(batches)
        d.load_snapshot(store.segments(SYNC))
        stream_model(d, first, batches, mapping, primary_key="id")
    counts = d.classify(mapping, primary_key="id")
    out = {"kind": kind, "seconds": time.perf_counter() - t0, "cpu": _cpu() - c0}
    out["unchanged"], out["changed"] = counts.unchanged, counts.changed
    d.close()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--changed-pct", type=float, default=0.0)
    ap.add_argument("--kinds", default="staged,streamed", help="run only some (before: staged)")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stream-diff-") as tmp:
        root = Path(tmp)
        model, store, work = root / "model.duckdb", FileSnapshotStore(root / "snap"), root / "w"
        work.mkdir()
        build_model(model, a.rows)
        _snapshot(model, store, work)
        if a.changed_pct:
            with duckdb.connect(str(model)) as con:
                n = int(a.rows * a.changed_pct / 100)
                con.execute(f"UPDATE people SET score = score + 1 WHERE id <= {n}")
        kinds = a.kinds.split(",")
        results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
        for _ in range(a.repeat):
            for kind in kinds:
                r = attempt(kind, model, store, work)
                results[kind].append(r)
                print(json.dumps(r))
        summary: dict[str, Any] = {
            kind: {
                "median_s": round(statistics.median(r["seconds"] for r in rs), 3),
                "median_cpu_s": round(statistics.median(r["cpu"] for r in rs), 3),
                "classes": sorted({(r["unchanged"], r["changed"]) for r in rs}),
            }
            for kind, rs in results.items()
        }
        out = {"rows": a.rows, "changed_pct": a.changed_pct, **summary}
        print(json.dumps(out))
        return out


if __name__ == "__main__":
    main()
