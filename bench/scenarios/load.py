"""Scenarios 1-3: initial load, unchanged re-run, 1 % changed mirror (DuckDB -> PostgreSQL).

* ``initial``: every round each contender starts from an empty table and fresh state.
* ``unchanged``: each contender loads once (untimed), then every round re-runs on the same
  model; ``sent`` shows what it re-sent.
* ``changed``: each contender loads once (untimed); every round first changes the model
  (1 % updated, 0.2 % inserted, 0.1 % deleted), then each contender syncs it and its table is
  compared with the model row by row (``missing``/``extra``/``different``).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.core import Attempt, alternate, summarize, write_report
from bench.data import apply_changes, build_model, change_counts, compare, model_count, scratch_db
from bench.product import Server
from bench.scenarios.contenders import Contender, Copy, Dlt, Drt, Engine, Product, ProductFull

DEFAULTS = {
    "initial": ["syncline", "syncline-engine", "copy", "dlt", "drt"],
    "unchanged": ["syncline", "syncline-engine", "dlt", "drt"],
    "changed": ["syncline", "syncline-full", "syncline-engine", "dlt", "drt"],
}


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--contenders", help="comma-separated subset of the scenario's contenders")
    ap.add_argument(
        "--store",
        choices=["embedded", "postgres"],
        default="embedded",
        help="metadata store of the product-path server",
    )


def _make(
    name: str, server: Server | None, work: Path, model: Path, dsn: str, rows: int
) -> Contender:
    simple = {"copy": Copy, "syncline-engine": Engine, "dlt": Dlt, "drt": Drt}
    if name in simple:
        return simple[name](name, work, model, dsn, rows)
    assert server is not None
    if name == "syncline":
        return Product(server, name, work, model, dsn, rows)
    if name == "syncline-full":
        return ProductFull(server, name, work, model, dsn, rows)
    raise SystemExit(f"unknown contender {name!r}")


def run(scenario: str, args: argparse.Namespace, log: Callable[[str], None]) -> tuple[Path, Path]:
    names = args.contenders.split(",") if args.contenders else DEFAULTS[scenario]
    rows: int = args.rows
    with tempfile.TemporaryDirectory(prefix=f"bench-{scenario}-") as tmp, scratch_db() as dsn:
        work, model = Path(tmp), Path(tmp) / "model.duckdb"
        build_model(model, rows)
        server = None
        if any(n.startswith("syncline") and n != "syncline-engine" for n in names):
            store = None
            if args.store == "postgres":
                store = dsn.rsplit("/", 1)[0] + "/" + dsn.rsplit("/", 1)[1] + "_meta"
                _create(store)
            server = Server(work / "server", store_url=store)
        try:
            contenders = {n: _make(n, server, work, model, dsn, rows) for n in names}
            checks: dict[str, list[dict[str, int]]] = {n: [] for n in names}
            for c in contenders.values():
                c.reset()
                if scenario != "initial":
                    log(f"setup: initial load of {c.name}")
                    c.run()

            def attempt(c: Contender) -> Callable[[int], Attempt]:
                def go(_: int) -> Attempt:
                    if scenario == "initial":
                        c.reset()
                    result = c.run()
                    result.rows = model_count(model)
                    if scenario == "changed" or args.check:
                        checks[c.name].append(compare(model, dsn, c.table))
                        result.extra["check"] = checks[c.name][-1]
                    return result

                return go

            def between(r: int) -> None:
                if scenario == "changed":
                    log(f"round {r + 1}: {apply_changes(model, rows, r + 1)}")

            results = alternate(
                {n: attempt(c) for n, c in contenders.items()},
                args.repeat,
                between=between,
                log=log,
            )
        finally:
            if server is not None:
                server.stop()
            if args.store == "postgres" and server is not None:
                _drop(store or "")
    summary = {n: summarize(a) for n, a in results.items()}
    params: dict[str, Any] = {
        "rows": rows,
        "columns": 12,
        "repeat": args.repeat,
        "store": args.store,
    }
    if scenario == "changed":
        params["changes_per_round"] = change_counts(rows)
    notes = _notes(scenario)
    section: dict[str, Any] = {"contenders": summary, "ours": "syncline"}
    if any(checks.values()):
        section["table"] = [
            {
                "contender": n,
                **{k: sum(c[k] for c in cs) for k in ("missing", "extra", "different")},
            }
            for n, cs in checks.items()
        ]
    return write_report(scenario, params, {scenario: section}, notes=notes)


def _notes(scenario: str) -> list[str]:
    return [
        "seconds: syncline = trigger request to completed seen by polling (server running); "
        "syncline-engine = execute_run in a child process; copy = read + COPY; "
        "dlt = pipeline.run inside its process (import time excluded, see wall_s); "
        "drt = the `drt run` CLI end to end (its start-up included)",
        "peak RSS: the child's VmHWM; for syncline the server's VmHWM since the trigger",
        "the check table sums, over all rounds, rows missing from / extra in / different in "
        "the destination versus the model",
    ]


def _create(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop(url: str) -> None:
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
