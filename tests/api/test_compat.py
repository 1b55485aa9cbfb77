"""The vendor's Syncs API (seeds 001/002) under /compat/census/api/v1, in process."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from api_helpers import Tenant, set_run

from syncline.context import AppContext

BASE = "/compat/census/api/v1"


class Vendor:
    """The tenant's workspace, spoken to as the vendor's clients do."""

    def __init__(self, tenant: Tenant, basic: bool = False) -> None:
        self.t = tenant
        if basic:
            raw = base64.b64encode(f"bearer:secret-token:{tenant.token}".encode()).decode()
            self.headers = {"Authorization": f"Basic {raw}"}
        else:
            self.headers = {"Authorization": f"Bearer {tenant.token}"}

    def call(self, method: str, path: str, code: int = 200, **kw: Any) -> Any:
        resp = self.t.client.request(method, BASE + path, headers=self.headers, **kw)
        assert resp.status_code == code, resp.text
        return resp.json()


def full_body(v: Vendor) -> dict[str, Any]:
    """A create body with every field of seed 001's body table."""
    ids = v.t.setup()
    source = _int_of(v, "/sources", ids["source"])
    dest = _int_of(v, "/destinations", ids["destination"])
    return {
        "destination_attributes": {"connection_id": dest, "object": "Export"},
        "mappings": [
            {
                "from": {"type": "column", "data": "customer_id"},
                "to": "id",
                "is_primary_identifier": True,
            },
            {"from": {"type": "column", "data": "email"}, "to": "Email"},
            {
                "from": {"type": "constant_value", "data": {"basic_type": "text", "value": "web"}},
                "to": "Channel",
            },
        ],
        "operation": "upsert",
        "source_attributes": {
            "connection_id": source,
            "object": {
                "type": "table",
                "table_catalog": None,
                "table_schema": "main",
                "table_name": "customers",
            },
        },
        "advanced_configuration": {"batch_size": 500},
        "alert_attributes": [{"type": "FailureAlertConfiguration", "send_for": "first_time"}],
        "failed_record_notifications_enabled": True,
        "failed_record_notifications_threshold_percent": 50,
        "failed_run_notifications_enabled": True,
        "field_behavior": "specific_properties",
        "field_order": "mapping_order",
        "label": "Customers export",
        "mode": {"type": "triggered"},
        "paused": False,
        "schedule_frequency": "daily",
        "schedule_hour": 6,
        "schedule_minute": 30,
        "validate_only": False,
    }


def _int_of(v: Vendor, path: str, uuid: str) -> int:
    listed = v.call("GET", path)["data"]
    names = {"/sources": "Warehouse", "/destinations": "Export"}
    return int(next(x["id"] for x in listed if x["name"] == names[path]))


