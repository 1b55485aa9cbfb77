"""drt-core peer (runs in bench/.peers/drt): ``drt run`` of a DuckDB -> PostgreSQL mirror sync.

drt-core reads DuckDB sources and writes PostgreSQL with ``INSERT ... ON CONFLICT``
(``upsert_key``) and ``sync.mode: mirror`` (upsert every row, then delete destination rows
not seen). It keeps no snapshot for this mode, so every run resends every row. The script
writes a project (``drt_project.yml``, ``syncs/bench.yml``) and ``profiles.yml`` under
``--work`` (HOME points there), runs the ``drt`` CLI of its venv and times it end to end.

Prints one JSON line: seconds, rows sent (drt's ``records_synced``), peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--batch-size", type=int, default=1000)
    a = ap.parse_args()
    work, url = Path(a.work), urlsplit(a.dsn)
    (work / ".drt").mkdir(parents=True, exist_ok=True)
    (work / "syncs").mkdir(exist_ok=True)
    (work / "drt_project.yml").write_text("name: bench\nversion: '0.1'\nprofile: bench\n")
    (work / ".drt" / "profiles.yml").write_text(f"bench:\n  type: duckdb\n  database: {a.model}\n")
    (work / "syncs" / "bench.yml").write_text(
        f"""name: bench
model: "SELECT * FROM people"
destination:
  type: postgres
  host: {url.hostname}
  port: {url.port or 5432}
  user: {url.username or "postgres"}
  dbname: {url.path.lstrip("/")}
  table: public.{a.table}
  upsert_key: [id]
sync:
  mode: mirror
  batch_size: {a.batch_size}
  on_error: fail
"""
    )
    drt = str(Path(sys.executable).parent / "drt")
    env = {**os.environ, "HOME": str(work), "DRT_TELEMETRY": "0", "DO_NOT_TRACK": "1"}
    t0 = time.perf_counter()
    done = subprocess.run(
        [drt, "run", "--select", "bench", "--output", "json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(
            f"drt run exited {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}"
        )
    found = re.findall(r'"(?:records_synced|rows_synced|success)"\s*:\s*(\d+)', done.stdout)
    sent = int(found[0]) if found else None
    print(json.dumps({"seconds": seconds, "sent": sent}))
    print(done.stdout[-3000:], file=sys.stderr)


if __name__ == "__main__":
    main()
