"""Run logs land in a real DuckDB warehouse file after the run, once per run id."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.runlog.worker import export_one, write_pending
from syncline.services.sync_spec import SyncPatch
from syncline.store.runlog_tables import RunLogExport
from syncline.store.tables import RunLog, Sync, SyncRun
from tests.alerts.conftest import end_run, start_run
from tests.fixtures.harness import Harness
from tests.observability.test_metrics import delta, scrape
from tests.runlog.conftest import (
    duck_rows,
    export,
    make_due,
    make_logged_sync,
    run_with_rejects,
)

REJECT = {"3": "email is invalid", "7": "blocked"}


def _table(h: Harness) -> None:
    h.sql("CREATE OR REPLACE TABLE t AS SELECT i AS id, 'v' || i AS v FROM range(10) t(i)")


def test_summary_and_rejected_records_written_once_per_run(harness: Harness) -> None:
    h = harness
    _table(h)
    sync_id = make_logged_sync(h, {"warehouse_run_logs": True})
    run_id, run = run_with_rejects(h, sync_id, REJECT)
    assert run.rows_failed == 2 and run.rows_synced == 8
    # Queued with the run's end, nothing written yet: the run never touched the tables.
    assert export(h, run_id).status == "pending"
    tables = "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 'syncline%'"
    assert duck_rows(h, tables) == []

    assert write_pending(h.ctx) == 1
    row = export(h, run_id)
    assert row.status == "written" and row.rejected_written == 2 and row.attempts == 1
    ((rid, status, synced, failed, summary, took),) = duck_rows(
        h,
        "SELECT run_id, status, rows_synced, rows_failed, summary, duration_seconds "
        "FROM syncline_sync_runs",
    )
    assert (rid, status, synced, failed) == (run_id, "completed", 8, 2)
    assert isinstance(json.loads(summary), dict) and took is not None and took >= 0
    rejected = duck_rows(
        h,
        "SELECT primary_key, operation, error_message, payload FROM syncline_rejected_records "
        "WHERE run_id = '" + run_id + "' ORDER BY primary_key",
    )
    assert [(pk, msg) for pk, _, msg, _ in rejected] == [
        ("3", "email is invalid"),
        ("7", "blocked"),
    ]
    assert json.loads(rejected[0][3])["v"] == "v3"

    # A re-delivery (a crash after the write, before the row was marked) replaces, never adds.
    make_due(h, run_id)
    assert export_one(h.ctx, run_id)
    assert duck_rows(h, "SELECT count(*) FROM syncline_sync_runs") == [(1,)]
    assert duck_rows(h, "SELECT count(*) FROM syncline_rejected_records") == [(2,)]

    second, _ = run_with_rejects(h, sync_id, {"3": "still invalid"})  # 3 and 7 resent
    assert write_pending(h.ctx) == 1
    assert duck_rows(h, "SELECT count(*) FROM syncline_sync_runs") == [(2,)]
    counts = "SELECT run_id, count(*) FROM syncline_rejected_records GROUP BY 1 ORDER BY 2"
    assert sorted(duck_rows(h, counts)) == sorted([(second, 1), (run_id, 2)])


def test_a_sync_without_the_setting_queues_nothing(harness: Harness) -> None:
    h = harness
    _table(h)
    sync_id = make_logged_sync(h, {})
    run_with_rejects(h, sync_id, {})
    with h.ctx.sessions() as s:
        assert s.query(RunLogExport).count() == 0
    assert write_pending(h.ctx) == 0


def test_schema_name_is_used_and_created(harness: Harness) -> None:
    h = harness
    _table(h)
    h.sql("CREATE SCHEMA ops")
    sync_id = make_logged_sync(h, {"warehouse_run_logs": True, "warehouse_run_logs_schema": "ops"})
    run_id, _ = run_with_rejects(h, sync_id, {"1": "x"})
    assert write_pending(h.ctx) == 1
    assert duck_rows(h, "SELECT run_id FROM ops.syncline_sync_runs") == [(run_id,)]


@pytest.mark.parametrize(
    "config",
    [
        {"warehouse_run_logs": "yes"},
        {"warehouse_run_logs": True, "warehouse_run_logs_schema": 'x"; DROP TABLE t; --'},
    ],
)
def test_bad_settings_are_refused(config: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="warehouse_run_logs"):
        SyncPatch.model_validate({"config": config})


HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
sys.stdin.readline()
"""


def test_a_failed_write_is_recorded_and_never_fails_the_run(harness: Harness) -> None:
    """Another process holds the warehouse file: the write fails, is logged on the run and
    counted; the run stays completed; the next pass, once the file is free, writes it."""
    h = harness
    _table(h)
    sync_id = make_logged_sync(h, {"warehouse_run_logs": True})
    run_id, _ = run_with_rejects(h, sync_id, REJECT)
    client = TestClient(create_app(h.ctx))
    before = scrape(client)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(h.warehouse)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        assert write_pending(h.ctx) == 0
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.flush()
        holder.wait(timeout=30)
    row = export(h, run_id)
    assert row.status == "pending" and row.attempts == 1 and "lock" in row.last_error.lower()
    assert row.next_attempt_at > row.created_at  # backs off
    with h.ctx.sessions() as s:
        run = s.get(SyncRun, run_id)
        assert run is not None and run.status == "completed" and run.rows_failed == 2
        lines = [m for (m,) in s.query(RunLog.message).filter(RunLog.run_id == run_id)]
    assert any("run logs not written to the warehouse" in m for m in lines), lines
    after = scrape(client)
    labels = {"source_type": "duckdb", "outcome": "failed"}
    assert delta(after, before, "syncline_warehouse_run_logs_total", **labels) == 1

    make_due(h, run_id)
    assert write_pending(h.ctx) == 1
    assert export(h, run_id).status == "written"
    assert duck_rows(h, "SELECT count(*) FROM syncline_rejected_records") == [(2,)]


def test_waits_while_another_run_reads_the_same_file(harness: Harness) -> None:
    """The write lock of a DuckDB file would break a run reading it: wait for that run."""
    h = harness
    _table(h)
    sync_id = make_logged_sync(h, {"warehouse_run_logs": True})
    run_id, _ = run_with_rejects(h, sync_id, REJECT)
    with h.ctx.sessions.begin() as s:
        first = s.get(Sync, sync_id)
        assert first is not None
        reader = Sync(
            workspace_id=h.workspace_id,
            model_id=first.model_id,  # the same model, so the same source
            destination_id=first.destination_id,
            name="reader",
            field_mapping=first.field_mapping,
            sync_mode="upsert",
            primary_key="id",
            status="active",
        )
        s.add(reader)
        s.flush()
        reader_id = reader.id
    reading = start_run(h, reader_id)  # claimed: running
    assert write_pending(h.ctx) == 0
    row = export(h, run_id)
    assert row.status == "pending" and row.attempts == 0 and row.last_error == ""
    end_run(h, reading)
    make_due(h, run_id)
    assert write_pending(h.ctx) == 1
    assert export(h, run_id).status == "written"
