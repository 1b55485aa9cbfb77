"""The alert channel API (secrets encrypted and masked, test action) and the fired alerts."""

from __future__ import annotations

import sqlalchemy as sa
from api_helpers import Tenant

from syncline.context import AppContext
from syncline.store.alert_tables import AlertChannel, AlertEvent
from syncline.store.tables import Workspace


def test_channel_crud_masks_and_keeps_secrets(ctx: AppContext, tenant: Tenant) -> None:
    body = {
        "name": "ops",
        "type": "webhook",
        "config": {"url": "http://127.0.0.1:9/hook", "hmac_secret": "topsecret"},
    }
    created = tenant.created("/alert-channels", body)
    assert created["config"]["hmac_secret"] == "********"
    cid = created["id"]
    with ctx.sessions() as s:
        stored = s.get(AlertChannel, cid)
        assert stored is not None and "topsecret" not in str(stored.config)
    assert [c["id"] for c in tenant.get("/alert-channels").json()] == [cid]
    assert tenant.get(f"/alert-channels/{cid}").json()["name"] == "ops"
    changed = tenant.put(
        f"/alert-channels/{cid}",
        json={
            "name": "ops2",
            "config": {"url": "http://127.0.0.1:9/h2", "hmac_secret": "********"},
        },
    )
    assert changed.status_code == 200, changed.text
    with ctx.sessions() as s:
        stored = s.get(AlertChannel, cid)
        assert stored is not None
        assert ctx.secrets.decrypt_config(stored.config)["hmac_secret"] == "topsecret"
    patched = tenant.request("PATCH", f"/alert-channels/{cid}", json={"name": "ops3"})
    assert patched.json()["name"] == "ops3"
    slack = tenant.created(
        "/alert-channels",
        {"name": "s", "type": "slack", "config": {"url": "http://127.0.0.1:9/services/T/B/x"}},
    )
    assert slack["config"]["url"] == "********"
    bad = tenant.post("/alert-channels", json={"name": "x", "type": "email", "config": {}})
    assert bad.status_code == 422
    assert {tuple(e["loc"])[:3] for e in bad.json()["detail"]} == {
        ("body", "config", "host"),
        ("body", "config", "from_address"),
        ("body", "config", "to"),
    }
    assert tenant.delete(f"/alert-channels/{cid}").status_code == 200
    assert tenant.get(f"/alert-channels/{cid}").status_code == 404


def test_channel_of_another_workspace_is_not_found(tenant: Tenant, other: Tenant) -> None:
    cid = tenant.created(
        "/alert-channels",
        {"name": "ops", "type": "webhook", "config": {"url": "http://127.0.0.1:9/hook"}},
    )["id"]
    assert other.get(f"/alert-channels/{cid}").status_code == 404
    assert other.post(f"/alert-channels/{cid}/test").status_code == 404


def test_test_action_reports_failure(tenant: Tenant) -> None:
    cid = tenant.created(
        "/alert-channels",
        {"name": "ops", "type": "webhook", "config": {"url": "http://127.0.0.1:9/hook"}},
    )["id"]
    out = tenant.post(f"/alert-channels/{cid}/test").json()
    assert out["delivered"] is False and out["error"]


def test_alerts_list_paginated(ctx: AppContext, tenant: Tenant) -> None:
    with ctx.sessions.begin() as s:
        assert s.get(Workspace, tenant.workspace_id) is not None
        for i in range(3):
            s.add(
                AlertEvent(
                    workspace_id=tenant.workspace_id,
                    alert_type="FailureAlertConfiguration",
                    kind="alert",
                    message=f"m{i}",
                    payload={},
                    status="delivered" if i else "pending",
                    attempts=1,
                    last_error="",
                )
            )
    page = tenant.get("/alerts", params={"per_page": 2})
    assert page.status_code == 200
    assert page.headers["X-Total-Count"] == "3" and len(page.json()) == 2
    delivered = tenant.get("/alerts", params={"status": "delivered"}).json()
    assert len(delivered) == 2 and all(a["delivered"] for a in delivered)
    with ctx.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AlertEvent)) == 3
