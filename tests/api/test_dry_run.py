"""``POST .../syncs/{syncId}/dry-run``: the plan with samples, and nothing written."""

from __future__ import annotations

from pathlib import Path

from api_helpers import Tenant


def test_dry_run_reports_plan_and_writes_nothing(tenant: Tenant) -> None:
    sync = tenant.sync(sync_mode="mirror")
    resp = tenant.post(f"/syncs/{sync['id']}/dry-run", json={"sample_size": 2})
    assert resp.status_code == 200, resp.text
    plan = resp.json()
    assert plan["creates"]["count"] == 30 and len(plan["creates"]["sample"]) == 2
    assert set(plan["creates"]["sample"][0]) == {"customer_id", "Email", "FirstName"}
    assert plan["updates"]["count"] == 0 and plan["deletes"]["count"] == 0
    assert plan["delete_guard"] == {"would_fail": False, "message": ""}
    assert plan["key_field"] == "customer_id"
    # Nothing written: no run, no output file.
    assert tenant.get(f"/syncs/{sync['id']}/runs").json() == []
    dest = tenant.get(f"/destinations/{tenant.ids['destination']}").json()
    assert list(Path(dest["config"]["path"]).rglob("*")) == []


def test_dry_run_without_body_and_errors(tenant: Tenant, other: Tenant) -> None:
    sync = tenant.sync()
    assert tenant.post(f"/syncs/{sync['id']}/dry-run").status_code == 200
    bad = tenant.post(f"/syncs/{sync['id']}/dry-run", json={"sample_size": 1000})
    assert bad.status_code == 422
    # another workspace's token sees no such sync
    assert (
        other.client.post(
            tenant.url(f"/syncs/{sync['id']}/dry-run"), headers=other.headers
        ).status_code
        == 404
    )


def test_dry_run_source_failure_is_502(tenant: Tenant) -> None:
    sync = tenant.sync()
    resp = tenant.put(f"/models/{tenant.ids['model']}", json={"sql": "SELECT * FROM customers"})
    assert resp.status_code == 200
    Path(tenant.warehouse).rename(tenant.warehouse + ".moved")
    try:
        resp = tenant.post(f"/syncs/{sync['id']}/dry-run")
        assert resp.status_code == 502 and "does not exist" in resp.json()["detail"]
    finally:
        Path(tenant.warehouse + ".moved").rename(tenant.warehouse)


def test_dry_run_with_zero_samples(tenant: Tenant) -> None:
    sync = tenant.sync(sync_mode="mirror")
    resp = tenant.post(f"/syncs/{sync['id']}/dry-run", json={"sample_size": 0})
    assert resp.status_code == 200, resp.text
    assert resp.json()["creates"] == {"count": 30, "sample": []}
