"""Every way a sync body can be wrong answers 422 in FastAPI's format, never 500."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from api_helpers import Tenant


def _errors(resp: Any) -> list[dict[str, Any]]:
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert isinstance(detail, list) and detail
    for err in detail:
        assert set(err) == {"loc", "msg", "type"}
    return list(detail)


def _locs(resp: Any) -> list[list[Any]]:
    return [e["loc"] for e in _errors(resp)]


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"sync_mode": "sideways"}, ["body", "sync_mode"]),
        ({"field_mapping": []}, ["body", "field_mapping"]),
        ({"schedule": "every tuesday"}, ["body", "schedule"]),
        ({"schedule": "0 */6 * * * *"}, ["body", "schedule"]),
        ({"schedule": "61 * * * *"}, ["body", "schedule"]),
        ({"schedule": "0 0 31 2 *"}, ["body", "schedule"]),
        ({"schedule": {"frequency": "fortnightly"}}, ["body", "schedule"]),
        ({"schedule": {"frequency": "weekly", "hour": 3}}, ["body", "schedule"]),
        ({"schedule": {"frequency": "daily", "hour": 24}}, ["body", "schedule"]),
        ({"schedule": {"frequency": "daily", "day": "Monday"}}, ["body", "schedule"]),
        ({"schedule": {"frequency": "expression", "expression": "bad"}}, ["body", "schedule"]),
        ({"schedule": 5}, ["body", "schedule"]),
        ({"primary_key": "nope"}, ["body", "primary_key"]),
        ({"primary_key": ""}, ["body", "primary_key"]),
        ({"name": ""}, ["body", "name"]),
        ({"name": "x" * 256}, ["body", "name"]),
        ({"model_id": "not-a-uuid"}, ["body", "model_id"]),
        ({"model_id": str(uuid.uuid4())}, ["body", "model_id"]),
        ({"destination_id": str(uuid.uuid4())}, ["body", "destination_id"]),
        (
            {"field_mapping": [{"source_column": "missing", "destination_field": "X"}]},
            ["body", "field_mapping", 0, "source_column"],
        ),
        (
            {"field_mapping": [{"destination_field": "X"}]},
            ["body", "field_mapping", 0],
        ),
        (
            {
                "field_mapping": [
                    {"source_column": "email", "constant_value": "x", "destination_field": "X"}
                ]
            },
            ["body", "field_mapping", 0],
        ),
        (
            {
                "field_mapping": [
                    {"source_column": "email", "destination_field": "X", "type_cast": "uuid"}
                ]
            },
            ["body", "field_mapping", 0, "type_cast"],
        ),
        (
            {
                "field_mapping": [
                    {"source_column": "email", "destination_field": "X"},
                    {"source_column": "first_name", "destination_field": "X"},
                ]
            },
            ["body", "field_mapping", 1, "destination_field"],
        ),
        ({"field_mapping": "email"}, ["body", "field_mapping"]),
        ({"field_normalization": "snake_case"}, ["body", "field_normalization"]),
        ({"field_behavior": "everything"}, ["body", "field_behavior"]),
        ({"field_order": "random"}, ["body", "field_order"]),
        ({"high_water_mark": "signed_up_at"}, ["body", "high_water_mark"]),
        ({"sync_mode": "append", "high_water_mark": "nope"}, ["body", "high_water_mark"]),
        ({"alert_attributes": [{"type": "PagerAlert"}]}, ["body", "alert_attributes", 0, "type"]),
        ({"alert_attributes": [{}]}, ["body", "alert_attributes", 0, "type"]),
        ({"trigger_mode": "sometimes"}, ["body", "trigger_mode"]),
        ({"trigger_mode": "scheduled", "schedule": None}, ["body", "trigger_mode"]),
        ({"trigger_after_sync_ids": [str(uuid.uuid4())]}, ["body", "trigger_after_sync_ids", 0]),
        ({"trigger_after_sync_ids": ["nope"]}, ["body", "trigger_after_sync_ids", 0]),
        ({"execution_mode": "parallel"}, ["body", "execution_mode"]),
        ({"execution_config": []}, ["body", "execution_config"]),
        ({"execution_config": {"shards": 0}}, ["body", "execution_config"]),
        ({"execution_config": {"shards": 65}}, ["body", "execution_config"]),
        ({"execution_config": {"shards": "4"}}, ["body", "execution_config"]),
        ({"execution_config": {"shards": True}}, ["body", "execution_config"]),
        ({"freshness_sla_seconds": 0}, ["body", "freshness_sla_seconds"]),
        ({"freshness_sla_seconds": 2**40}, ["body", "freshness_sla_seconds"]),
        ({"max_auto_resume_attempts": -1}, ["body", "max_auto_resume_attempts"]),
        ({"status": "error"}, ["body", "status"]),
        ({"status": "active", "paused": True}, ["body", "paused"]),
        ({"config": "x"}, ["body", "config"]),
        ({"shedule": "0 * * * *"}, ["body", "shedule"]),
        ({"sync_null_values": "maybe"}, ["body", "sync_null_values"]),
    ],
)
def test_create_rejects(tenant: Tenant, overrides: dict[str, Any], loc: list[Any]) -> None:
    resp = tenant.post("/syncs", json=tenant.sync_body(**overrides))
    assert loc in _locs(resp)
    assert tenant.get("/syncs").json() == []


@pytest.mark.parametrize(
    "missing", ["name", "model_id", "destination_id", "sync_mode", "primary_key"]
)
def test_required_fields(tenant: Tenant, missing: str) -> None:
    body = tenant.sync_body()
    del body[missing]
    errs = _errors(tenant.post("/syncs", json=body))
    assert ["body", missing] in [e["loc"] for e in errs]
    assert any(e["type"] == "missing" for e in errs)


def test_field_mapping_required_unless_sync_all(tenant: Tenant) -> None:
    body = tenant.sync_body()
    del body["field_mapping"]
    assert ["body", "field_mapping"] in _locs(tenant.post("/syncs", json=body))


def test_every_problem_reported_at_once(tenant: Tenant) -> None:
    body = tenant.sync_body(
        primary_key="nope",
        field_mapping=[{"source_column": "ghost", "destination_field": "X"}],
        destination_id=str(uuid.uuid4()),
    )
    locs = _locs(tenant.post("/syncs", json=body))
    assert ["body", "primary_key"] in locs
    assert ["body", "field_mapping", 0, "source_column"] in locs
    assert ["body", "destination_id"] in locs


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"[]", "application/json"),
        (b'"text"', "application/json"),
        (b"null", "application/json"),
        (b"name=x", "application/x-www-form-urlencoded"),
        (b'{"name": "x\\u0000y"}', "application/json"),
        (b'{"name": "\\ud800"}', "application/json"),
        (b'{"name": "x", "config": {"n": NaN}}', "application/json"),
    ],
)
def test_malformed_bodies(tenant: Tenant, content: bytes, content_type: str) -> None:
    resp = tenant.post("/syncs", content=content, headers={"Content-Type": content_type})
    _errors(resp)


def test_storage_hostile_values_rejected(tenant: Tenant) -> None:
    body = tenant.sync_body(config={"note": "nul \x00 inside"})
    assert _errors(tenant.post("/syncs", json=body))[0]["loc"] == ["body"]
    body = tenant.sync_body(
        field_mapping=[{"constant_value": {"k": "\x00"}, "destination_field": "X"}]
    )
    _errors(tenant.post("/syncs", json=body))


def test_validate_only_query_must_be_boolean(tenant: Tenant) -> None:
    resp = tenant.post("/syncs", params={"validate_only": "perhaps"}, json=tenant.sync_body())
    assert ["query", "validate_only"] in _locs(resp)


def test_unsupported_mode_for_destination(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    from syncline.connectors import registry
    from syncline.connectors.base import Capabilities, SyncMode

    real = registry.destination_class("file")

    class UpsertOnly(real):  # type: ignore[misc, valid-type]
        capabilities = Capabilities(modes=frozenset({SyncMode.UPSERT}))

    tenant.setup()
    monkeypatch.setattr(registry, "destination_class", lambda name: UpsertOnly)
    resp = tenant.post("/syncs", json=tenant.sync_body(sync_mode="mirror"))
    errs = _errors(resp)
    assert errs[0]["loc"] == ["body", "sync_mode"] and "upsert" in errs[0]["msg"]
    assert tenant.post("/syncs", json=tenant.sync_body(sync_mode="upsert")).status_code == 201


# --- updates: validated on the merged result, as strictly as a create ----------------------


@pytest.mark.parametrize(
    ("patch", "loc"),
    [
        ({"name": None}, ["body", "name"]),
        ({"field_mapping": None}, ["body", "field_mapping"]),
        ({"field_mapping": []}, ["body", "field_mapping"]),
        ({"sync_mode": "sideways"}, ["body", "sync_mode"]),
        ({"schedule": "not cron"}, ["body", "schedule"]),
        ({"primary_key": "nope"}, ["body", "primary_key"]),
        ({"model_id": str(uuid.uuid4())}, ["body", "model_id"]),
        ({"status": "error"}, ["body", "status"]),
        ({"paused": True, "status": "active"}, ["body", "paused"]),
        ({"unknown_field": 1}, ["body", "unknown_field"]),
        ({"trigger_mode": "scheduled", "schedule": None}, ["body", "trigger_mode"]),
        ({"high_water_mark": "email"}, ["body", "high_water_mark"]),
        ({"field_normalization": "camel_case"}, ["body", "field_normalization"]),
    ],
)
def test_update_rejects(tenant: Tenant, patch: dict[str, Any], loc: list[Any]) -> None:
    sync = tenant.sync()
    resp = tenant.put(f"/syncs/{sync['id']}", json=patch)
    assert loc in _locs(resp)
    assert tenant.get(f"/syncs/{sync['id']}").json() == sync


def test_update_clears_nullable_fields(tenant: Tenant) -> None:
    sync = tenant.sync(sync_mode="append", high_water_mark="signed_up_at", freshness_sla_seconds=60)
    resp = tenant.put(
        f"/syncs/{sync['id']}", json={"high_water_mark": None, "freshness_sla_seconds": None}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["high_water_mark"] is None and resp.json()["freshness_sla_seconds"] is None


def test_trigger_after_cycles_are_422(tenant: Tenant) -> None:
    a = tenant.sync(name="a")
    b = tenant.sync(name="b", trigger_after_sync_ids=[a["id"]])
    c = tenant.sync(name="c", trigger_after_sync_ids=[b["id"]])
    resp = tenant.put(f"/syncs/{a['id']}", json={"trigger_after_sync_ids": [c["id"]]})
    errs = _errors(resp)
    assert errs[0]["loc"] == ["body", "trigger_after_sync_ids"]
    assert "cycle" in errs[0]["msg"]
    selfish = tenant.put(f"/syncs/{a['id']}", json={"trigger_after_sync_ids": [a["id"]]})
    assert ["body", "trigger_after_sync_ids", 0] in _locs(selfish)
    ok = tenant.put(f"/syncs/{c['id']}", json={"trigger_after_sync_ids": [a["id"], b["id"]]})
    assert ok.status_code == 200
    # An upstream cannot be deleted while a downstream waits on it.
    blocked = tenant.delete(f"/syncs/{a['id']}")
    assert blocked.status_code == 409 and c["id"] in blocked.json()["detail"]


def test_stale_stored_values_are_422_not_500(tenant: Tenant, ctx: Any) -> None:
    import sqlalchemy as sa

    from syncline.store.tables import Sync

    sync = tenant.sync()
    with ctx.engine.begin() as conn:
        conn.execute(
            sa.update(Sync).where(Sync.id == sync["id"]).values(field_mapping=[{"bogus": 1}])
        )
    resp = tenant.put(f"/syncs/{sync['id']}", json={"name": "renamed"})
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"][:2] == ["body", "field_mapping"]
    fixed = tenant.put(
        f"/syncs/{sync['id']}",
        json={"field_mapping": [{"source_column": "email", "destination_field": "Email"}]},
    )
    assert fixed.status_code == 200
