"""dlt peer (runs in bench/.peers/dlt): DuckDB ``people`` -> PostgreSQL, ``merge`` on ``id``.

An Arrow resource streams the model from DuckDB in 50,000-row batches (dlt's documented
fast path for Arrow tables); the pipeline keeps its state in ``--pipelines-dir`` so a later
call is an incremental re-run. dlt's default merge strategy (delete-insert) loads into a
staging dataset and replaces matching keys; rows deleted from the model stay (no hard-delete
column in the model), which is what a user gets without extra modelling.

Prints one JSON line: seconds, rows sent (normalised rows of the table), peak RSS.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import dlt
import duckdb


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--pipelines-dir", required=True)
    a = ap.parse_args()

    @dlt.resource(name=a.table, write_disposition="merge", primary_key="id")  # type: ignore[untyped-decorator]
    def people() -> Iterator[Any]:
        with duckdb.connect(a.model, read_only=True) as con:
            yield from con.sql("SELECT * FROM people").fetch_record_batch(50_000)

    url = urlsplit(a.dsn)
    if url.password is None:  # dlt insists on one; a trust-auth server ignores it
        netloc = f"{url.username or 'postgres'}:unused@{url.hostname}:{url.port or 5432}"
        url = url._replace(netloc=netloc)
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{a.table}",
        destination=dlt.destinations.postgres(credentials=urlunsplit(url)),
        dataset_name="public",
        pipelines_dir=a.pipelines_dir,
    )
    t0 = time.perf_counter()
    pipeline.run(people())
    seconds = time.perf_counter() - t0
    counts = pipeline.last_trace.last_normalize_info.row_counts
    sent = counts.get(a.table, 0)
    print(json.dumps({"seconds": seconds, "sent": sent, "peak_rss_mb": _peak_mb()}))


def _peak_mb() -> float:
    """This process's own peak (``VmHWM``): ``ru_maxrss`` would include the harness's RSS at
    fork (bench/core.py)."""
    with open("/proc/self/status") as status:
        lines = status.read().splitlines()
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
