"""The seed 000 sync endpoints: create, list, get, update, delete, with the seed's examples."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from api_helpers import Tenant

from syncline.context import AppContext

SEED_SYNC_FIELDS = {
    "id",
    "workspace_id",
    "model_id",
    "destination_id",
    "name",
    "description",
    "field_mapping",
    "sync_mode",
    "schedule",
    "config",
    "primary_key",
    "status",
    "status_error",
    "created_by",
    "created_at",
    "updated_at",
    "last_synced_at",
    "last_run_id",
}
EXTRA_FIELDS = {
    "paused",
    "sync_null_values",
    "field_behavior",
    "field_normalization",
    "field_order",
    "high_water_mark",
    "alert_attributes",
    "trigger_mode",
    "trigger_after_sync_ids",
    "execution_mode",
    "execution_config",
    "freshness_sla_seconds",
    "max_auto_resume_attempts",
    "next_run_at",
    "last_success_at",
    "freshness_status",
    "label",
    "health",
    "mode",
}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_create_with_the_seed_example_body(tenant: Tenant) -> None:
    body = tenant.sync_body()
    resp = tenant.post(
        "/syncs",
        json=body,
        headers={"X-Workspace-ID": tenant.workspace_id, "Content-Type": "application/json"},
    )
    assert resp.status_code == 201, resp.text
    sync = resp.json()
    assert set(sync) == SEED_SYNC_FIELDS | EXTRA_FIELDS
    assert uuid.UUID(sync["id"])
    assert sync["workspace_id"] == tenant.workspace_id
    assert sync["model_id"] == body["model_id"]
    assert sync["destination_id"] == body["destination_id"]
    assert sync["name"] == "Customers to Salesforce"
    assert sync["description"] == ""
    assert sync["field_mapping"] == body["field_mapping"]
    assert sync["sync_mode"] == "upsert"
    assert sync["schedule"] == "0 */6 * * *"
    assert sync["config"] == {}
    assert sync["primary_key"] == "customer_id"
    assert sync["status"] == "active"
    assert sync["status_error"] == ""
    assert sync["created_by"] == tenant.token_id
    assert ISO_Z.match(sync["created_at"]) and ISO_Z.match(sync["updated_at"])
    assert sync["last_synced_at"] is None and sync["last_run_id"] is None
    assert sync["paused"] is False
    assert sync["sync_null_values"] is True
    assert sync["field_behavior"] == "specific_properties"
    assert sync["trigger_mode"] == "scheduled"
    assert sync["execution_mode"] == "sequential"
    assert sync["max_auto_resume_attempts"] == 2
    assert sync["alert_attributes"] == [] and sync["trigger_after_sync_ids"] == []
    nxt = datetime.fromisoformat(sync["next_run_at"].replace("Z", "+00:00"))
    assert nxt.minute == 0 and nxt.hour % 6 == 0 and ISO_Z.match(sync["next_run_at"])


def test_get_list_and_seed_update(tenant: Tenant) -> None:
    sync = tenant.sync()
    got = tenant.get(f"/syncs/{sync['id']}", headers={"X-Workspace-ID": tenant.workspace_id})
    assert got.status_code == 200 and got.json() == sync

    listed = tenant.get("/syncs", headers={"X-Workspace-ID": tenant.workspace_id})
    assert listed.status_code == 200
    assert listed.json() == [sync]

    resp = tenant.put(f"/syncs/{sync['id']}", json={"schedule": "0 */12 * * *", "status": "paused"})
    assert resp.status_code == 200, resp.text
    updated = resp.json()
    assert updated["schedule"] == "0 */12 * * *"
    assert updated["status"] == "paused" and updated["paused"] is True
    assert updated["next_run_at"] is None  # paused syncs are not scheduled
    assert updated["field_mapping"] == sync["field_mapping"]  # untouched fields kept
    assert updated["created_at"] == sync["created_at"]
    assert updated["updated_at"] >= sync["updated_at"]

    resumed = tenant.put(f"/syncs/{sync['id']}", json={"paused": False}).json()
    assert resumed["status"] == "active" and resumed["paused"] is False
    assert resumed["next_run_at"] is not None


def test_delete(tenant: Tenant) -> None:
    sync = tenant.sync()
    tenant.post(f"/syncs/{sync['id']}/trigger")
    resp = tenant.delete(f"/syncs/{sync['id']}", headers={"X-Workspace-ID": tenant.workspace_id})
    assert resp.status_code == 200
    assert resp.json() == {"status": "deleted"}
    assert tenant.get(f"/syncs/{sync['id']}").status_code == 404
    again = tenant.delete(f"/syncs/{sync['id']}")
    assert again.status_code == 404 and again.json() == {"detail": "Sync not found"}


def test_unknown_sync_is_404(tenant: Tenant) -> None:
    resp = tenant.get(f"/syncs/{uuid.uuid4()}")
    assert resp.status_code == 404
    assert resp.json() == {"detail": "Sync not found"}


def test_create_with_every_extension_field(tenant: Tenant) -> None:
    tenant.setup()
    upstream = tenant.sync(name="Upstream")
    body = tenant.sync_body(
        name="Events",
        description="Signups as events",
        sync_mode="append",
        field_mapping=[
            {"source_column": "email", "destination_field": "email", "type_cast": "string"},
            {"constant_value": "web", "destination_field": "channel"},
            {"source_column": "revenue", "destination_field": "revenue", "type_cast": "number"},
        ],
        schedule={"frequency": "weekly", "day": "Monday", "hour": 6, "minute": 30},
        config={"batch_size": 500},
        sync_null_values=False,
        field_order="mapping_order",
        high_water_mark="signed_up_at",
        alert_attributes=[
            {"type": "FailureAlertConfiguration", "send_for": "first_time"},
            {"type": "InvalidRecordPercentAlertConfiguration", "threshold": 25},
        ],
        trigger_after_sync_ids=[upstream["id"]],
        execution_mode="fan_out_window",
        execution_config={"window": "1d"},
        freshness_sla_seconds=3600,
        max_auto_resume_attempts=5,
        paused=True,
    )
    sync = tenant.created("/syncs", body)
    for key in (
        "description",
        "sync_mode",
        "field_mapping",
        "schedule",
        "config",
        "sync_null_values",
        "field_order",
        "high_water_mark",
        "alert_attributes",
        "trigger_after_sync_ids",
        "execution_mode",
        "execution_config",
        "freshness_sla_seconds",
        "max_auto_resume_attempts",
    ):
        assert sync[key] == body[key], key
    assert sync["status"] == "paused" and sync["paused"] is True
    assert sync["next_run_at"] is None


def test_sync_all_properties_needs_no_mapping(tenant: Tenant) -> None:
    sync = tenant.sync(
        field_mapping=[], field_behavior="sync_all_properties", field_normalization="snake_case"
    )
    assert sync["field_behavior"] == "sync_all_properties"
    assert sync["field_normalization"] == "snake_case"
    assert sync["field_mapping"] == []


def test_trigger_mode_defaults_and_frequency_schedules(tenant: Tenant) -> None:
    manual = tenant.sync(name="manual", schedule=None)
    assert manual["trigger_mode"] == "manual" and manual["next_run_at"] is None
    never = tenant.sync(name="never", schedule={"frequency": "never"})
    assert never["trigger_mode"] == "scheduled" and never["next_run_at"] is None
    hourly = tenant.sync(name="hourly", schedule={"frequency": "hourly", "minute": 15})
    assert hourly["schedule"] == {"frequency": "hourly", "minute": 15}
    assert datetime.fromisoformat(hourly["next_run_at"]).minute == 15
    # Adding a schedule to a manual sync makes it scheduled, removing it makes it manual again.
    scheduled = tenant.put(f"/syncs/{manual['id']}", json={"schedule": "*/5 * * * *"}).json()
    assert scheduled["trigger_mode"] == "scheduled" and scheduled["next_run_at"] is not None
    back = tenant.put(f"/syncs/{manual['id']}", json={"schedule": None}).json()
    assert back["trigger_mode"] == "manual" and back["next_run_at"] is None


def test_on_create_trigger_starts_a_run(tenant: Tenant, ctx: AppContext) -> None:
    sync = tenant.sync(schedule=None, trigger_mode="on_create")
    runs = tenant.get(f"/syncs/{sync['id']}/runs").json()
    assert len(runs) == 1 and runs[0]["status"] == "pending"
    assert runs[0]["trigger_ref"] == "on_create"
    assert ctx.queue.enqueued == [runs[0]["id"]]  # type: ignore[attr-defined]
    assert tenant.get(f"/syncs/{sync['id']}").json()["last_run_id"] == runs[0]["id"]


def test_validate_only_creates_nothing(tenant: Tenant) -> None:
    for kwargs in (
        {"params": {"validate_only": "true"}, "json": tenant.sync_body()},
        {"json": tenant.sync_body(validate_only=True)},
    ):
        resp = tenant.post("/syncs", **kwargs)
        assert resp.status_code == 200, resp.text
        preview = resp.json()
        assert preview["id"] is None and preview["created_at"] is None
        assert preview["name"] == "Customers to Salesforce"
        assert preview["next_run_at"] is not None
        assert preview["created_by"] == tenant.token_id
    assert tenant.get("/syncs").json() == []
    bad = tenant.post(
        "/syncs", params={"validate_only": "true"}, json=tenant.sync_body(primary_key="nope")
    )
    assert bad.status_code == 422


def test_status_transitions_and_error_cleared(tenant: Tenant, ctx: AppContext) -> None:
    import sqlalchemy as sa

    from syncline.store.tables import Sync

    sync = tenant.sync(status="draft")
    assert sync["status"] == "draft" and sync["next_run_at"] is None
    assert (
        tenant.put(f"/syncs/{sync['id']}", json={"status": "active"}).json()["status"] == "active"
    )
    with ctx.engine.begin() as conn:
        conn.execute(
            sa.update(Sync).where(Sync.id == sync["id"]).values(status="error", status_error="boom")
        )
    failing = tenant.get(f"/syncs/{sync['id']}").json()
    assert failing["status"] == "error" and failing["status_error"] == "boom"
    renamed = tenant.put(f"/syncs/{sync['id']}", json={"name": "Renamed"}).json()
    assert renamed["status"] == "error" and renamed["status_error"] == "boom"
    fixed = tenant.put(f"/syncs/{sync['id']}", json={"status": "active"}).json()
    assert fixed["status"] == "active" and fixed["status_error"] == ""
    bad = tenant.put(f"/syncs/{sync['id']}", json={"status": "error"})
    assert bad.status_code == 422


def test_list_filters(tenant: Tenant) -> None:
    ids = tenant.setup()
    other_model = tenant.model(ids["source"], name="Other")
    other_dest = tenant.destination("Other export")
    a = tenant.sync(name="Alpha contacts")
    b = tenant.sync(name="Beta contacts", status="paused", model_id=other_model["id"])
    c = tenant.sync(name="Gamma", destination_id=other_dest["id"])

    def names(**params: str) -> list[str]:
        resp = tenant.get("/syncs", params=params)
        assert resp.status_code == 200, resp.text
        return [s["name"] for s in resp.json()]

    assert names() == [a["name"], b["name"], c["name"]]
    assert names(status="paused") == [b["name"]]
    assert names(status="active") == [a["name"], c["name"]]
    assert names(model_id=other_model["id"]) == [b["name"]]
    assert names(destination_id=other_dest["id"]) == [c["name"]]
    assert names(q="CONTACTS") == [a["name"], b["name"]]
    assert names(q="%") == []
    assert names(q="contacts", status="paused") == [b["name"]]
    assert tenant.get("/syncs", params={"status": "bogus"}).status_code == 422
    assert tenant.get("/syncs", params={"model_id": "nope"}).status_code == 422
