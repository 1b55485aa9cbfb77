"""Dry run and connection checks tell the truth (issue 12): saving a source or destination runs
its connection check and answers it (``?check=false`` skips it; a failed check never blocks the
save), and a dry run against a dead destination is a failed dry run with the reason."""

from __future__ import annotations

import socket

from api_helpers import Tenant
from fastapi.testclient import TestClient
from test_ui import csrf_of
from test_ui_actions import _login


def _dead_url() -> str:
    """An http URL on a local port nothing listens on: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def _dead_destination(tenant: Tenant, **params: str) -> dict[str, object]:
    body = {"name": "Dead hook", "type": "webhook", "config": {"url": _dead_url()}}
    resp = tenant.post("/destinations", json=body, params=params)
    assert resp.status_code == 201, resp.text  # saved, whatever the check found
    out: dict[str, object] = resp.json()
    return out


def test_saving_a_dead_destination_reports_the_failed_check(tenant: Tenant) -> None:
    dest = _dead_destination(tenant)
    check = dest["check"]
    assert isinstance(check, dict) and check["ok"] is False
    assert "cannot reach" in check["message"] and "127.0.0.1" in check["message"]
    assert tenant.get(f"/destinations/{dest['id']}").status_code == 200  # saved anyway
    renamed = tenant.put(f"/destinations/{dest['id']}", json={"name": "Still dead"})
    assert renamed.status_code == 200 and renamed.json()["check"]["ok"] is False
    skipped = tenant.put(
        f"/destinations/{dest['id']}", json={"name": "x"}, params={"check": "false"}
    )
    assert skipped.status_code == 200 and skipped.json()["check"] is None


def test_check_false_skips_the_check_on_create(tenant: Tenant) -> None:
    assert _dead_destination(tenant, check="false")["check"] is None


def test_saving_a_source_reports_its_check(tenant: Tenant) -> None:
    source = tenant.source()
    assert source["check"]["ok"] is True and source["check"]["checked_at"]
    broken = tenant.post(
        "/sources",
        json={
            "name": "Gone",
            "type": "postgres",
            "config": {"dsn": "postgresql://u@127.0.0.1:1/x"},
        },
    )
    assert broken.status_code == 201, broken.text
    assert broken.json()["check"]["ok"] is False and broken.json()["check"]["message"]


def test_dry_run_against_a_dead_destination_fails_with_the_reason(tenant: Tenant) -> None:
    tenant.setup()
    tenant.ids["destination"] = str(_dead_destination(tenant)["id"])
    sync = tenant.sync()
    resp = tenant.post(f"/syncs/{sync['id']}/dry-run", json={"sample_size": 1})
    assert resp.status_code == 200, resp.text
    plan = resp.json()
    assert plan["ok"] is False
    assert plan["error"].startswith("destination check failed: cannot reach")
    assert plan["checks"]["destination"]["ok"] is False
    assert plan["checks"]["source"]["ok"] is True
    assert plan["creates"]["count"] == 30  # the plan is still shown: what a run would try


def test_dry_run_against_a_live_destination_is_ok(tenant: Tenant) -> None:
    sync = tenant.sync()
    plan = tenant.post(f"/syncs/{sync['id']}/dry-run").json()
    assert (plan["ok"], plan["error"]) == (True, "")
    assert {k: c["ok"] for k, c in plan["checks"].items()} == {"source": True, "destination": True}


def test_the_dashboard_dry_run_shows_the_failed_check(client: TestClient, tenant: Tenant) -> None:
    tenant.setup()
    tenant.ids["destination"] = str(_dead_destination(tenant)["id"])
    sync = tenant.sync()
    base = f"/ui/syncs/{sync['id']}"
    _login(client, tenant.token)
    page = client.post(f"{base}/dry-run", data={"csrf_token": csrf_of(client.get(base).text)})
    assert page.status_code == 200
    assert 'role="alert">destination check failed: cannot reach' in page.text
