"""Benchmark: load lanes off and on, same code, against the bare COPY (issue 16).

Usage: uv run python -m bench.lanes_ab [--rows 1000000] [--repeat 2]

The engine alone (``bench.child engine``, a fresh child per attempt) runs an initial load of
one model into an empty table with ``config.load_parallelism`` 1 and 2
(``SYNCLINE_BENCH_LOAD_PARALLELISM``), alternating with a bare COPY of the same rows
(``bench.child copy``), in one scratch database; prints each attempt and the medians, minima
and ratios as JSON. The table is recreated (and checkpointed) before every attempt.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.core import child_env
from bench.data import build_model, create_table, scratch_db

CONTENDERS = ("lanes1", "copy", "lanes2")


def _attempt(name: str, model: Path, data: Path, dsn: str) -> float:
    env = child_env()
    argv = [sys.executable, "-m", "bench.child"]
    if name == "copy":
        argv += ["copy", "--model", str(model), "--dsn", dsn, "--table", "people"]
    else:
        env["SYNCLINE_BENCH_LOAD_PARALLELISM"] = name[-1]
        shutil.rmtree(data, ignore_errors=True)
        argv += ["engine", "--data", str(data), "--model", str(model)]
        argv += ["--dsn", dsn, "--table", "people"]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)
    times: dict[str, list[float]] = {n: [] for n in CONTENDERS}
    with tempfile.TemporaryDirectory() as tmp, scratch_db("syncline_lanes_ab") as dsn:
        model = Path(tmp) / "model.duckdb"
        build_model(model, args.rows)
        for r in range(args.repeat):
            order = CONTENDERS if r % 2 == 0 else tuple(reversed(CONTENDERS))
            for name in order:
                create_table(dsn, "people")
                seconds = _attempt(name, model, Path(tmp) / "data", dsn)
                times[name].append(seconds)
                load = " ".join(f"{x:.2f}" for x in os.getloadavg())
                print(f"round {r + 1} {name}: {seconds:.3f} s (load {load})", flush=True)
    med = {n: statistics.median(v) for n, v in times.items()}
    report = {
        "rows": args.rows,
        "median_s": med,
        "min_s": {n: min(v) for n, v in times.items()},
        "one_lane_share_of_copy_rate": med["copy"] / med["lanes1"],
        "two_lanes_share_of_copy_rate": med["copy"] / med["lanes2"],
        "two_lanes_speedup": med["lanes1"] / med["lanes2"],
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
