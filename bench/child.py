"""Timed work that runs in a child process of its own: ``python -m bench.child KIND ...``.

* ``engine``: one Syncline run through the engine alone (no API, no queue) on an embedded
  store in ``--data`` (or the migrated ``--database-url``, which several children may share);
  the first call creates the sync, later calls run it again.
* ``copy``: the physical limit, the same rows read from DuckDB and COPYed into the table in
  50,000-row transactions, rendered by the PostgreSQL destination's own CSV code.

Each prints one JSON line with ``seconds`` (the timed part) and ``peak_rss_mb``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.core import peak_rss_mb
from bench.data import COLUMNS


def engine(
    data: Path,
    model: Path,
    destination: tuple[str, dict[str, Any]],
    mapping: list[tuple[str, str]],
    mode: str,
    sync_mode: str,
    table: str = "people",
    database_url: str | None = None,
) -> dict[str, Any]:
    from syncline.bootstrap import build_context
    from syncline.execution.engine_env import run_engine
    from syncline.runs.lifecycle import claim_run, finish_run
    from syncline.settings import Settings
    from syncline.store.db import upgrade
    from syncline.store.tables import Destination, Model, Source, Sync, SyncRun, Workspace

    settings = Settings(data_dir=data, database_url=database_url)
    marker = data / "sync_id"
    if not marker.exists():
        data.mkdir(parents=True, exist_ok=True)
        if database_url is None:  # a shared store is migrated once, by the parent
            upgrade(settings.resolved_database_url())
    ctx = build_context(settings)
    try:
        with ctx.sessions.begin() as s:
            if marker.exists():
                sync = s.get(Sync, marker.read_text())
                assert sync is not None
            else:
                ws = Workspace(name="bench")
                s.add(ws)
                s.flush()
                src = Source(
                    workspace_id=ws.id,
                    name="wh",
                    type="duckdb",
                    config=ctx.secrets.encrypt_config({"path": str(model)}),
                )
                dst = Destination(
                    workspace_id=ws.id,
                    name="dest",
                    type=destination[0],
                    config=ctx.secrets.encrypt_config(destination[1]),
                )
                s.add_all([src, dst])
                s.flush()
                m = Model(
                    workspace_id=ws.id,
                    source_id=src.id,
                    name="people",
                    sql=f"SELECT * FROM {table}",
                    primary_key="id",
                )
                s.add(m)
                s.flush()
                sync = Sync(
                    workspace_id=ws.id,
                    model_id=m.id,
                    destination_id=dst.id,
                    name="bench",
                    sync_mode=sync_mode,
                    primary_key="id",
                    field_mapping=[
                        {"source_column": a, "destination_field": b} for a, b in mapping
                    ],
                    config={"allow_mass_delete": True, **_lanes()},
                )
                s.add(sync)
                s.flush()
                marker.write_text(sync.id)
            run = SyncRun(sync_id=sync.id, workspace_id=sync.workspace_id, run_mode=mode)
            s.add(run)
            s.flush()
            run_id = run.id
        assert claim_run(ctx.sessions, run_id, executor_id="bench")
        started, t0 = time.time(), time.perf_counter()
        outcome = run_engine(ctx, run_id)
        seconds = time.perf_counter() - t0
        finish_run(ctx.sessions, run_id, outcome, executor_id="bench")
    finally:
        ctx.dispose()
    if outcome.status.value != "completed":
        raise SystemExit(f"run ended {outcome.status}: {outcome.error_message}")
    return {
        "seconds": seconds,
        "sent": outcome.rows_synced,
        "rows_failed": outcome.rows_failed,
        "started": started,
        "ended": started + seconds,
    }


def _lanes() -> dict[str, int]:
    """``SYNCLINE_BENCH_LOAD_PARALLELISM`` as the sync's ``config.load_parallelism`` (an A/B
    of load lanes in one session); unset: the destination's default."""
    value = os.environ.get("SYNCLINE_BENCH_LOAD_PARALLELISM")
    return {"load_parallelism": int(value)} if value else {}


def copy(model: Path, dsn: str, table: str) -> dict[str, Any]:
    import duckdb
    import psycopg
    import pyarrow as pa
    from psycopg import sql

    from syncline.connectors.destinations.postgres.types import copyable, csv_chunks

    t0 = time.perf_counter()
    with duckdb.connect(str(model), read_only=True) as con, psycopg.connect(dsn) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        reader = con.sql("SELECT * FROM people").to_arrow_reader(50_000)
        rows = 0
        stmt = sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(sql.Identifier(table))
        for batch in reader:
            with conn.transaction(), conn.cursor() as cur, cur.copy(stmt) as out:
                rendered = pa.table({c: copyable(batch.column(c)) for c in batch.schema.names})
                for chunk in csv_chunks(rendered):
                    out.write(chunk)
            rows += batch.num_rows
    return {"seconds": time.perf_counter() - t0, "sent": rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["engine", "copy"])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--dsn", help="PostgreSQL destination (with --table)")
    ap.add_argument("--table")
    ap.add_argument("--dest", help="another destination: TYPE=CONFIG_JSON")
    ap.add_argument("--fields", help="model_column:destination_field,... (default: the 12)")
    ap.add_argument("--model-table", default="people")
    ap.add_argument("--mode", default="incremental")
    ap.add_argument("--sync-mode", default="mirror")
    ap.add_argument("--database-url", help="a shared metadata store (migrated) instead of SQLite")
    a = ap.parse_args()
    if a.kind == "engine":
        if a.dest:
            kind, _, config = a.dest.partition("=")
            dest: tuple[str, dict[str, Any]] = (kind, json.loads(config))
        else:
            dest = ("postgres", {"dsn": a.dsn, "table": a.table})
        fields = (
            [(f.split(":")[0], f.split(":")[-1]) for f in a.fields.split(",")] if a.fields else None
        )
        mapping = fields or [(c, c) for c in COLUMNS]
        out = engine(
            a.data,
            a.model,
            dest,
            mapping,
            a.mode,
            a.sync_mode,
            a.model_table,
            a.database_url,
        )
    else:
        out = copy(a.model, a.dsn, a.table)
    print(json.dumps({**out, "peak_rss_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main()
