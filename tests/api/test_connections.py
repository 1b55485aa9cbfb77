"""Sources and destinations: CRUD, connector type and config checks, secrets never shown."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from api_helpers import Tenant

from syncline.context import AppContext
from syncline.store.tables import Destination, Source

PG_CONFIG = {
    "dsn": "postgresql://app:hunter2@db.internal/crm",
    "table": "contacts",
}


def _stored(ctx: AppContext, table: type[Any], id: str) -> dict[str, Any]:
    with ctx.sessions() as s:
        row = s.scalar(sa.select(table).where(table.id == id))
        assert row is not None
        return dict(row.config)


def test_source_crud(tenant: Tenant, warehouse: str) -> None:
    source = tenant.source()
    assert set(source) == {
        "id",
        "workspace_id",
        "name",
        "type",
        "config",
        "created_at",
        "updated_at",
        "check",
    }
    assert source["type"] == "duckdb" and source["config"] == {"path": warehouse}
    assert source.pop("check")["ok"] is True  # saving ran the connection check
    read = {**source, "check": None}  # reads do not check
    assert tenant.get(f"/sources/{source['id']}").json() == read
    listed = tenant.get("/sources")
    assert listed.json() == [read] and listed.headers["X-Total-Count"] == "1"
    assert tenant.get("/sources", params={"type": "postgres"}).json() == []
    assert tenant.get("/sources", params={"q": "WARE"}).json() == [read]
    renamed = tenant.put(f"/sources/{source['id']}", json={"name": "Lake"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Lake"
    assert renamed.json()["config"] == source["config"]
    deleted = tenant.delete(f"/sources/{source['id']}")
    assert deleted.status_code == 200 and deleted.json() == {"status": "deleted"}
    missing = tenant.get(f"/sources/{source['id']}")
    assert missing.status_code == 404 and missing.json() == {"detail": "Source not found"}


def test_destination_crud(tenant: Tenant) -> None:
    dest = tenant.destination()
    assert dest["type"] == "file" and dest["config"]["format"] == "csv"
    assert dest.pop("check")["ok"] is True
    assert tenant.get(f"/destinations/{dest['id']}").json() == {**dest, "check": None}
    assert tenant.get("/destinations").json() == [{**dest, "check": None}]
    changed = tenant.put(
        f"/destinations/{dest['id']}",
        json={"config": {"path": dest["config"]["path"], "format": "jsonl"}},
    )
    assert changed.status_code == 200 and changed.json()["config"]["format"] == "jsonl"
    assert tenant.delete(f"/destinations/{dest['id']}").json() == {"status": "deleted"}
    missing = tenant.get(f"/destinations/{dest['id']}")
    assert missing.status_code == 404 and missing.json() == {"detail": "Destination not found"}


@pytest.mark.parametrize("kind", ["sources", "destinations"])
def test_unknown_type_lists_valid_types(tenant: Tenant, kind: str) -> None:
    resp = tenant.post(f"/{kind}", json={"name": "x", "type": "oracle", "config": {}})
    assert resp.status_code == 422
    err = resp.json()["detail"][0]
    assert err["loc"] == ["body", "type"]
    assert "postgres" in err["msg"] and "oracle" in err["msg"]


def test_config_checked_by_the_connector(tenant: Tenant) -> None:
    resp = tenant.post("/destinations", json={"name": "x", "type": "file", "config": {}})
    assert resp.status_code == 422
    assert ["body", "config", "path"] in [e["loc"] for e in resp.json()["detail"]]
    bad_format = tenant.post(
        "/destinations",
        json={"name": "x", "type": "file", "config": {"path": "/tmp", "format": "xlsx"}},
    )
    assert ["body", "config", "format"] in [e["loc"] for e in bad_format.json()["detail"]]
    typo = tenant.post(
        "/sources", json={"name": "x", "type": "duckdb", "config": {"paht": "/tmp/x.db"}}
    )
    assert typo.status_code == 422
    assert typo.json()["detail"][0]["loc"][:2] == ["body", "config"]


@pytest.mark.parametrize(
    "body",
    [
        {"type": "duckdb", "config": {}},
        {"name": "", "type": "duckdb"},
        {"name": "x", "type": "duckdb", "config": []},
        {"name": "x", "type": "duckdb", "colour": "red"},
        {"name": "x" * 256, "type": "duckdb"},
    ],
)
def test_bad_source_bodies(tenant: Tenant, body: dict[str, Any]) -> None:
    assert tenant.post("/sources", json=body).status_code == 422


def test_update_rejects_nulls_and_unknown_types(tenant: Tenant) -> None:
    source = tenant.source()
    for body in ({"name": None}, {"config": None}, {"type": "oracle"}, {"nope": 1}):
        resp = tenant.put(f"/sources/{source['id']}", json=body)
        assert resp.status_code == 422, body
    assert tenant.get(f"/sources/{source['id']}").json() == {**source, "check": None}


def test_secrets_encrypted_masked_and_kept(tenant: Tenant, ctx: AppContext) -> None:
    created = tenant.created(
        "/destinations", {"name": "CRM db", "type": "postgres", "config": PG_CONFIG}
    )
    assert created["config"] == {"dsn": "********", "table": "contacts"}
    assert tenant.get(f"/destinations/{created['id']}").json()["config"]["dsn"] == "********"
    assert "hunter2" not in json.dumps(tenant.get("/destinations").json())

    stored = _stored(ctx, Destination, created["id"])
    assert "hunter2" not in json.dumps(stored)
    assert stored["dsn"].startswith("enc:v1:")
    assert ctx.secrets.decrypt_config(stored)["dsn"] == PG_CONFIG["dsn"]

    # Sending the mask back keeps the secret; other fields change.
    kept = tenant.put(
        f"/destinations/{created['id']}",
        json={"config": {"dsn": "********", "table": "people"}},
    )
    assert kept.status_code == 200, kept.text
    assert kept.json()["config"] == {"dsn": "********", "table": "people"}
    again = ctx.secrets.decrypt_config(_stored(ctx, Destination, created["id"]))
    assert again == {"dsn": PG_CONFIG["dsn"], "table": "people"}

    # A new value replaces it.
    tenant.put(
        f"/destinations/{created['id']}",
        json={"config": {"dsn": "postgresql://app:s3cret@db/crm", "table": "people"}},
    )
    final = ctx.secrets.decrypt_config(_stored(ctx, Destination, created["id"]))
    assert final["dsn"] == "postgresql://app:s3cret@db/crm"


def test_mask_without_a_stored_secret_is_422(tenant: Tenant) -> None:
    resp = tenant.post(
        "/destinations",
        json={"name": "x", "type": "postgres", "config": {"dsn": "********", "table": "t"}},
    )
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "config", "dsn"]


def test_validation_errors_do_not_echo_secrets(tenant: Tenant) -> None:
    resp = tenant.post(
        "/destinations",
        json={"name": "x", "type": "postgres", "config": {"dsn": "postgresql://u:topsecret@h/d"}},
    )
    assert resp.status_code == 422
    assert "topsecret" not in resp.text


def test_source_in_use_cannot_be_deleted(tenant: Tenant, ctx: AppContext) -> None:
    ids = tenant.setup()
    resp = tenant.delete(f"/sources/{ids['source']}")
    assert resp.status_code == 409
    assert "used by models" in resp.json()["detail"] and ids["model"] in resp.json()["detail"]
    with ctx.sessions() as s:
        assert s.get(Source, ids["source"]) is not None


def test_destination_in_use_cannot_be_deleted(tenant: Tenant) -> None:
    sync = tenant.sync()
    resp = tenant.delete(f"/destinations/{tenant.ids['destination']}")
    assert resp.status_code == 409
    detail = resp.json()["detail"]
    assert "used by syncs" in detail and sync["id"] in detail and sync["name"] in detail
    tenant.delete(f"/syncs/{sync['id']}")
    assert tenant.delete(f"/destinations/{tenant.ids['destination']}").status_code == 200


def test_unknown_ids(tenant: Tenant) -> None:
    for kind, name in (("sources", "Source"), ("destinations", "Destination")):
        for method in ("GET", "DELETE"):
            resp = tenant.request(method, f"/{kind}/{uuid.uuid4()}")
            assert resp.status_code == 404 and resp.json() == {"detail": f"{name} not found"}
        resp = tenant.put(f"/{kind}/{uuid.uuid4()}", json={"name": "x"})
        assert resp.status_code == 404
