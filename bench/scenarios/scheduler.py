"""Scenario 7: the scheduler at 1,000 and 10,000 cron syncs (``* * * * *``).

Each size gets a fresh PostgreSQL metadata store with N active scheduled syncs whose first
slot is the next minute boundary. ``--scheduler-clock real`` (the benchmark) starts a real
``syncline scheduler`` process for ``--slots`` minutes; ``fake`` (the smoke test) calls the
tick in this process once per slot with the slot as its clock. Between slots a sink marks
the created runs completed at once (an infinitely fast worker pool), so every slot is due
for every sync. Reported per slot: runs created, fire lag (created_at - slot; in fake mode
from the tick's call) p50/p99/max, syncs fired twice (doubled) and not at all (skipped).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from bench.core import write_report
from bench.data import scratch_db
from bench.product import SYNCLINE


def add_args(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--scheduler-syncs", default="1000,10000", help="scheduler: sizes")
    ap.add_argument("--slots", type=int, default=3, help="scheduler: minute slots to watch")
    ap.add_argument("--scheduler-clock", choices=["real", "fake"], default="real")
    ap.add_argument(
        "--scheduler-grace",
        type=float,
        default=180.0,
        help="scheduler: s to wait past the last slot",
    )


def _setup(meta: str, data: Path, n: int) -> Any:
    from syncline.bootstrap import build_context
    from syncline.settings import Settings
    from syncline.store.db import upgrade
    from syncline.store.tables import Destination, Model, Source, Sync, Workspace

    settings = Settings(data_dir=data, database_url=_sa(meta), secret_key="bench-secret")
    upgrade(settings.resolved_database_url())
    ctx = build_context(settings)
    with ctx.sessions.begin() as s:
        ws = Workspace(name="bench")
        s.add(ws)
        s.flush()
        src = Source(
            workspace_id=ws.id,
            name="wh",
            type="duckdb",
            config=ctx.secrets.encrypt_config({"path": str(data / "wh.duckdb")}),
        )
        dst = Destination(
            workspace_id=ws.id,
            name="d",
            type="file",
            config=ctx.secrets.encrypt_config({"path": str(data / "out")}),
        )
        s.add_all([src, dst])
        s.flush()
        model = Model(
            workspace_id=ws.id, source_id=src.id, name="m", sql="SELECT 1 AS id", primary_key="id"
        )
        s.add(model)
        s.flush()
        mapping = [{"source_column": "id", "destination_field": "id"}]
        template = Sync(
            workspace_id=ws.id,
            model_id=model.id,
            destination_id=dst.id,
            name="s0",
            sync_mode="upsert",
            primary_key="id",
            field_mapping=mapping,
            schedule="* * * * *",
            trigger_mode="scheduled",
            status="active",
        )
        s.add(template)
        s.flush()
        # The other n - 1 syncs are copies made server-side (100,000 ORM objects take minutes).
        cols = [c.name for c in Sync.__table__.columns if c.name not in ("id", "name")]
        listed = ", ".join(cols)
        if n > 1:
            s.execute(
                sa.text(
                    f"INSERT INTO syncs (id, name, {listed}) "
                    f"SELECT gen_random_uuid()::text, 's' || g, {listed} "
                    "FROM syncs, generate_series(1, :extra) AS g WHERE syncs.id = :template"
                ),
                {"extra": n - 1, "template": template.id},
            )
    return ctx


def _sa(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://")


def _sink(meta: str, seen: dict[str, float]) -> None:
    """Complete pending runs at once (every slot finds each sync idle); note when each run
    became visible, i.e. when the tick that created it committed."""
    with psycopg.connect(meta, autocommit=True) as conn:
        done = conn.execute(
            "UPDATE sync_runs SET status = 'completed', completed_at = now() "
            "WHERE status = 'pending' RETURNING id"
        ).fetchall()
    now = time.time()
    for (run_id,) in done:
        seen.setdefault(str(run_id), now)


def _measure(
    meta: str, n: int, slots: list[datetime], calls: dict[datetime, float], seen: dict[str, float]
) -> list[dict[str, Any]]:
    with psycopg.connect(meta) as conn:
        runs = conn.execute(
            "SELECT sync_id, trigger_ref, created_at, id FROM sync_runs "
            "WHERE triggered_by = 'schedule'"
        ).fetchall()
    out = []
    for slot in slots:
        ref = f"schedule:{slot.isoformat()}"
        mine = [(s, c) for s, r, c, _ in runs if r == ref]
        zero = calls.get(slot, slot.timestamp())
        visible = sorted(seen[str(i)] - zero for _, r, _, i in runs if r == ref and str(i) in seen)
        origin = calls.get(slot)
        lags = sorted(
            (c - slot).total_seconds() if origin is None else c.timestamp() - origin
            for _, c in mine
        )
        fired = {s for s, _ in mine}
        out.append(
            {
                "syncs": n,
                "slot": slot.strftime("%H:%M"),
                "runs": len(mine),
                "lag_p50_s": round(statistics.median(lags), 3) if lags else None,
                "lag_p99_s": _pct(lags, 0.99),
                "lag_max_s": round(lags[-1], 3) if lags else None,
                "visible_p50_s": _pct(visible, 0.5),
                "visible_p99_s": _pct(visible, 0.99),
                "doubled": len(mine) - len(fired),
                "skipped": n - len(fired),
            }
        )
    return out


def _fired(meta: str, ref: str) -> int:
    with psycopg.connect(meta) as conn:
        row = conn.execute("SELECT count(*) FROM sync_runs WHERE trigger_ref = %s", [ref])
        return int((row.fetchone() or (0,))[0])


def _pct(ordered: list[float], q: float) -> float | None:
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3) if ordered else None


def run(args: argparse.Namespace, log: Callable[[str], None]) -> tuple[Path, Path]:
    rows: list[dict[str, Any]] = []
    for n in [int(x) for x in args.scheduler_syncs.split(",") if x]:
        with (
            tempfile.TemporaryDirectory(prefix="bench-sched-") as name,
            scratch_db("bench_sched") as meta,
        ):
            log(f"scheduler: {n} syncs")
            ctx = _setup(meta, Path(name), n)
            now = datetime.now(UTC).replace(second=0, microsecond=0)
            first = now + timedelta(minutes=1 if datetime.now(UTC).second < 40 else 2)
            with psycopg.connect(meta, autocommit=True) as conn:
                conn.execute("UPDATE syncs SET next_run_at = %s", [first])
            slots = [first + timedelta(minutes=k) for k in range(args.slots)]
            calls: dict[datetime, float] = {}
            seen: dict[str, float] = {}
            if args.scheduler_clock == "fake":
                from syncline.scheduler.tick import tick

                for slot in slots:
                    calls[slot] = time.time()
                    tick(ctx, now=slot + timedelta(milliseconds=1))
                    _sink(meta, seen)
            else:
                _real(meta, Path(name), slots, seen, n, args.scheduler_grace, log)
            ctx.dispose()
            rows += _measure(meta, n, slots, calls, seen)
    params = {
        "sizes": args.scheduler_syncs,
        "slots": args.slots,
        "clock": args.scheduler_clock,
        "cron": "* * * * *",
    }
    notes = [
        "fired runs are completed at once by the benchmark (no worker), so a skipped "
        "slot is the scheduler's, not a busy sync's",
        "lag: real clock = created_at - slot; fake clock = created_at - the tick's call; "
        "visible = when the run was first seen committed (polled every 0.5 s) - slot",
        "a slot that has not fired when the watch ends (grace past the last slot) is skipped",
    ]
    return write_report("scheduler", params, {"scheduler": {"table": rows}}, notes=notes)


def _real(
    meta: str,
    data: Path,
    slots: list[datetime],
    seen: dict[str, float],
    n: int,
    grace: float,
    log: Callable[[str], None],
) -> None:
    """Run a scheduler until the last slot has fired for every sync, or ``grace`` s past it."""
    env = {
        **os.environ,
        "SYNCLINE_DATABASE_URL": _sa(meta),
        "SYNCLINE_DATA_DIR": str(data),
        "SYNCLINE_SECRET_KEY": "bench-secret",
        "SYNCLINE_TOKEN_PEPPER": "bench-pepper",
    }
    with open(data / "scheduler.log", "ab") as logf:
        proc = subprocess.Popen(
            [SYNCLINE, "scheduler"], env=env, stdout=logf, stderr=subprocess.STDOUT
        )
    stop = threading.Event()

    def sink() -> None:
        while not stop.wait(0.5):
            _sink(meta, seen)

    thread = threading.Thread(target=sink, daemon=True)
    thread.start()
    end = slots[-1] + timedelta(seconds=grace)
    last = f"schedule:{slots[-1].isoformat()}"
    log(f"scheduler: watching until every sync fired {slots[-1]:%H:%M} or {end:%H:%M:%S} UTC")
    try:
        while datetime.now(UTC) < end and proc.poll() is None and _fired(meta, last) < n:
            time.sleep(1)
    finally:
        stop.set()
        thread.join()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
