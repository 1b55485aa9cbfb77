"""``syncline sync ...`` against a real server: tables for people, ``--json`` for scripts."""

from __future__ import annotations

import json
import socket

from tests.cli.conftest import Cli, Server


def test_sync_list_table_and_json(cli: Cli, server: Server) -> None:
    sync = server.sync("Listed sync", schedule="0 */6 * * *")
    table = cli("sync", "list", "--q", "listed")
    assert table.exit_code == 0, table.output
    assert sync["id"] in table.stdout and "Listed sync" in table.stdout
    assert "0 */6 * * *" in table.stdout and "upsert" in table.stdout
    as_json = cli("sync", "list", "--q", "listed", "--json")
    assert as_json.exit_code == 0
    rows = json.loads(as_json.stdout)  # nothing but the JSON on stdout
    assert [r["id"] for r in rows] == [sync["id"]]
    assert rows[0]["next_run_at"] is not None


def test_sync_list_filters_and_pages(cli: Cli, server: Server) -> None:
    for i in range(3):
        server.sync(f"Paged {i}")
    page = cli("sync", "list", "--q", "paged", "--per-page", "2", "--page", "2", "--json")
    assert [r["name"] for r in json.loads(page.stdout)] == ["Paged 2"]
    table = cli("sync", "list", "--q", "paged", "--per-page", "2")
    assert "2 of 3 syncs" in table.stdout
    paused = cli("sync", "list", "--q", "paged", "--status", "paused", "--json")
    assert json.loads(paused.stdout) == []


def test_sync_get(cli: Cli, server: Server) -> None:
    sync = server.sync("Shown sync")
    shown = cli("sync", "get", sync["id"])
    assert shown.exit_code == 0, shown.output
    assert "Shown sync" in shown.stdout and "FirstName" in shown.stdout
    as_json = cli("sync", "get", sync["id"], "--json")
    assert json.loads(as_json.stdout)["field_mapping"] == sync["field_mapping"]


def test_pause_and_resume(cli: Cli, server: Server) -> None:
    sync = server.sync("Pausable")
    paused = cli("sync", "pause", sync["id"], "--json")
    assert paused.exit_code == 0 and json.loads(paused.stdout)["status"] == "paused"
    resumed = cli("sync", "resume", sync["id"])
    assert resumed.exit_code == 0 and "is active" in resumed.stdout
    assert server.http.get(f"/syncs/{sync['id']}").json()["status"] == "active"


def test_dry_run_shows_counts_and_samples(cli: Cli, server: Server) -> None:
    sync = server.sync("Dry")
    shown = cli("sync", "dry-run", sync["id"], "--sample", "2")
    assert shown.exit_code == 0, shown.output
    assert "would create" in shown.stdout and "sample creates" in shown.stdout
    assert "duplicate_primary_key" in shown.stdout
    plan = json.loads(cli("sync", "dry-run", sync["id"], "--sample", "1", "--json").stdout)
    assert plan["creates"]["count"] == 29 and len(plan["creates"]["sample"]) == 1
    assert plan["rejected"]["count"] == 2
    # Nothing ran.
    assert server.http.get(f"/syncs/{sync['id']}/runs").json() == []


def test_trigger_without_wait_answers_the_pending_run(cli: Cli, server: Server) -> None:
    sync = server.sync("No wait")
    started = cli("sync", "trigger", sync["id"], "--json")
    assert started.exit_code == 0
    run = json.loads(started.stdout)
    assert run["sync_id"] == sync["id"] and run["status"] in ("pending", "running", "completed")
    # Triggering again while it is active follows the same run.
    again = cli("sync", "trigger", sync["id"], "--wait", "--json")
    assert again.exit_code == 0
    final = json.loads(again.stdout)
    assert final["status"] == "completed"


def test_dry_run_against_a_dead_destination_fails_with_the_reason(cli: Cli, server: Server) -> None:
    sync = server.sync("Dead end")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"  # nothing listens once closed
    moved = server.http.put(
        f"/destinations/{sync['destination_id']}",
        json={"type": "webhook", "config": {"url": dead}},
    )
    assert moved.status_code == 200 and moved.json()["check"]["ok"] is False
    shown = cli("sync", "dry-run", sync["id"])
    assert shown.exit_code == 1, shown.output
    assert "destination check: FAILED" in shown.stdout and "dry run failed" in shown.stdout
    as_json = cli("sync", "dry-run", sync["id"], "--json")
    assert as_json.exit_code == 1 and json.loads(as_json.stdout)["ok"] is False
