"""Runs: trigger (at most one active), history, cancel, retry as a linked attempt, records."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
import sqlalchemy as sa
from api_helpers import Tenant, set_run
from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.context import AppContext
from syncline.store.tables import RunRecord, SyncRun, utcnow

SEED_RUN_FIELDS = {
    "id",
    "sync_id",
    "workspace_id",
    "status",
    "started_at",
    "completed_at",
    "rows_synced",
    "rows_failed",
    "error_message",
    "triggered_by",
    "created_at",
}
LIFECYCLE_FIELDS = {
    "updated_at",
    "attempt_number",
    "attempt_root_run_id",
    "previous_attempt_run_id",
    "next_attempt_run_id",
    "executor_id",
    "last_heartbeat_at",
    "cancel_requested_at",
    "cancel_requested_by",
    "cancel_reason",
    "result_class",
    "result_reason_code",
    "run_mode",
    "execution_mode",
    "summary",
    "trigger_ref",
}


def test_trigger_creates_a_pending_run(tenant: Tenant, ctx: AppContext) -> None:
    sync = tenant.sync()
    resp = tenant.post(
        f"/syncs/{sync['id']}/trigger", headers={"X-Workspace-ID": tenant.workspace_id}
    )
    assert resp.status_code == 201, resp.text
    run = resp.json()
    assert set(run) == SEED_RUN_FIELDS | LIFECYCLE_FIELDS
    assert run["status"] == "pending"
    assert run["sync_id"] == sync["id"] and run["workspace_id"] == tenant.workspace_id
    assert run["rows_synced"] == 0 and run["rows_failed"] == 0
    assert run["error_message"] == ""
    assert run["triggered_by"] == tenant.token_id
    assert run["attempt_number"] == 1 and run["attempt_root_run_id"] == run["id"]
    assert run["run_mode"] == "incremental" and run["trigger_ref"] == "manual"
    assert re.match(r".*Z$", run["created_at"])
    # Enqueued exactly once, inside the transaction that created the row.
    assert ctx.queue.enqueued == [run["id"]]  # type: ignore[attr-defined]
    assert ctx.queue.in_transaction == [True]  # type: ignore[attr-defined]
    after = tenant.get(f"/syncs/{sync['id']}").json()
    assert after["last_run_id"] == run["id"]
    assert after["updated_at"] == sync["updated_at"]  # a run is not a config change


def test_trigger_twice_returns_the_active_run(tenant: Tenant, ctx: AppContext) -> None:
    sync = tenant.sync()
    first = tenant.post(f"/syncs/{sync['id']}/trigger")
    second = tenant.post(f"/syncs/{sync['id']}/trigger")
    assert first.status_code == 201 and second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    set_run(ctx, first.json()["id"], status="running", started_at=utcnow())
    third = tenant.post(f"/syncs/{sync['id']}/trigger")
    assert third.status_code == 200 and third.json()["id"] == first.json()["id"]
    set_run(ctx, first.json()["id"], status="completed", completed_at=utcnow())
    fourth = tenant.post(f"/syncs/{sync['id']}/trigger")
    assert fourth.status_code == 201 and fourth.json()["id"] != first.json()["id"]


def test_concurrent_triggers_make_one_run(tenant: Tenant, ctx: AppContext) -> None:
    sync = tenant.sync()
    app = create_app(ctx)
    results: list[tuple[int, str]] = []

    def hit() -> None:
        with TestClient(app) as c:
            r = c.post(tenant.url(f"/syncs/{sync['id']}/trigger"), headers=tenant.headers)
            results.append((r.status_code, r.json().get("id", r.text)))

    threads = [threading.Thread(target=hit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(code for code, _ in results)
    assert codes.count(201) == 1, results
    assert set(codes) <= {200, 201, 409}, results
    assert len({rid for code, rid in results if code in (200, 201)}) == 1
    with ctx.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(SyncRun)) == 1


def test_trigger_with_run_mode_and_bad_body(tenant: Tenant) -> None:
    sync = tenant.sync()
    bad = tenant.post(f"/syncs/{sync['id']}/trigger", json={"run_mode": "sideways"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "run_mode"]
    malformed = tenant.post(
        f"/syncs/{sync['id']}/trigger",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert malformed.status_code == 422
    resp = tenant.post(f"/syncs/{sync['id']}/trigger", json={"run_mode": "full"})
    assert resp.status_code == 201 and resp.json()["run_mode"] == "full"


def test_trigger_draft_is_409_but_paused_runs(tenant: Tenant) -> None:
    draft = tenant.sync(name="draft", status="draft")
    resp = tenant.post(f"/syncs/{draft['id']}/trigger")
    assert resp.status_code == 409 and "draft" in resp.json()["detail"]
    paused = tenant.sync(name="paused", paused=True)
    assert tenant.post(f"/syncs/{paused['id']}/trigger").status_code == 201


def test_trigger_unknown_sync_is_404(tenant: Tenant) -> None:
    resp = tenant.post(f"/syncs/{uuid.uuid4()}/trigger")
    assert resp.status_code == 404 and resp.json() == {"detail": "Sync not found"}


def test_list_and_get_runs(tenant: Tenant, ctx: AppContext) -> None:
    sync = tenant.sync()
    ids = []
    for _ in range(3):
        run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
        set_run(ctx, run["id"], status="completed", completed_at=utcnow(), rows_synced=5)
        ids.append(run["id"])
    resp = tenant.get(f"/syncs/{sync['id']}/runs", headers={"X-Workspace-ID": tenant.workspace_id})
    assert resp.status_code == 200
    assert [r["id"] for r in resp.json()] == ids[::-1]  # newest first
    assert resp.headers["X-Total-Count"] == "3"
    oldest = tenant.get(f"/syncs/{sync['id']}/runs", params={"order": "asc"}).json()
    assert [r["id"] for r in oldest] == ids
    one = tenant.get(f"/syncs/{sync['id']}/runs/{ids[0]}")
    assert one.status_code == 200
    assert one.json()["status"] == "completed" and one.json()["rows_synced"] == 5
    assert tenant.get(f"/syncs/{sync['id']}/runs", params={"status": "pending"}).json() == []
    missing = tenant.get(f"/syncs/{sync['id']}/runs/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json() == {"detail": "Run not found"}
    assert tenant.get(f"/syncs/{uuid.uuid4()}/runs").status_code == 404


def test_run_of_another_sync_is_404(tenant: Tenant) -> None:
    a = tenant.sync(name="a")
    b = tenant.sync(name="b")
    run = tenant.post(f"/syncs/{a['id']}/trigger").json()
    assert tenant.get(f"/syncs/{b['id']}/runs/{run['id']}").status_code == 404
    assert tenant.post(f"/syncs/{b['id']}/runs/{run['id']}/cancel").status_code == 404


def test_cancel_pending_run(tenant: Tenant) -> None:
    sync = tenant.sync()
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    resp = tenant.post(
        f"/syncs/{sync['id']}/runs/{run['id']}/cancel", json={"reason": "wrong mapping"}
    )
    assert resp.status_code == 200, resp.text
    cancelled = resp.json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["completed_at"] is not None
    assert cancelled["result_class"] == "cancelled"
    assert cancelled["result_reason_code"] == "cancelled_by_user"
    assert cancelled["cancel_reason"] == "wrong mapping"
    assert cancelled["cancel_requested_by"] == tenant.token_id
    assert cancelled["cancel_requested_at"] is not None
    # The sync is free again.
    assert tenant.post(f"/syncs/{sync['id']}/trigger").status_code == 201


def test_cancel_running_run_asks_the_worker(tenant: Tenant, ctx: AppContext) -> None:
    sync = tenant.sync()
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    set_run(ctx, run["id"], status="running", started_at=utcnow(), executor_id="w1")
    resp = tenant.post(f"/syncs/{sync['id']}/runs/{run['id']}/cancel")
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status"] == "running"
    assert body["cancel_requested_at"] is not None and body["cancel_reason"] == ""
    again = tenant.post(f"/syncs/{sync['id']}/runs/{run['id']}/cancel", json={"reason": "x"})
    assert again.status_code == 202
    assert again.json()["cancel_requested_at"] == body["cancel_requested_at"]


@pytest.mark.parametrize("final", ["completed", "failed", "cancelled"])
def test_cancel_finished_run_is_409(tenant: Tenant, ctx: AppContext, final: str) -> None:
    sync = tenant.sync()
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    set_run(ctx, run["id"], status=final, completed_at=utcnow())
    resp = tenant.post(f"/syncs/{sync['id']}/runs/{run['id']}/cancel")
    assert resp.status_code == 409
    assert final in resp.json()["detail"]


def test_retry_links_attempts_both_ways(tenant: Tenant, ctx: AppContext) -> None:
    sync = tenant.sync()
    first = tenant.post(f"/syncs/{sync['id']}/trigger", json={"run_mode": "full"}).json()
    set_run(ctx, first["id"], status="failed", completed_at=utcnow(), error_message="boom")
    resp = tenant.post(f"/syncs/{sync['id']}/runs/{first['id']}/retry")
    assert resp.status_code == 201, resp.text
    second = resp.json()
    assert second["status"] == "pending"
    assert second["attempt_number"] == 2
    assert second["attempt_root_run_id"] == first["id"]
    assert second["previous_attempt_run_id"] == first["id"]
    assert second["run_mode"] == "full"  # inherited
    assert second["trigger_ref"] == "retry" and second["triggered_by"] == tenant.token_id
    old = tenant.get(f"/syncs/{sync['id']}/runs/{first['id']}").json()
    assert old["next_attempt_run_id"] == second["id"]
    assert ctx.queue.enqueued == [first["id"], second["id"]]  # type: ignore[attr-defined]

    # Retrying the same run twice is refused; retrying the second attempt chains to the root.
    assert tenant.post(f"/syncs/{sync['id']}/runs/{second['id']}/retry").status_code == 409
    tenant.post(f"/syncs/{sync['id']}/runs/{second['id']}/cancel")
    twice = tenant.post(f"/syncs/{sync['id']}/runs/{first['id']}/retry")
    assert twice.status_code == 409 and "already retried" in twice.json()["detail"]
    third = tenant.post(
        f"/syncs/{sync['id']}/runs/{second['id']}/retry", json={"run_mode": "incremental"}
    ).json()
    assert third["attempt_number"] == 3
    assert third["attempt_root_run_id"] == first["id"]
    assert third["previous_attempt_run_id"] == second["id"]
    assert third["run_mode"] == "incremental"


@pytest.mark.parametrize("state", ["pending", "running", "completed"])
def test_retry_refused_unless_failed_or_cancelled(
    tenant: Tenant, ctx: AppContext, state: str
) -> None:
    sync = tenant.sync()
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    set_run(ctx, run["id"], status=state)
    resp = tenant.post(f"/syncs/{sync['id']}/runs/{run['id']}/retry")
    assert resp.status_code == 409 and state in resp.json()["detail"]


def test_retry_refused_while_sync_busy(tenant: Tenant, ctx: AppContext) -> None:
    sync = tenant.sync()
    failed = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    set_run(ctx, failed["id"], status="failed", completed_at=utcnow())
    busy = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    resp = tenant.post(f"/syncs/{sync['id']}/runs/{failed['id']}/retry")
    assert resp.status_code == 409 and busy["id"] in resp.json()["detail"]


def _add_records(ctx: AppContext, run: dict[str, str], n: int) -> None:
    with ctx.sessions() as s:
        for i in range(n):
            s.add(
                RunRecord(
                    run_id=run["id"],
                    sync_id=run["sync_id"],
                    workspace_id=run["workspace_id"],
                    primary_key=str(i),
                    operation="upsert" if i % 2 else "delete",
                    status="failed" if i % 3 else "succeeded",
                    error_class="rejected" if i % 3 else "",
                    error_message=f"bad record {i}" if i % 3 else "",
                    payload={"Email": f"user{i}"},
                )
            )
        s.commit()


def test_records_listing(tenant: Tenant, ctx: AppContext) -> None:
    sync = tenant.sync()
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    _add_records(ctx, run, 30)
    url = f"/syncs/{sync['id']}/runs/{run['id']}/records"
    everything = tenant.get(url, params={"per_page": 100})
    assert everything.status_code == 200 and everything.headers["X-Total-Count"] == "30"
    failed = tenant.get(url, params={"status": "failed", "per_page": 5, "page": 2})
    assert failed.status_code == 200
    assert failed.headers["X-Total-Count"] == "20"
    rows = failed.json()
    assert len(rows) == 5
    assert set(rows[0]) == {
        "id",
        "run_id",
        "primary_key",
        "operation",
        "status",
        "error_class",
        "error_message",
        "payload",
        "created_at",
    }
    assert all(r["status"] == "failed" and r["run_id"] == run["id"] for r in rows)
    assert [r["primary_key"] for r in rows] == ["8", "10", "11", "13", "14"]
    assert rows[0]["error_message"] == "bad record 8" and rows[0]["payload"] == {"Email": "user8"}
    deletes = tenant.get(url, params={"operation": "delete", "status": "failed"})
    assert all(r["operation"] == "delete" for r in deletes.json())
    assert tenant.get(url, params={"status": "weird"}).status_code == 422
    assert tenant.get(f"/syncs/{sync['id']}/runs/{uuid.uuid4()}/records").status_code == 404
