"""Chaos check of a distributed deployment: workers killed at random during 100+ runs.

Starts, against a fresh PostgreSQL metadata store: one API process (`serve --no-workers`),
two `syncline scheduler` and several `syncline worker` processes, each with its own data
directory (they share nothing but the database). A PostgreSQL warehouse feeds syncs of every
kind (upsert, insert, mirror, fan-out, cron-scheduled) into a PostgreSQL destination.

Then, for the whole run: the warehouse changes between runs, runs are triggered through the
API, a random worker is SIGKILLed every few seconds and replaced, some running runs are
cancelled and retried through the API. At the end every sync gets one calm run and the check
verifies:

* every destination table equals its model (no record lost), insert tables hold each key once
  (no record applied twice), and nothing is left pending or running;
* every run killed with its worker ended `heartbeat_timeout` and was resumed by a linked attempt;
* cancelled runs ended `cancelled` and their API retries are linked attempts;
* cron syncs (`* * * * *`) fired once per minute slot, and how late.

    uv run python bench/chaos.py --runs 120 --workers 3 --kill-every 5

Prints a JSON report; exits 1 if a check failed. docs/operations.md quotes a run of it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

SYNCLINE = str(Path(sys.executable).parent / "syncline")
SERVER = os.environ.get("CHAOS_PG", "postgresql://postgres@127.0.0.1:5432")


@dataclass
class SyncCase:
    name: str
    mode: str
    rows: int
    fan_out: bool = False
    cron: bool = False
    id: str = ""


@dataclass
class Deployment:
    work: Path
    env: dict[str, str]
    port: int
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    n: int = 0

    def spawn(self, name: str, *args: str) -> None:
        data = self.work / f"data-{name}"
        env = {**self.env, "SYNCLINE_DATA_DIR": str(data)}
        with open(self.work / f"{name}.log", "ab") as log:
            self.procs[name] = subprocess.Popen(
                [SYNCLINE, *args], env=env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()


def _create_db(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return name


def _drop_db(name: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cases(n_syncs: int, cron: int) -> list[SyncCase]:
    kinds = [("upsert", False), ("insert", False), ("mirror", False), ("upsert", True)]
    cases = []
    for i in range(n_syncs):
        mode, fan = kinds[i % len(kinds)]
        cases.append(SyncCase(f"t{i}", mode, 20_000 + 5_000 * (i % 5), fan_out=fan))
    for i in range(cron):
        cases.append(SyncCase(f"cron{i}", "upsert", 2_000, cron=True))
    return cases


def _mutate(wh: str, case: SyncCase, rng: random.Random) -> None:
    """Change the model between runs: updates, inserts and (for mirror) deletes."""
    with psycopg.connect(wh, autocommit=True) as conn:
        conn.execute(
            f"UPDATE {case.name} SET v = v || '+' WHERE id %% 97 = %s", [rng.randrange(97)]
        )
        (top,) = conn.execute(f"SELECT coalesce(max(id), 0) FROM {case.name}").fetchone() or (0,)
        conn.execute(
            f"INSERT INTO {case.name} SELECT i, 'v' || i "
            "FROM generate_series(%s::bigint, %s::bigint) i",
            [top + 1, top + rng.randrange(50, 500)],
        )
        if case.mode == "mirror":
            conn.execute(f"DELETE FROM {case.name} WHERE id %% 211 = %s", [rng.randrange(211)])


class Api:
    def __init__(self, port: int, ws: str, token: str) -> None:
        self.base = f"http://127.0.0.1:{port}/api/v1/workspaces/{ws}"
        self.http = httpx.Client(
            headers={"Authorization": f"Bearer {token}", "X-Workspace-ID": ws}, timeout=30
        )

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(self.base + path, json=body)

    def create(self, path: str, body: dict[str, Any]) -> str:
        r = self.post(path, body)
        if r.status_code != 201:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text}")
        return str(r.json()["id"])


def _runs(meta: str) -> list[dict[str, Any]]:
    with psycopg.connect(meta) as conn:
        cur = conn.execute(
            "SELECT r.id, r.sync_id, s.name, r.status, r.result_reason_code, r.triggered_by,"
            " r.trigger_ref, r.created_at, r.next_attempt_run_id, r.previous_attempt_run_id,"
            " r.rows_synced, r.cancel_requested_at FROM sync_runs r JOIN syncs s"
            " ON s.id = r.sync_id ORDER BY r.created_at"
        )
        cols = [d.name for d in cur.description or []]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def _wait_idle(meta: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(r["status"] not in ("pending", "running") for r in _runs(meta)):
            return True
        time.sleep(1)
    return False


def run_chaos(
    *,
    runs: int,
    workers: int,
    schedulers: int,
    kill_every: float,
    n_syncs: int,
    cron_syncs: int,
    min_minutes: float,
    seed: int,
) -> dict[str, Any]:
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="syncline-chaos-"))
    meta_db, wh_db, dest_db = (
        _create_db("chaos_meta"),
        _create_db("chaos_wh"),
        _create_db("chaos_dest"),
    )
    meta, wh, dest = f"{SERVER}/{meta_db}", f"{SERVER}/{wh_db}", f"{SERVER}/{dest_db}"
    env = {
        **os.environ,
        "SYNCLINE_DATABASE_URL": meta.replace("postgresql://", "postgresql+psycopg://"),
        "SYNCLINE_SECRET_KEY": "chaos-secret",
        "SYNCLINE_TOKEN_PEPPER": "chaos-pepper",  # shared by every process, like the key
        "SYNCLINE_HEARTBEAT_INTERVAL": "1",
        "SYNCLINE_HEARTBEAT_TIMEOUT": "6",
        "SYNCLINE_SCHEDULER_INTERVAL": "1",
        "SYNCLINE_BATCH_ROWS": "2000",
    }
    dep = Deployment(work, env, _free_port())
    report: dict[str, Any] = {"work_dir": str(work), "seed": seed}
    problems: list[str] = []
    started = datetime.now(UTC)
    try:
        subprocess.run([SYNCLINE, "db", "upgrade"], env=env, check=True, capture_output=True)
        out = subprocess.run(
            [SYNCLINE, "workspace", "create", "chaos", "--json"],
            env={**env, "SYNCLINE_DATA_DIR": str(work / "data-cli")},
            check=True,
            capture_output=True,
        )
        created = json.loads(out.stdout)
        cases = _cases(n_syncs, cron_syncs)
        with psycopg.connect(wh, autocommit=True) as conn:
            for c in cases:
                conn.execute(
                    f"CREATE TABLE {c.name} AS SELECT i AS id, 'v' || i AS v "
                    f"FROM generate_series(1, {c.rows}) i"
                )
        dep.spawn("api", "serve", "--no-workers", "--port", str(dep.port))
        for i in range(schedulers):
            dep.spawn(f"scheduler{i}", "scheduler")
        for i in range(workers):
            dep.spawn(f"worker{i}", "worker", "--concurrency", "2")
        api = Api(dep.port, created["id"], created["token"])
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{dep.port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.3)

        source = api.create("/sources", {"name": "wh", "type": "postgres", "config": {"dsn": wh}})
        for c in cases:
            model = api.create(
                "/models",
                {
                    "name": c.name,
                    "source_id": source,
                    "sql": f"SELECT id, v FROM {c.name}",
                    "primary_key": "id",
                },
            )
            destination = api.create(
                "/destinations",
                {"name": c.name, "type": "postgres", "config": {"dsn": dest, "table": c.name}},
            )
            body: dict[str, Any] = {
                "name": c.name,
                "model_id": model,
                "destination_id": destination,
                "field_mapping": [
                    {"source_column": "id", "destination_field": "id"},
                    {"source_column": "v", "destination_field": "v"},
                ],
                "sync_mode": c.mode,
                "primary_key": "id",
                "status": "active",
                "config": {"batch_size": 2000, "allow_mass_delete": True},
            }
            if c.fan_out:
                body |= {"execution_mode": "fan_out_entity", "execution_config": {"shards": 3}}
            if c.cron:
                body |= {"schedule": "* * * * *", "trigger_mode": "scheduled"}
            c.id = api.create("/syncs", body)

        manual = [c for c in cases if not c.cron]
        triggered = kills = cancels = retries = 0
        cancelled_ids: list[str] = []
        t0 = time.monotonic()
        next_kill = t0 + kill_every
        while triggered < runs or time.monotonic() - t0 < min_minutes * 60:
            c = rng.choice(manual)
            _mutate(wh, c, rng)
            r = api.post(f"/syncs/{c.id}/trigger")
            if r.status_code == 201:
                triggered += 1
            elif r.status_code not in (200, 409):
                problems.append(f"trigger {c.name}: {r.status_code} {r.text}")
            if rng.random() < 0.06:
                running = [x for x in _runs(meta) if x["status"] == "running"]
                if running:
                    victim = rng.choice(running)
                    cr = api.post(
                        f"/syncs/{victim['sync_id']}/runs/{victim['id']}/cancel",
                        {"reason": "chaos"},
                    )
                    if cr.status_code in (200, 202):
                        cancels += 1
                        cancelled_ids.append(victim["id"])
                    elif cr.status_code != 409:  # it may have just finished
                        problems.append(f"cancel: {cr.status_code} {cr.text}")
            if time.monotonic() >= next_kill:
                name = f"worker{rng.randrange(workers)}"
                dep.procs[name].send_signal(signal.SIGKILL)
                dep.procs[name].wait()
                kills += 1
                dep.spawn(name, "worker", "--concurrency", "2")
                next_kill = time.monotonic() + kill_every
            time.sleep(rng.uniform(0.1, 0.6))

        # Retry (through the API) every cancelled run that ended cancelled.
        _wait_idle(meta, 300)
        by_id = {x["id"]: x for x in _runs(meta)}
        for run_id in cancelled_ids:
            run = by_id[run_id]
            if run["status"] == "cancelled" and not run["next_attempt_run_id"]:
                rr = api.post(f"/syncs/{run['sync_id']}/runs/{run_id}/retry", {})
                if rr.status_code == 201:
                    retries += 1
                elif rr.status_code != 409:
                    problems.append(f"retry: {rr.status_code} {rr.text}")
        if not _wait_idle(meta, 300):
            problems.append("runs still pending or running 5 minutes after the chaos")

        # A calm final run of every sync, then compare destinations with models.
        for c in cases:
            api.post(f"/syncs/{c.id}/trigger")
        if not _wait_idle(meta, 300):
            problems.append("final runs did not finish")
        ended = datetime.now(UTC)
        with psycopg.connect(wh) as wconn, psycopg.connect(dest) as dconn:
            for c in cases:
                model = dict(wconn.execute(f"SELECT id, v FROM {c.name}").fetchall())
                rows = dconn.execute(f"SELECT id, v FROM {c.name}").fetchall()
                ids = Counter(int(i) for i, _ in rows)
                dups = sum(n - 1 for n in ids.values() if n > 1)
                if dups:
                    problems.append(f"{c.name} ({c.mode}): {dups} records applied twice")
                held = {int(i): v for i, v in rows}
                missing = set(model) - set(held)
                if missing:
                    problems.append(f"{c.name}: {len(missing)} model records missing")
                if c.mode in ("upsert", "mirror"):
                    stale = [i for i in model if i in held and held[i] != model[i]]
                    if stale:
                        problems.append(f"{c.name}: {len(stale)} records hold an old value")
                if c.mode == "mirror" and set(held) - set(model):
                    problems.append(f"{c.name}: records deleted from the model are still there")

        all_runs = _runs(meta)
        statuses = Counter(r["status"] for r in all_runs)
        reasons = Counter(r["result_reason_code"] for r in all_runs if r["status"] == "failed")
        timeouts = [r for r in all_runs if r["result_reason_code"] == "heartbeat_timeout"]
        by_run = {r["id"]: r for r in all_runs}

        def auto_resumes(r: dict[str, Any]) -> int:  # the sync allows 2 (the default)
            n = 0
            while r is not None and r["triggered_by"] == "auto_resume":
                n += 1
                r = by_run.get(r["previous_attempt_run_id"])
            return n

        exhausted = [r for r in timeouts if not r["next_attempt_run_id"] and auto_resumes(r) >= 2]
        unresumed = [r for r in timeouts if not r["next_attempt_run_id"] and auto_resumes(r) < 2]
        unexpected = {k: v for k, v in reasons.items() if k != "heartbeat_timeout"}
        if unexpected:
            problems.append(f"runs failed for other reasons than killed workers: {unexpected}")
        if unresumed:
            problems.append(f"{len(unresumed)} killed runs were not resumed")
        for run_id in cancelled_ids:
            run = next(r for r in all_runs if r["id"] == run_id)
            if run["status"] not in ("cancelled", "completed", "failed"):
                problems.append(f"cancelled run {run_id} ended {run['status']}")

        cron_report: dict[str, Any] = {}
        if cron_syncs:
            first = (started + timedelta(minutes=1)).replace(second=0, microsecond=0)
            slots = []
            t = first + timedelta(minutes=1)
            while t + timedelta(seconds=20) < ended:
                slots.append(t)
                t += timedelta(minutes=1)
            delays: list[float] = []
            for c in cases:
                if not c.cron:
                    continue
                fired = [
                    r for r in all_runs if r["sync_id"] == c.id and r["triggered_by"] == "schedule"
                ]
                per_slot = Counter(r["trigger_ref"] for r in fired)
                twice = {k: n for k, n in per_slot.items() if n > 1}
                if twice:
                    problems.append(f"{c.name}: slots fired more than once: {twice}")
                for slot in slots:
                    hits = [
                        r for r in fired if slot <= r["created_at"] < slot + timedelta(seconds=59)
                    ]
                    if not hits:
                        problems.append(f"{c.name}: slot {slot:%H:%M} did not fire")
                    else:
                        delays.append((hits[0]["created_at"] - slot).total_seconds())
            cron_report = {
                "slots_checked_per_sync": len(slots),
                "fires": len(delays),
                "max_delay_seconds": round(max(delays), 2) if delays else None,
                "mean_delay_seconds": round(sum(delays) / len(delays), 2) if delays else None,
            }

        report |= {
            "api_triggered_runs": triggered,
            "runs_total": len(all_runs),
            "statuses": dict(statuses),
            "failed_reasons": dict(reasons),
            "workers_killed": kills,
            "runs_killed_and_resumed": len(timeouts) - len(unresumed) - len(exhausted),
            "killed_after_all_auto_resumes_used": len(exhausted),
            "cancels_via_api": cancels,
            "retries_via_api": retries,
            "fan_out_shards": _shard_stats(meta),
            "cron": cron_report,
            "syncs": len(cases),
            "duration_seconds": round((ended - started).total_seconds(), 1),
            "problems": problems,
            "ok": not problems,
        }
        return report
    finally:
        dep.stop()
        for db in (meta_db, wh_db, dest_db):
            _drop_db(db)
        if not problems:
            shutil.rmtree(work, ignore_errors=True)


def _shard_stats(meta: str) -> dict[str, Any]:
    with psycopg.connect(meta) as conn:
        rows = conn.execute("SELECT status, attempts FROM run_shards").fetchall()
    return {
        "shards": len(rows),
        "statuses": dict(Counter(s for s, _ in rows)),
        "resumed": sum(1 for _, a in rows if a > 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--runs", type=int, default=120, help="runs to trigger through the API")
    p.add_argument("--workers", type=int, default=3)
    p.add_argument("--schedulers", type=int, default=2)
    p.add_argument("--kill-every", type=float, default=5.0, help="seconds between SIGKILLs")
    p.add_argument("--syncs", type=int, default=8, help="API-triggered syncs")
    p.add_argument("--cron-syncs", type=int, default=2, help="syncs on '* * * * *'")
    p.add_argument("--min-minutes", type=float, default=3.0, help="keep the chaos up at least")
    p.add_argument("--seed", type=int, default=int(time.time()))
    a = p.parse_args(argv)
    report = run_chaos(
        runs=a.runs,
        workers=a.workers,
        schedulers=a.schedulers,
        kill_every=a.kill_every,
        n_syncs=a.syncs,
        cron_syncs=a.cron_syncs,
        min_minutes=a.min_minutes,
        seed=a.seed,
    )
    print(json.dumps(report, indent=2, default=str))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
