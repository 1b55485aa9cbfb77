"""``GET /syncs`` renders, byte for byte, what it rendered as ORM entities through the model.

The list is built from one Core query and serialised once (``services.sync_listing``,
``schemas.syncs.sync_list_json``, issue 16). The reference here is the previous path: the
ORM page of ``services.syncs.list_syncs``, each sync's health from ``services.health``,
``SyncOut.of`` per sync and ``list[SyncOut]`` serialised as FastAPI's ``response_model`` does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from api_helpers import Tenant, set_run
from pydantic import TypeAdapter

from syncline.api.schemas.syncs import SyncOut
from syncline.context import AppContext
from syncline.services import health as health_service
from syncline.services import syncs as sync_service
from syncline.services.common import PageRequest
from syncline.store.tables import Sync


def _reference(
    ctx: AppContext, workspace_id: str, page: PageRequest, **filters: Any
) -> tuple[bytes, int]:
    """The body and total the list had before: ORM rows, a model per sync, one dump."""
    with ctx.sessions() as session:
        result = sync_service.list_syncs(session, workspace_id=workspace_id, page=page, **filters)
        healths = health_service.sync_healths(session, result.items)
        models = [SyncOut.of(s, health=healths[s.id]) for s in result.items]
        return TypeAdapter(list[SyncOut]).dump_json(models), result.total


def _end_run(ctx: AppContext, tenant: Tenant, sync_id: str, **values: Any) -> None:
    """Trigger a run of ``sync_id`` and end it with ``values`` (as a worker would)."""
    run = tenant.post(f"/syncs/{sync_id}/trigger", json={})
    assert run.status_code == 201, run.text
    set_run(ctx, run.json()["id"], completed_at=datetime.now(UTC), **values)


@pytest.fixture
def workspace(tenant: Tenant, ctx: AppContext) -> Tenant:
    """Syncs covering every derived field: each health, freshness, a redacted error, ..."""
    tenant.setup()
    ok = tenant.sync(name="Contacts ok", label="crm", freshness_sla_seconds=60)
    _end_run(ctx, tenant, ok["id"], status="completed", result_class="success")
    _end_run(ctx, tenant, ok["id"], status="cancelled")  # passed over: still up to date
    failing = tenant.sync(name="Contacts 100%_off", description="Ünïcode — “quoted”")
    _end_run(ctx, tenant, failing["id"], status="completed", result_class="success")
    _end_run(ctx, tenant, failing["id"], status="failed", result_class="failure")
    partial = tenant.sync(
        name="Partial", schedule={"frequency": "weekly", "day": "Monday", "hour": 6, "minute": 30}
    )
    _end_run(ctx, tenant, partial["id"], status="completed", result_class="partial")
    pending = tenant.sync(name="Pending", freshness_sla_seconds=3600, paused=True)
    assert tenant.post(f"/syncs/{pending['id']}/trigger", json={}).status_code == 201
    broken = tenant.sync(
        name="Broken",
        trigger_after_sync_ids=[ok["id"]],
        config={"batch_size": 500, "nested": {"ratio": 0.1, "big": 10**15}},
    )
    with ctx.engine.begin() as conn:
        conn.execute(
            sa.update(Sync)
            .where(Sync.id == broken["id"])
            .values(
                status="error",
                status_error="connect postgresql://bob:hunter22@db/x failed",
                last_success_at=datetime.now(UTC) - timedelta(hours=2),
                state={"high_water_mark": "2024-01-01", "big": list(range(100))},
            )
        )
        conn.execute(
            sa.update(Sync)
            .where(Sync.id == ok["id"])
            .values(last_success_at=datetime.now(UTC), last_synced_at=datetime.now(UTC))
        )
    return tenant


CASES: list[tuple[dict[str, Any], PageRequest, dict[str, Any]]] = [
    ({}, PageRequest(per_page=None), {}),
    ({"per_page": 2}, PageRequest(per_page=2), {}),
    ({"per_page": 2, "page": 3}, PageRequest(page=3, per_page=2), {}),
    ({"per_page": 2, "page": 9}, PageRequest(page=9, per_page=2), {}),  # past the end
    ({"per_page": 50, "order": "desc"}, PageRequest(per_page=50, order="desc"), {}),
    ({"limit": 2, "offset": 1}, PageRequest(per_page=2, start=1), {}),
    ({"offset": 3}, PageRequest(per_page=None, start=3), {}),
    ({"status": "error"}, PageRequest(per_page=None), {"status": "error"}),
    ({"q": "CONTACTS"}, PageRequest(per_page=None), {"q": "CONTACTS"}),
    ({"q": "100%_"}, PageRequest(per_page=None), {"q": "100%_"}),
    ({"q": "%"}, PageRequest(per_page=None), {"q": "%"}),
    ({"q": "_"}, PageRequest(per_page=None), {"q": "_"}),
    ({"q": "/"}, PageRequest(per_page=None), {"q": "/"}),
    ({"q": "ünï"}, PageRequest(per_page=None), {"q": "ünï"}),
    ({"q": "o", "per_page": 1, "page": 2}, PageRequest(page=2, per_page=1), {"q": "o"}),
]


@pytest.mark.parametrize(("params", "page", "filters"), CASES)
def test_the_list_body_is_what_the_orm_path_rendered(
    workspace: Tenant,
    ctx: AppContext,
    params: dict[str, Any],
    page: PageRequest,
    filters: dict[str, Any],
) -> None:
    resp = workspace.get("/syncs", params=params)
    assert resp.status_code == 200, resp.text
    body, total = _reference(ctx, workspace.workspace_id, page, **filters)
    assert resp.content == body
    assert resp.headers["X-Total-Count"] == str(total)
    assert resp.headers["content-type"] == "application/json"


def test_model_and_destination_filters_match_too(workspace: Tenant, ctx: AppContext) -> None:
    other_model = workspace.model(workspace.ids["source"], name="Other")
    other_dest = workspace.destination("Other export")
    workspace.sync(name="On other model", model_id=other_model["id"])
    workspace.sync(name="On other destination", destination_id=other_dest["id"])
    everything = PageRequest(per_page=None)
    for key, value in (("model_id", other_model["id"]), ("destination_id", other_dest["id"])):
        resp = workspace.get("/syncs", params={key: value})
        body, total = _reference(ctx, workspace.workspace_id, everything, **{key: value})
        assert resp.content == body and len(resp.json()) == total == 1


def test_the_list_shows_every_health(workspace: Tenant) -> None:
    """The cases above are not vacuous: the page holds every health and a redacted error."""
    listed = {s["name"]: s for s in workspace.get("/syncs").json()}
    assert listed["Contacts ok"]["health"] == "up to date"
    assert listed["Contacts ok"]["freshness_status"] == "fresh"
    assert listed["Contacts 100%_off"]["health"] == "failing"
    assert listed["Partial"]["health"] == "warning"
    assert listed["Pending"]["health"] == "ready" and listed["Pending"]["paused"] is True
    assert listed["Broken"]["health"] == "failing"
    assert "hunter22" not in listed["Broken"]["status_error"]
    assert listed["Broken"]["freshness_status"] is None
    assert "state" not in listed["Broken"]


def test_a_workspace_sees_only_its_own_syncs(workspace: Tenant, other: Tenant) -> None:
    other.sync(name="Theirs")
    assert [s["name"] for s in other.get("/syncs").json()] == ["Theirs"]
    assert "Theirs" not in [s["name"] for s in workspace.get("/syncs").json()]
    assert other.get("/syncs").headers["X-Total-Count"] == "1"


@pytest.mark.parametrize(
    ("q", "names"),
    [("100%_", ["Contacts 100%_off"]), ("%", ["Contacts 100%_off"]), ("_", ["Contacts 100%_off"]),
     ("/", []), ("CONTACTS", ["Contacts ok", "Contacts 100%_off"])],
)  # fmt: skip
def test_name_contains_q_literally(workspace: Tenant, q: str, names: list[str]) -> None:
    """Both lists share the filters; this pins what ``q`` means on its own (no wildcards)."""
    assert [s["name"] for s in workspace.get("/syncs", params={"q": q}).json()] == names
