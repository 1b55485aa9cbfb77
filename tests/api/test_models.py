"""Models: column discovery on the source, primary key checks, previews, deletes in use."""

from __future__ import annotations

import base64
import uuid

import pytest
from api_helpers import Tenant


def test_create_discovers_columns(tenant: Tenant) -> None:
    source = tenant.source()
    model = tenant.model(source["id"], description="All customers")
    assert set(model) == {
        "id",
        "workspace_id",
        "source_id",
        "name",
        "description",
        "sql",
        "primary_key",
        "columns",
        "created_at",
        "updated_at",
    }
    names = [c["name"] for c in model["columns"]]
    assert names[:4] == ["customer_id", "email", "first_name", "last_name"]
    assert {"revenue", "signed_up_at", "active", "avatar", "score"} <= set(names)
    by_name = {c["name"]: c for c in model["columns"]}
    assert by_name["customer_id"]["type"] == "int64"
    assert by_name["email"]["type"] == "string"
    assert set(by_name["email"]) == {"name", "type", "nullable"}
    assert tenant.get(f"/models/{model['id']}").json() == model
    assert tenant.get("/models", params={"source_id": source["id"]}).json() == [model]


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"sql": "SELECT * FROM no_such_table"}, ["body", "sql"]),
        ({"sql": "SELEKT 1"}, ["body", "sql"]),
        ({"primary_key": "nope"}, ["body", "primary_key"]),
        ({"source_id": str(uuid.uuid4())}, ["body", "source_id"]),
        ({"source_id": "nope"}, ["body", "source_id"]),
        ({"sql": ""}, ["body", "sql"]),
        ({"colour": "red"}, ["body", "colour"]),
    ],
)
def test_create_rejects(tenant: Tenant, overrides: dict[str, str], loc: list[str]) -> None:
    source = tenant.source()
    body = {
        "name": "Customers",
        "source_id": source["id"],
        "sql": "SELECT * FROM customers",
        "primary_key": "customer_id",
        **overrides,
    }
    resp = tenant.post("/models", json=body)
    assert resp.status_code == 422, resp.text
    assert loc in [e["loc"] for e in resp.json()["detail"]]
    assert tenant.get("/models").json() == []


def test_bad_sql_message_is_useful(tenant: Tenant) -> None:
    source = tenant.source()
    resp = tenant.post(
        "/models",
        json={
            "name": "x",
            "source_id": source["id"],
            "sql": "SELECT * FROM no_such_table",
            "primary_key": "id",
        },
    )
    assert "no_such_table" in resp.json()["detail"][0]["msg"]


def test_update_rediscovers_and_checks_primary_key(tenant: Tenant) -> None:
    source = tenant.source()
    model = tenant.model(source["id"])
    narrowed = tenant.put(
        f"/models/{model['id']}", json={"sql": "SELECT customer_id, email FROM customers"}
    )
    assert narrowed.status_code == 200, narrowed.text
    assert [c["name"] for c in narrowed.json()["columns"]] == ["customer_id", "email"]
    bad_pk = tenant.put(f"/models/{model['id']}", json={"primary_key": "first_name"})
    assert bad_pk.status_code == 422
    assert bad_pk.json()["detail"][0]["loc"] == ["body", "primary_key"]
    ok = tenant.put(f"/models/{model['id']}", json={"primary_key": "email", "name": "By email"})
    assert ok.status_code == 200 and ok.json()["primary_key"] == "email"
    broken = tenant.put(f"/models/{model['id']}", json={"sql": "SELECT nope FROM customers"})
    assert broken.status_code == 422
    assert tenant.get(f"/models/{model['id']}").json() == ok.json()
    assert tenant.put(f"/models/{model['id']}", json={"sql": None}).status_code == 422


def test_preview_rows_are_json_safe(tenant: Tenant) -> None:
    source = tenant.source()
    model = tenant.model(source["id"])
    resp = tenant.post(f"/models/{model['id']}/preview", json={"limit": 3})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [c["name"] for c in body["columns"]] == [c["name"] for c in model["columns"]]
    assert len(body["rows"]) == 3
    first = body["rows"][0]
    assert first["customer_id"] == 1 and first["email"] == "user1@example.com"
    assert first["revenue"] == "10.50"
    assert first["signed_up_at"] == "2024-01-01T01:00:00Z"
    assert first["signup_date"] == "2024-01-02"
    assert first["active"] is False
    assert base64.b64decode(first["avatar"]) == b"bin1"
    assert body["rows"][2]["score"] is None
    default = tenant.post(f"/models/{model['id']}/preview")
    assert default.status_code == 200 and len(default.json()["rows"]) == 20
    everything = tenant.post(f"/models/{model['id']}/preview", json={"limit": 1000})
    assert len(everything.json()["rows"]) == 30


@pytest.mark.parametrize("limit", [0, -1, 1001, "many"])
def test_preview_limit_bounds(tenant: Tenant, limit: object) -> None:
    source = tenant.source()
    model = tenant.model(source["id"])
    resp = tenant.post(f"/models/{model['id']}/preview", json={"limit": limit})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "limit"]


def test_preview_of_empty_model(tenant: Tenant) -> None:
    source = tenant.source()
    model = tenant.model(source["id"], sql="SELECT * FROM customers WHERE false")
    body = tenant.post(f"/models/{model['id']}/preview").json()
    assert body["rows"] == [] and body["columns"] == model["columns"]


def test_model_in_use_cannot_be_deleted(tenant: Tenant) -> None:
    sync = tenant.sync()
    resp = tenant.delete(f"/models/{tenant.ids['model']}")
    assert resp.status_code == 409
    assert "used by syncs" in resp.json()["detail"] and sync["id"] in resp.json()["detail"]
    tenant.delete(f"/syncs/{sync['id']}")
    assert tenant.delete(f"/models/{tenant.ids['model']}").json() == {"status": "deleted"}
    missing = tenant.get(f"/models/{tenant.ids['model']}")
    assert missing.status_code == 404 and missing.json() == {"detail": "Model not found"}


def test_sync_checks_follow_model_columns(tenant: Tenant) -> None:
    tenant.setup()
    narrow = tenant.model(tenant.ids["source"], sql="SELECT customer_id, email FROM customers")
    resp = tenant.post("/syncs", json=tenant.sync_body(model_id=narrow["id"]))
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "field_mapping", 1, "source_column"]