@pytest.mark.parametrize("basic", [False, True])
def test_auth_bearer_or_basic(tenant: Tenant, basic: bool) -> None:
    v = Vendor(tenant, basic=basic)
    out = v.call("GET", "/syncs")
    assert out["status"] == "success" and out["data"] == []
    assert out["pagination"] == {
        "total_records": 0,
        "per_page": 25,
        "prev_page": None,
        "page": 1,
        "next_page": None,
        "last_page": 1,
    }
    bad = tenant.client.get(BASE + "/syncs", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["status"] == "error"
    assert tenant.client.get(BASE + "/syncs").json()["message"].startswith("Not authenticated")


def test_create_with_every_seed_001_field(tenant: Tenant, ctx: AppContext) -> None:
    v = Vendor(tenant)
    body = full_body(v)
    created = v.call("POST", "/syncs", 201, json=body)
    assert created["status"] == "created"
    sync = created["data"]
    assert isinstance(sync["sync_id"], int) and sync["id"] == sync["sync_id"]
    got = v.call("GET", f"/syncs/{sync['id']}")["data"]
    assert got["label"] == "Customers export" and got["status"] == "ready"
    assert got["operation"] == "upsert" and got["paused"] is False
    assert got["source_attributes"]["object"] == body["source_attributes"]["object"]
    assert got["destination_attributes"] == body["destination_attributes"]
    assert [m["to"] for m in got["mappings"]] == ["id", "Email", "Channel"]
    assert got["mappings"][0]["is_primary_identifier"] is True
    assert got["mappings"][2]["from"] == {"type": "constant_value", "data": "web"}
    assert got["schedule_frequency"] == "daily" and got["schedule_hour"] == 6
    assert got["schedule_minute"] == 30 and got["cron_expression"] is None
    assert got["mode"] == {"type": "triggered"} and got["field_order"] == "mapping_order"
    assert got["advanced_configuration"] == {"batch_size": 500}
    assert got["alert_attributes"] == body["alert_attributes"]  # alert_attributes win
    assert got["resource_identifier"] == f"sync:{sync['id']}"
    # the same sync in the primary API
    primary = tenant.get("/syncs").json()
    assert len(primary) == 1 and primary[0]["label"] == "Customers export"
    assert primary[0]["schedule"] == {"frequency": "daily", "hour": 6, "minute": 30}
    # validate_only creates nothing
    again = v.call("POST", "/syncs", 200, json={**body, "validate_only": True})
    assert again == {"status": "success", "data": {"valid": True}}
    assert v.call("GET", "/syncs")["pagination"]["total_records"] == 1


def test_list_pages_and_stable_ids(tenant: Tenant) -> None:
    v = Vendor(tenant)
    body = full_body(v)
    made = [
        v.call("POST", "/syncs", 201, json={**body, "label": f"s{i}"})["data"]["id"]
        for i in range(5)
    ]
    first = v.call("GET", "/syncs", params={"page": 1, "per_page": 2, "order": "desc"})
    assert [s["id"] for s in first["data"]] == made[::-1][:2]
    assert first["pagination"] == {
        "total_records": 5,
        "per_page": 2,
        "prev_page": None,
        "page": 1,
        "next_page": 2,
        "last_page": 3,
    }
    last = v.call("GET", "/syncs", params={"page": 3, "per_page": 2})
    assert [s["id"] for s in last["data"]] == made[4:]
    assert last["pagination"]["prev_page"] == 2 and last["pagination"]["next_page"] is None
    assert v.call("GET", "/syncs", params={"page": 0, "per_page": 2})["pagination"]["page"] == 1
    assert [s["id"] for s in v.call("GET", "/syncs")["data"]] == made  # same ints every time
    bad = tenant.client.get(BASE + "/syncs", headers=v.headers, params={"per_page": 101})
    assert bad.status_code == 422 and bad.json()["status"] == "error"


def test_trigger_poll_and_status(tenant: Tenant, ctx: AppContext) -> None:
    v = Vendor(tenant)
    sid = v.call("POST", "/syncs", 201, json=full_body(v))["data"]["id"]
    trig = v.call("POST", f"/syncs/{sid}/trigger", json={"force_full_sync": True})
    run_id = trig["data"]["sync_run_id"]
    assert trig["status"] == "success" and isinstance(run_id, int)
    run = v.call("GET", f"/sync_runs/{run_id}")["data"]
    assert run["status"] == "queued" and run["sync_id"] == sid and run["full_sync"] is True
    uuid = tenant.get(f"/syncs/{tenant.get('/syncs').json()[0]['id']}/runs").json()[0]["id"]
    set_run(ctx, uuid, status="running")
    assert v.call("GET", f"/sync_runs/{run_id}")["data"]["status"] == "working"
    set_run(ctx, uuid, status="completed", rows_synced=7, rows_failed=1)
    done = v.call("GET", f"/sync_runs/{run_id}")["data"]
    assert done["status"] == "completed"
    assert (done["records_processed"], done["records_updated"], done["records_failed"]) == (
        8,
        7,
        1,
    )
    assert v.call("GET", f"/syncs/{sid}")["data"]["status"] == "up to date"
    runs = v.call("GET", f"/syncs/{sid}/sync_runs")
    assert [r["id"] for r in runs["data"]] == [run_id]
    again = v.call("POST", f"/syncs/{sid}/trigger")["data"]["sync_run_id"]
    assert again != run_id
    newest = tenant.get(f"/syncs/{tenant.get('/syncs').json()[0]['id']}/runs").json()[0]["id"]
    set_run(ctx, newest, status="failed", error_message="boom")
    assert v.call("GET", f"/syncs/{sid}")["data"]["status"] == "failing"
    assert v.call("GET", f"/sync_runs/{again}")["data"]["error_message"] == "boom"


def test_patch_delete_and_vendor_errors(tenant: Tenant, other: Tenant) -> None:
    v = Vendor(tenant)
    body = full_body(v)
    sid = v.call("POST", "/syncs", 201, json=body)["data"]["id"]
    upd = v.call(
        "PATCH",
        f"/syncs/{sid}",
        json={"label": "Renamed", "paused": True, "schedule_frequency": "never"},
    )
    assert upd["status"] == "updated"
    assert upd["data"]["label"] == "Renamed" and upd["data"]["paused"] is True
    assert upd["data"]["schedule_frequency"] == "never"
    live = v.call("PATCH", f"/syncs/{sid}", json={"mode": {"type": "live"}})["data"]
    assert live["mode"] == {"type": "live"} and live["schedule_frequency"] == "continuous"
    # the other workspace cannot see it, even by its integer
    ov = Vendor(other)
    gone = other.client.get(BASE + f"/syncs/{sid}", headers=ov.headers)
    assert gone.status_code == 404 and gone.json() == {
        "status": "not_found",
        "message": "Sync not found",
    }
    seg = {
        **body,
        "source_attributes": {**body["source_attributes"], "object": {"type": "segment", "id": 3}},
    }
    refused = tenant.client.post(BASE + "/syncs", headers=v.headers, json=seg)
    assert refused.status_code == 422 and "not supported" in refused.json()["message"]
    typo = tenant.client.post(BASE + "/syncs", headers=v.headers, json={**body, "lable": "x"})
    assert typo.status_code == 422 and typo.json()["status"] == "error"
    bad_col = {
        **body,
        "mappings": [*body["mappings"], {"from": {"type": "column", "data": "nope"}, "to": "X"}],
    }
    col = tenant.client.post(BASE + "/syncs", headers=v.headers, json=bad_col)
    assert col.status_code == 422 and "nope" in col.json()["message"]
    assert col.json()["errors"][0]["field"] == "mappings.3.from.data"
    assert v.call("DELETE", f"/syncs/{sid}")["status"] == "success"
    assert tenant.client.get(BASE + f"/syncs/{sid}", headers=v.headers).status_code == 404


def test_sources_destinations_and_types(tenant: Tenant) -> None:
    v = Vendor(tenant)
    tenant.setup()
    src = v.call("GET", "/sources")["data"][0]
    assert v.call("GET", f"/sources/{src['id']}")["data"]["type"] == "duckdb"
    dst = v.call("GET", "/destinations")["data"][0]
    assert v.call("GET", f"/destinations/{dst['id']}")["data"]["name"] == "Export"
    assert "duckdb" in {t["name"] for t in v.call("GET", "/source_types")["data"]}
    file_type = next(t for t in v.call("GET", "/destination_types")["data"] if t["name"] == "file")
    assert file_type["supports_field_ordering"] is True


@pytest.mark.parametrize(
    ("where", "number"),
    [
        ("destination_attributes.connection_id", -812645254828212243922944),
        ("source_attributes.connection_id", 274353857161245248000),
        ("source_attributes.object.id", 2**63),
        ("destination_attributes.connection_id", 0),
    ],
)
def test_ids_past_64_bits_are_refused_not_500(tenant: Tenant, where: str, number: int) -> None:
    """Schemathesis found it: a body id past SQLite's and PostgreSQL's 64-bit INTEGER raised
    OverflowError from the store (a 500); body ids are now bounded as the path's ids are."""
    v = Vendor(tenant)
    body = full_body(v)
    if where.endswith("object.id"):
        body["source_attributes"]["object"] = {"type": "model", "id": number}
    else:
        body[where.split(".")[0]]["connection_id"] = number
    out = v.call("POST", "/syncs", 422, json=body)
    assert out["status"] == "error" and where.split(".")[-1] in out["message"]
    assert v.call("GET", "/syncs")["pagination"]["total_records"] == 0
