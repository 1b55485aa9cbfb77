"""``syncline token create|revoke`` on the server's store, seen through the resource commands."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from syncline.settings import get_settings
from tests.cli.conftest import Cli, Server


@pytest.fixture
def on_server_store(server: Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point the administration commands at the test server's metadata store."""
    monkeypatch.setenv("SYNCLINE_DATA_DIR", str(server.tmp / "data"))
    monkeypatch.delenv("SYNCLINE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("on_server_store")
def test_a_revoked_token_is_exit_4(cli: Cli, server: Server) -> None:
    created = cli("token", "create", "--workspace", server.workspace_id, "--json")
    assert created.exit_code == 0, created.output
    token = json.loads(created.stdout)
    assert cli("sync", "list", "--token", token["token"]).exit_code == 0

    revoked = cli("token", "revoke", token["id"])
    assert revoked.exit_code == 0, revoked.output
    refused = cli("sync", "list", "--token", token["token"])
    assert refused.exit_code == 4 and "(HTTP 401)" in refused.stderr


@pytest.mark.usefixtures("on_server_store")
def test_unknown_ids_are_exit_3(cli: Cli) -> None:
    revoke = cli("token", "revoke", str(uuid.uuid4()))
    assert revoke.exit_code == 3 and "Token not found" in revoke.stderr
    create = cli("token", "create", "--workspace", str(uuid.uuid4()))
    assert create.exit_code == 3 and "Workspace not found" in create.stderr


@pytest.mark.usefixtures("on_server_store")
def test_a_viewer_token_reads_but_cannot_trigger(cli: Cli, server: Server) -> None:
    created = cli(
        "token", "create", "--workspace", server.workspace_id, "--role", "viewer", "--json"
    )
    assert created.exit_code == 0, created.output
    token = json.loads(created.stdout)
    assert token["role"] == "viewer"
    assert cli("sync", "list", "--token", token["token"]).exit_code == 0
    refused = cli("sync", "trigger", str(uuid.uuid4()), "--token", token["token"])
    assert refused.exit_code == 4 and "(HTTP 403)" in refused.stderr
    bad = cli("token", "create", "--workspace", server.workspace_id, "--role", "root")
    assert bad.exit_code == 2
