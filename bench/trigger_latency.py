"""Trigger to running on an idle worker: ``python -m bench.trigger_latency [--triggers N]``.

For each backend (the embedded pool on a SQLite store, a procrastinate worker on a PostgreSQL
store) one sync is triggered N times through the service the API calls; each time the worker
is idle (the previous run ended). Reported: from just before the trigger's transaction to the
run's ``started_at`` (stamped by the worker when it claims the run), median / p90 / p99 / max.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.data import scratch_db


def _measure(backend: str, database_url: str | None, data: Path, n: int) -> list[float]:
    from bench.scenarios.scheduler import _setup
    from syncline.bootstrap import make_executor
    from syncline.services.runs import trigger_run
    from syncline.store.tables import Sync, SyncRun

    os.environ["SYNCLINE_EXECUTION_BACKEND"] = backend
    ctx = _setup(database_url, data, 1) if database_url else _setup_sqlite(data)
    with ctx.sessions.begin() as s:
        sync = s.query(Sync).one()
        sync.trigger_mode = "manual"
        sync_id, ws = sync.id, sync.workspace_id
    executor = make_executor(ctx, workers=1)
    executor.start()
    out: list[float] = []
    try:
        time.sleep(1.0)  # idle: listening / waiting on its poll
        for _ in range(n):
            t0 = datetime.now(UTC)
            with ctx.sessions() as s:
                run, _ = trigger_run(
                    s, queue=ctx.queue, workspace_id=ws, sync_id=sync_id, triggered_by="bench"
                )
            run_id = run.id
            deadline = time.monotonic() + 30
            started = None
            while time.monotonic() < deadline:
                with ctx.sessions() as s:
                    stored = s.get(SyncRun, run_id)
                    assert stored is not None
                    if stored.started_at is not None:
                        started = stored.started_at
                    if stored.status in ("completed", "failed", "cancelled"):
                        break
                time.sleep(0.002)
            assert started is not None, f"run {run_id} never started"
            out.append((started.replace(tzinfo=started.tzinfo or UTC) - t0).total_seconds())
            time.sleep(0.7)  # let the job end (procrastinate frees the sync's lock) and go idle
    finally:
        executor.stop()
        ctx.dispose()
    return out


def _setup_sqlite(data: Path) -> Any:
    from bench.scenarios import scheduler

    return scheduler._setup(f"sqlite:///{data / 'syncline.db'}", data, 1)


def _summary(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    ms = lambda v: round(v * 1000, 1)  # noqa: E731
    return {
        "n": len(s),
        "median_ms": ms(statistics.median(s)),
        "p90_ms": ms(pick(0.9)),
        "p99_ms": ms(pick(0.99)),
        "max_ms": ms(s[-1]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--triggers", type=int, default=20)
    args = ap.parse_args()
    print("load average:", os.getloadavg())
    with tempfile.TemporaryDirectory() as d:
        emb = _measure("embedded", None, Path(d), args.triggers)
    print("embedded (SQLite store):", _summary(emb))
    with tempfile.TemporaryDirectory() as d, scratch_db("bench_latency") as meta:
        pro = _measure("procrastinate", meta, Path(d), args.triggers)
    print("procrastinate (PostgreSQL store):", _summary(pro))
    print("load average:", os.getloadavg())


if __name__ == "__main__":
    main()
