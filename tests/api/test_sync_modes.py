"""Seed 001 fields that were refused: ``label`` and ``mode`` (live = back-to-back runs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_helpers import Tenant

from syncline.context import AppContext
from syncline.domain.schedule import LIVE_MIN_INTERVAL
from syncline.scheduler.tick import tick


def test_label_is_accepted_stored_and_changed(tenant: Tenant) -> None:
    sync = tenant.sync(label="Nightly contacts")
    assert sync["label"] == "Nightly contacts"
    assert tenant.get(f"/syncs/{sync['id']}").json()["label"] == "Nightly contacts"
    changed = tenant.put(f"/syncs/{sync['id']}", json={"label": "Renamed"}).json()
    assert changed["label"] == "Renamed"
    plain = tenant.sync(name="no label")
    assert plain["label"] is None and plain["mode"] == {"type": "triggered"}


def test_mode_triggered_keeps_the_schedule(tenant: Tenant) -> None:
    sync = tenant.sync(mode={"type": "triggered"})
    assert sync["mode"] == {"type": "triggered"}
    assert sync["schedule"] == "0 */6 * * *" and sync["trigger_mode"] == "scheduled"


def test_mode_live_runs_back_to_back(tenant: Tenant, ctx: AppContext) -> None:
    before = datetime.now(UTC)
    sync = tenant.sync(mode={"type": "live"}, schedule=None)
    assert sync["mode"] == {"type": "live"}
    assert sync["schedule"] == {"frequency": "continuous"}
    assert sync["trigger_mode"] == "scheduled"
    nxt = datetime.fromisoformat(sync["next_run_at"])
    assert before + LIVE_MIN_INTERVAL <= nxt <= datetime.now(UTC) + LIVE_MIN_INTERVAL
    # the scheduler starts it when due, and again once the run has ended
    created = tick(ctx, now=nxt + timedelta(seconds=1))
    assert len(created) == 1
    assert tick(ctx, now=nxt + LIVE_MIN_INTERVAL + timedelta(seconds=2)) == []  # still running
    tenant.post(f"/syncs/{sync['id']}/runs/{created[0]}/cancel")
    again = tick(ctx, now=nxt + 3 * LIVE_MIN_INTERVAL)
    assert len(again) == 1 and again != created


def test_mode_live_refuses_a_clock_schedule(tenant: Tenant) -> None:
    resp = tenant.post("/syncs", json=tenant.sync_body(mode={"type": "live"}))
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert detail[0]["loc"] == ["body", "schedule"]
    assert "live" in detail[0]["msg"]
    bad = tenant.post("/syncs", json=tenant.sync_body(mode={"type": "sometimes"}))
    assert bad.status_code == 422
    manual = tenant.post(
        "/syncs", json=tenant.sync_body(mode={"type": "live"}, schedule=None, trigger_mode="manual")
    )
    assert manual.status_code == 422 and manual.json()["detail"][0]["loc"] == [
        "body",
        "trigger_mode",
    ]


def test_switching_live_off_and_on(tenant: Tenant) -> None:
    sync = tenant.sync(mode={"type": "live"}, schedule=None)
    off = tenant.put(f"/syncs/{sync['id']}", json={"mode": {"type": "triggered"}}).json()
    assert off["mode"] == {"type": "triggered"} and off["schedule"] is None
    assert off["trigger_mode"] == "manual" and off["next_run_at"] is None
    on = tenant.put(f"/syncs/{sync['id']}", json={"mode": {"type": "live"}}).json()
    assert on["schedule"] == {"frequency": "continuous"} and on["next_run_at"] is not None
    cron = tenant.put(
        f"/syncs/{sync['id']}", json={"mode": {"type": "triggered"}, "schedule": "0 * * * *"}
    ).json()
    assert cron["schedule"] == "0 * * * *" and cron["trigger_mode"] == "scheduled"


def test_field_order_refused_where_the_destination_cannot_order(tenant: Tenant) -> None:
    """Seed 001: field_order is "only allowed ... on destination objects that allow" it."""
    hook = tenant.created(
        "/destinations",
        {"name": "Hook", "type": "webhook", "config": {"url": "http://127.0.0.1:9/hook"}},
    )
    body = tenant.sync_body(destination_id=hook["id"], field_order="alphabetical_column_name")
    resp = tenant.post("/syncs", json=body)
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert detail[0]["loc"] == ["body", "field_order"]
    assert "webhook" in detail[0]["msg"] and "supports_field_ordering" in detail[0]["msg"]
    ok = tenant.post("/syncs", json={**body, "field_order": None})
    assert ok.status_code == 201
    # a file destination orders its columns: accepted
    on_file = tenant.sync(name="to file", field_order="alphabetical_column_name")
    assert on_file["field_order"] == "alphabetical_column_name"


def test_ordered_fields() -> None:
    from syncline.domain.mapping import ordered_fields

    names = ["email", "Zip", "customer_id", "FirstName"]
    assert ordered_fields(names, "alphabetical_column_name") == [
        "customer_id",
        "email",
        "FirstName",
        "Zip",
    ]
    assert ordered_fields(names, "mapping_order") == names
    assert ordered_fields(names, None) == names
