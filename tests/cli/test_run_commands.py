"""``syncline sync trigger --wait`` and ``syncline run ...`` against a real server."""

from __future__ import annotations

import json
import shutil

from tests.cli.conftest import Cli, Server


def test_trigger_wait_then_inspect_the_run(cli: Cli, server: Server) -> None:
    sync = server.sync("Followed")
    waited = cli("sync", "trigger", sync["id"], "--wait", "--json")
    assert waited.exit_code == 0, waited.output
    run = json.loads(waited.stdout)  # the final run, and nothing else
    assert run["status"] == "completed" and run["result_class"] == "partial"
    assert run["rows_synced"] == 29 and run["rows_failed"] == 2

    # People get a live view on stderr and the final line on stdout; partial is still exit 0.
    human = cli("sync", "trigger", sync["id"], "--full", "--wait")
    assert human.exit_code == 0, human.output
    assert "completed (partial): 29 synced, 2 failed" in human.stdout
    assert "acknowledged" in human.stderr and "done" in human.stderr

    listed = cli("run", "list", sync["id"], "--json")
    runs = json.loads(listed.stdout)
    assert [r["run_mode"] for r in runs] == ["full", "incremental"]  # newest first
    table = cli("run", "list", sync["id"])
    assert run["id"] in table.stdout and "partial" in table.stdout

    got = cli("run", "get", sync["id"], run["id"])
    assert got.exit_code == 0 and "+29 added" in got.stdout and "partial" in got.stdout
    assert json.loads(cli("run", "get", sync["id"], run["id"], "--json").stdout) == run

    records = cli("run", "records", sync["id"], run["id"], "--status", "failed", "--json")
    rejected = json.loads(records.stdout)
    assert {r["primary_key"] for r in rejected} == {"7"}
    assert {r["error_class"] for r in rejected} == {"duplicate_primary_key"}
    table = cli("run", "records", sync["id"], run["id"], "--status", "failed")
    assert "duplicate_primary_key" in table.stdout and "2 records" in table.stdout


def test_cancel_of_a_finished_run_is_refused(cli: Cli, server: Server) -> None:
    sync = server.sync("Finished")
    run = json.loads(cli("sync", "trigger", sync["id"], "--wait", "--json").stdout)
    refused = cli("run", "cancel", sync["id"], run["id"], "--reason", "too late")
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert "already completed" in refused.stderr and "(HTTP 409)" in refused.stderr


def test_failed_run_exits_1_and_retry_recovers(cli: Cli, server: Server) -> None:
    warehouse = server.tmp / "fragile.duckdb"
    sync = server.sync("Fragile", model_id=server.warehouse_source(warehouse))
    moved = warehouse.with_suffix(".moved")
    shutil.move(warehouse, moved)
    try:
        failed = cli("sync", "trigger", sync["id"], "--wait")
        assert failed.exit_code == 1
        assert "failed" in failed.stdout
        run = json.loads(cli("run", "list", sync["id"], "--json").stdout)[0]
        assert run["status"] == "failed" and run["result_reason_code"] == "source_error"
    finally:
        shutil.move(moved, warehouse)

    retried = cli("run", "retry", sync["id"], run["id"], "--wait", "--json")
    assert retried.exit_code == 0, retried.output
    attempt = json.loads(retried.stdout)
    assert attempt["status"] == "completed" and attempt["attempt_number"] == 2
    assert attempt["previous_attempt_run_id"] == run["id"]
    # A run is retried once: the second retry is refused (409 -> exit 1).
    again = cli("run", "retry", sync["id"], run["id"])
    assert again.exit_code == 1 and "409" in again.stderr


def test_cancel_an_active_run(cli: Cli, server: Server) -> None:
    sync = server.sync("Cancelled")
    run = json.loads(cli("sync", "trigger", sync["id"], "--json").stdout)
    out = cli("run", "cancel", sync["id"], run["id"], "--reason", "testing", "--json")
    # The embedded worker may finish this small run before the cancel arrives: then 409.
    if out.exit_code == 1:
        assert "(HTTP 409)" in out.stderr
        return
    assert out.exit_code == 0, out.output
    answer = json.loads(out.stdout)
    assert answer["id"] == run["id"] and answer["cancel_reason"] == "testing"
    if answer["status"] == "cancelled":  # it was pending: cancelled at once
        assert answer["result_reason_code"] == "cancelled_by_user"


def test_wait_timeout_exits_6_and_the_run_goes_on(cli: Cli, server: Server) -> None:
    sync = server.sync("Impatient")
    out = cli("sync", "trigger", sync["id"], "--wait", "--timeout", "0")
    assert out.exit_code == 6
    assert "it goes on" in out.stderr
    run = json.loads(cli("run", "list", sync["id"], "--json").stdout)[0]
    finished = cli("sync", "trigger", sync["id"], "--wait", "--json")  # follows or reruns
    assert finished.exit_code == 0, finished.stdout + finished.stderr
    assert json.loads(cli("run", "get", sync["id"], run["id"], "--json").stdout)["status"] in (
        "completed",
        "running",
    )
