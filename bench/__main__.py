"""``python -m bench SCENARIO [options]``; ``python -m bench all`` runs every scenario at its
documented default size (what ``make bench`` does). See docs/benchmarks.md."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

SCENARIOS = ["initial", "unchanged", "changed", "diff", "http", "api", "scheduler"]
DEFAULT_ROWS = {
    "initial": 1_000_000,
    "unchanged": 1_000_000,
    "changed": 1_000_000,
    "diff": 10_000_000,
    "http": 20_000,
    "api": 0,
    "scheduler": 0,
}


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def parser() -> argparse.ArgumentParser:
    from bench.scenarios import api, diff, http, load, scheduler

    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("scenario", choices=[*SCENARIOS, "all"])
    ap.add_argument("--rows", type=int, help="model rows (default: the scenario's own)")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each contender")
    ap.add_argument("--check", action="store_true", help="compare destinations in 1 and 2 too")
    for module in (load, diff, http, api, scheduler):
        module.add_args(ap)
    return ap


def run(scenario: str, args: argparse.Namespace) -> tuple[Path, Path]:
    from bench.scenarios import api, diff, http, load, scheduler

    args.rows = args.rows or DEFAULT_ROWS[scenario]
    runners: dict[str, Callable[[argparse.Namespace, Callable[[str], None]], tuple[Path, Path]]]
    runners = {"diff": diff.run, "http": http.run, "api": api.run, "scheduler": scheduler.run}
    if scenario in runners:
        return runners[scenario](args, _log)
    return load.run(scenario, args, _log)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    rows = args.rows
    for scenario in SCENARIOS if args.scenario == "all" else [args.scenario]:
        args.rows = rows
        _log(f"scenario {scenario}")
        md, _ = run(scenario, args)
        print(md.read_text())
        print(f"report: {md} (+ .json)")


if __name__ == "__main__":
    main()
