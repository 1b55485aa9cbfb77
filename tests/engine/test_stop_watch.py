"""The stop watcher interrupts a long DuckDB query of the diff within 2 s (issue 12)."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import duckdb
import pytest

from syncline.engine.diff import open_duckdb
from syncline.engine.watch import StopWatcher

# Minutes of work on one core: a diff that would not end by itself any time soon.
SLOW = "SELECT count(*) FROM range(100000000000) a WHERE hash(a.range) % 7 = 3"


def _watch() -> tuple[StopWatcher, threading.Event]:
    asked = threading.Event()
    watcher = StopWatcher(SimpleNamespace(stop_requested=asked.is_set), threading.Event())
    return watcher, asked


def test_a_long_duckdb_query_is_interrupted_once_the_run_must_stop() -> None:
    watcher, asked = _watch()
    con = open_duckdb(temp_dir=None)
    try:
        threading.Timer(0.5, asked.set).start()
        started = time.monotonic()
        with pytest.raises(duckdb.InterruptException), watcher.interrupting([con.interrupt]):
            con.execute(SLOW).fetchall()
        took = time.monotonic() - started
    finally:
        watcher.close()
        con.close()
    assert watcher.stop.is_set()
    assert took < 2.5, f"interrupted after {took:.2f}s (asked at 0.5s)"


def test_a_query_started_after_the_stop_is_interrupted_too() -> None:
    """The watcher keeps interrupting while the work runs: a stop that landed between two
    queries does not let the next one run to its end."""
    watcher, asked = _watch()
    con = open_duckdb(temp_dir=None)
    try:
        asked.set()
        deadline = time.monotonic() + 5
        while not watcher.stop.is_set():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(duckdb.InterruptException), watcher.interrupting([con.interrupt]):
            con.execute("SELECT 1").fetchall()  # may run before the interrupt lands
            con.execute(SLOW).fetchall()
        took = time.monotonic() - started
    finally:
        watcher.close()
        con.close()
    assert took < 2, f"interrupted after {took:.2f}s"
