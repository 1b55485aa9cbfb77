"""Every failure ends in one clear line on stderr and the documented exit code, no traceback."""

from __future__ import annotations

import uuid

from tests.cli.conftest import Cli, Server, free_port


def test_unknown_sync_is_exit_3(cli: Cli) -> None:
    out = cli("sync", "get", str(uuid.uuid4()))
    assert out.exit_code == 3
    assert out.stdout == ""
    assert out.stderr == "error: Sync not found (HTTP 404)\n"


def test_unknown_run_is_exit_3(cli: Cli, server: Server) -> None:
    sync = server.sync("No such run")
    out = cli("run", "get", sync["id"], str(uuid.uuid4()), "--json")
    assert out.exit_code == 3 and "not found" in out.stderr and out.stdout == ""


def test_another_workspace_is_exit_3(cli: Cli) -> None:
    out = cli("sync", "list", "--workspace", str(uuid.uuid4()))
    assert out.exit_code == 3 and "Workspace not found" in out.stderr


def test_bad_token_is_exit_4(cli: Cli) -> None:
    out = cli("sync", "list", "--token", "sl_not-a-real-token")
    assert out.exit_code == 4
    assert "(HTTP 401)" in out.stderr and out.stdout == ""


def test_server_down_is_exit_5(cli: Cli) -> None:
    out = cli("sync", "list", "--json", env={"SYNCLINE_URL": f"http://127.0.0.1:{free_port()}"})
    assert out.exit_code == 5
    assert "cannot reach the Syncline server" in out.stderr and out.stdout == ""


def test_validation_errors_are_exit_2_one_line_each(cli: Cli, server: Server) -> None:
    out = cli("sync", "list", "--per-page", "500", "--status", "bogus")
    assert out.exit_code == 2
    lines = out.stderr.splitlines()
    assert len(lines) == 2
    assert any(line.startswith("error: query.per_page: ") for line in lines)
    assert any(line.startswith("error: query.status: ") for line in lines)
    malformed = cli("sync", "get", "not-a-uuid")
    assert malformed.exit_code == 2 and "path.syncId" in malformed.stderr
    sync = server.sync("Too many samples")
    sample = cli("sync", "dry-run", sync["id"], "--sample", "1000")
    assert sample.exit_code == 2 and "body.sample_size" in sample.stderr


def test_missing_connection_settings_are_exit_2(cli: Cli) -> None:
    no_ws = cli("sync", "list", env={"SYNCLINE_WORKSPACE": ""})
    assert no_ws.exit_code == 2 and "--workspace" in no_ws.stderr
    no_token = cli("run", "list", str(uuid.uuid4()), env={"SYNCLINE_TOKEN": ""})
    assert no_token.exit_code == 2 and "SYNCLINE_TOKEN" in no_token.stderr
    bad_ws = cli("sync", "list", "--workspace", "acme")
    assert bad_ws.exit_code == 2 and "UUID" in bad_ws.stderr
    bad_url = cli("sync", "list", "--url", "ftp://example.invalid")
    assert bad_url.exit_code == 2 and "bad --url" in bad_url.stderr


def test_bad_arguments_are_exit_2(cli: Cli) -> None:
    out = cli("sync", "list", "--page", "two")
    assert out.exit_code == 2
    assert cli("run", "get", str(uuid.uuid4())).exit_code == 2  # RUN_ID missing


def test_triggering_a_draft_is_refused_exit_1(cli: Cli, server: Server) -> None:
    sync = server.sync("Drafted", status="draft")
    out = cli("sync", "trigger", sync["id"], "--wait")
    assert out.exit_code == 1
    assert out.stderr == (
        "error: Sync is a draft; set its status to active before running it (HTTP 409)\n"
    )
