"""Audit events: counted after a config apply and after API mutations, secrets never copied."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.context import AppContext
from syncline.services.workspaces import create_token
from syncline.store.tables import AuditEvent
from tests.config.helpers import apply_files
from tests.config.stores import _pg_store, _stores, ctx, workspace_id
from tests.config.test_apply import SECRET, env, files

__all__ = ["_pg_store", "_stores", "ctx", "env", "files", "workspace_id"]


def _events(ctx: AppContext, workspace_id: str) -> list[AuditEvent]:
    with ctx.sessions() as s:
        return list(
            s.query(AuditEvent)
            .filter(AuditEvent.workspace_id == workspace_id)
            .order_by(AuditEvent.created_at)
        )


def test_config_apply_is_audited(
    ctx: AppContext, workspace_id: str, files: Path, env: dict[str, str]
) -> None:
    apply_files(ctx, workspace_id, files, env)
    created = _events(ctx, workspace_id)
    kinds = sorted(e.action for e in created)
    assert kinds == sorted(
        ["source.create"] + ["destination.create"] * 2 + ["model.create"] * 2 + ["sync.create"] * 2
    ), kinds
    assert {e.channel for e in created} == {"config"}
    assert all(e.object_id and e.after and e.before is None for e in created)

    apply_files(ctx, workspace_id, files, env)  # nothing changes: nothing audited
    assert len(_events(ctx, workspace_id)) == len(created)

    apply_files(ctx, workspace_id, files, {**env, "CRM_DSN": "postgresql://crm:rot-pw@db/crm"})
    updates = [e for e in _events(ctx, workspace_id) if e.action.endswith("update")]
    assert [e.action for e in updates] == ["destination.update"]
    assert updates[0].before == {"config": "<encrypted>"}
    dumped = json.dumps([[e.before, e.after] for e in _events(ctx, workspace_id)])
    assert "s3cret" not in dumped and "rot-pw" not in dumped and SECRET not in dumped


def test_api_mutations_are_audited_and_listed_for_editors(
    ctx: AppContext, workspace_id: str, tmp_path: Path
) -> None:
    with ctx.sessions() as s:
        editor, editor_plain = create_token(
            s, workspace_id=workspace_id, pepper=ctx.token_pepper, name="ci-bot", role="editor"
        )
        _, viewer_plain = create_token(
            s, workspace_id=workspace_id, pepper=ctx.token_pepper, name="reader", role="viewer"
        )
    client = TestClient(create_app(ctx))
    auth = {"Authorization": f"Bearer {editor_plain}"}
    base = f"/api/v1/workspaces/{workspace_id}"
    body = {"name": "wh", "type": "duckdb", "config": {"path": str(tmp_path / "a.duckdb")}}
    created = client.post(f"{base}/sources", json=body, headers=auth)
    assert created.status_code == 201, created.text
    source_id = created.json()["id"]
    renamed = client.put(f"{base}/sources/{source_id}", json={**body, "name": "wh2"}, headers=auth)
    assert renamed.status_code == 200, renamed.text
    assert client.delete(f"{base}/sources/{source_id}", headers=auth).status_code == 200

    listed = client.get(f"{base}/audit-events", params={"object_id": source_id}, headers=auth)
    assert listed.status_code == 200, listed.text
    events = listed.json()
    assert [e["action"] for e in events] == ["source.delete", "source.update", "source.create"]
    assert listed.headers["X-Total-Count"] == "3"
    assert {(e["actor_token_id"], e["actor_name"], e["channel"]) for e in events} == {
        (editor.id, "ci-bot", "api")
    }
    update = events[1]
    assert update["before"]["name"] == "wh" and update["after"]["name"] == "wh2"

    by_action = client.get(
        f"{base}/audit-events", params={"action": "source.create", "actor": "ci-bot"}, headers=auth
    )
    assert [e["object_id"] for e in by_action.json()] == [source_id]
    future = client.get(
        f"{base}/audit-events", params={"since": "2999-01-01T00:00:00Z"}, headers=auth
    )
    assert future.json() == []
    viewer = {"Authorization": f"Bearer {viewer_plain}"}
    assert client.get(f"{base}/audit-events", headers=viewer).status_code == 403
