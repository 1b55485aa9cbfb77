"""Workspace isolation on every route: another workspace's ids are never visible or usable."""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import Tenant, set_run

from syncline.context import AppContext
from syncline.store.tables import utcnow

# (method, path under the workspace, JSON body) for every workspace-scoped operation.
ROUTES: list[tuple[str, str, Any]] = [
    ("GET", "/sources/{source}", None),
    ("PUT", "/sources/{source}", {"name": "mine now"}),
    ("DELETE", "/sources/{source}", None),
    ("GET", "/models/{model}", None),
    ("PUT", "/models/{model}", {"name": "mine now"}),
    ("DELETE", "/models/{model}", None),
    ("POST", "/models/{model}/preview", {"limit": 5}),
    ("GET", "/destinations/{destination}", None),
    ("PUT", "/destinations/{destination}", {"name": "mine now"}),
    ("DELETE", "/destinations/{destination}", None),
    ("GET", "/syncs/{sync}", None),
    ("PUT", "/syncs/{sync}", {"name": "mine now"}),
    ("DELETE", "/syncs/{sync}", None),
    ("POST", "/syncs/{sync}/trigger", None),
    ("GET", "/syncs/{sync}/runs", None),
    ("GET", "/syncs/{sync}/runs/{run}", None),
    ("POST", "/syncs/{sync}/runs/{run}/cancel", None),
    ("POST", "/syncs/{sync}/runs/{run}/retry", None),
    ("GET", "/syncs/{sync}/runs/{run}/records", None),
]
LISTS = ["/sources", "/models", "/destinations", "/syncs"]


@pytest.fixture
def victim(tenant: Tenant, ctx: AppContext) -> dict[str, str]:
    """Workspace A with one of everything, and a failed run (retryable, cancellable-ish)."""
    ids = dict(tenant.setup())
    sync = tenant.sync()
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    set_run(ctx, run["id"], status="failed", completed_at=utcnow())
    ids.update(sync=sync["id"], run=run["id"])
    return ids


def _snapshot(tenant: Tenant, ids: dict[str, str]) -> list[Any]:
    return [
        tenant.get(f"/sources/{ids['source']}").json(),
        tenant.get(f"/models/{ids['model']}").json(),
        tenant.get(f"/destinations/{ids['destination']}").json(),
        tenant.get(f"/syncs/{ids['sync']}").json(),
        tenant.get(f"/syncs/{ids['sync']}/runs").json(),
    ]


@pytest.mark.parametrize(("method", "template", "body"), ROUTES)
def test_foreign_ids_are_404(
    tenant: Tenant,
    other: Tenant,
    victim: dict[str, str],
    method: str,
    template: str,
    body: Any,
) -> None:
    before = _snapshot(tenant, victim)
    path = template.format(**victim)
    kwargs = {"json": body} if body is not None else {}
    # B's token, B's workspace, A's object ids.
    resp = other.request(method, path, **kwargs)
    assert resp.status_code == 404, resp.text
    assert resp.json()["detail"].endswith("not found")
    # A's ids under B's workspace path, with A's token: the workspace itself is hidden.
    resp = tenant.client.request(method, other.url(path), headers=tenant.headers, **kwargs)
    assert resp.status_code == 404 and resp.json() == {"detail": "Workspace not found"}
    # B's token on A's workspace.
    resp = other.client.request(method, tenant.url(path), headers=other.headers, **kwargs)
    assert resp.status_code == 404 and resp.json() == {"detail": "Workspace not found"}
    assert _snapshot(tenant, victim) == before


def test_lists_show_only_own_objects(tenant: Tenant, other: Tenant, victim: dict[str, str]) -> None:
    for path in LISTS:
        resp = other.get(path)
        assert resp.status_code == 200 and resp.json() == [], path
        assert resp.headers["X-Total-Count"] == "0"
        assert len(tenant.get(path).json()) == 1


def test_cannot_reference_foreign_objects(
    tenant: Tenant, other: Tenant, victim: dict[str, str]
) -> None:
    model = other.post(
        "/models",
        json={
            "name": "stolen",
            "source_id": victim["source"],
            "sql": "SELECT * FROM customers",
            "primary_key": "customer_id",
        },
    )
    assert model.status_code == 422
    assert model.json()["detail"][0]["loc"] == ["body", "source_id"]

    own = other.setup()
    for field in ("model_id", "destination_id"):
        key = field.removesuffix("_id")
        resp = other.post("/syncs", json=other.sync_body(**{field: victim[key]}))
        assert resp.status_code == 422, resp.text
        assert ["body", field] in [e["loc"] for e in resp.json()["detail"]]
    upstream = other.post("/syncs", json=other.sync_body(trigger_after_sync_ids=[victim["sync"]]))
    assert upstream.status_code == 422
    assert upstream.json()["detail"][0]["loc"] == ["body", "trigger_after_sync_ids", 0]

    sync = other.sync()
    for field, key in (("model_id", "model"), ("destination_id", "destination")):
        resp = other.put(f"/syncs/{sync['id']}", json={field: victim[key]})
        assert resp.status_code == 422
    moved = other.put(f"/models/{own['model']}", json={"source_id": victim["source"]})
    assert moved.status_code == 422
