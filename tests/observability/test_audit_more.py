"""Audit gaps closed: alert channels through the API, and CLI commands that change the store.

Each mutation is an event with the actor, before/after and no secret; the filters narrow them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from syncline.api.app import create_app
from syncline.cli import app
from syncline.services.sources import create_source
from syncline.services.workspaces import create_token
from syncline.settings import get_settings
from syncline.store.tables import AuditEvent
from tests.fixtures.harness import Harness

PLANTED = "planted-hmac-s3cret"


def _events(h: Harness) -> list[AuditEvent]:
    with h.ctx.sessions() as s:
        return list(
            s.query(AuditEvent)
            .filter(AuditEvent.workspace_id == h.workspace_id)
            .order_by(AuditEvent.created_at, AuditEvent.id)
        )


def test_alert_channel_mutations_are_audited_without_secrets(harness: Harness) -> None:
    h = harness
    with h.ctx.sessions() as s:
        token, plain = create_token(
            s, workspace_id=h.workspace_id, pepper=h.ctx.token_pepper, name="ops", role="editor"
        )
    client = TestClient(create_app(h.ctx))
    auth = {"Authorization": f"Bearer {plain}"}
    base = f"/api/v1/workspaces/{h.workspace_id}"
    config = {"url": "http://127.0.0.1:9/hook", "hmac_secret": PLANTED}
    made = client.post(
        f"{base}/alert-channels",
        json={"name": "c", "type": "webhook", "config": config},
        headers=auth,
    )
    assert made.status_code == 201, made.text
    channel_id = made.json()["id"]
    changed = client.patch(f"{base}/alert-channels/{channel_id}", json={"name": "d"}, headers=auth)
    assert changed.status_code == 200, changed.text
    assert client.delete(f"{base}/alert-channels/{channel_id}", headers=auth).status_code in (
        200,
        204,
    )
    listed = client.get(
        f"{base}/audit-events", params={"object_type": "alert_channel"}, headers=auth
    ).json()
    assert [e["action"] for e in listed] == [
        "alert_channel.delete",
        "alert_channel.update",
        "alert_channel.create",
    ]
    assert {(e["actor_token_id"], e["channel"], e["object_id"]) for e in listed} == {
        (token.id, "api", channel_id)
    }
    assert listed[1]["before"] == {"name": "c"} and listed[1]["after"] == {"name": "d"}
    assert listed[2]["after"]["config"] == "<encrypted>"
    assert PLANTED not in json.dumps(listed)


@pytest.fixture
def cli_env(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SYNCLINE_DATA_DIR", str(harness.ctx.settings.data_dir))
    monkeypatch.setenv("SYNCLINE_DATABASE_URL", harness.ctx.settings.resolved_database_url())
    monkeypatch.delenv("SYNCLINE_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_mutations_are_audited(cli_env: None, harness: Harness, tmp_path: Path) -> None:
    """``token create`` and ``dbt import`` (local commands, no token) name the OS user."""
    h = harness
    made = CliRunner().invoke(
        app, ["token", "create", "--workspace", h.workspace_id, "--name", "bot", "--json"]
    )
    assert made.exit_code == 0, made.output
    plain = json.loads(made.stdout)["token"]

    h.sql("CREATE OR REPLACE TABLE customers AS SELECT 1 AS customer_id")
    with h.ctx.sessions() as s:
        create_source(
            s,
            secrets=h.ctx.secrets,
            workspace_id=h.workspace_id,
            name="warehouse",
            type="duckdb",
            config={"path": str(h.warehouse)},
        )
    manifest = tmp_path / "manifest.json"
    node = {
        "resource_type": "model",
        "name": "customers",
        "relation_name": '"wh"."main"."customers"',
        "meta": {"syncline": {"primary_key": "customer_id"}},
        "config": {"materialized": "table"},
    }
    manifest.write_text(json.dumps({"nodes": {"model.shop.customers": node}}))
    args = ["dbt", "import", "--source", "warehouse", "--workspace", h.workspace_id]
    imported = CliRunner().invoke(app, [*args, "--manifest", str(manifest)])
    assert imported.exit_code == 0, imported.output

    events = [(e.action, e.channel) for e in _events(h) if e.channel == "cli"]
    assert events == [("token.create", "cli"), ("model.create", "cli")], _events(h)
    cli = [e for e in _events(h) if e.channel == "cli"]
    assert all(e.actor_name.startswith("cli (") and e.actor_token_id is None for e in cli)
    assert cli[0].after is not None and cli[0].after["token_hash"] == "<encrypted>"
    assert plain not in json.dumps([[e.before, e.after] for e in _events(h)])
