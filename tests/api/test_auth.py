"""Authentication and workspace scoping: 401s, X-API-Key, X-Workspace-ID, foreign workspaces."""

from __future__ import annotations

import uuid

import pytest
from api_helpers import Tenant
from fastapi.testclient import TestClient

from syncline.context import AppContext
from syncline.services.workspaces import revoke_token


def _assert_401(resp: object) -> None:
    assert resp.status_code == 401  # type: ignore[attr-defined]
    assert resp.headers["WWW-Authenticate"] == "Bearer"  # type: ignore[attr-defined]
    detail = resp.json()["detail"]  # type: ignore[attr-defined]
    assert isinstance(detail, str) and detail


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer sl_not_a_real_token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-API-Key": "sl_wrong"},
        {"X-API-Key": ""},
    ],
)
def test_missing_or_invalid_token_is_401(
    client: TestClient, tenant: Tenant, headers: dict[str, str]
) -> None:
    _assert_401(client.get(tenant.url("/syncs"), headers=headers))


def test_x_api_key_is_accepted(client: TestClient, tenant: Tenant) -> None:
    resp = client.get(tenant.url("/syncs"), headers={"X-API-Key": tenant.token})
    assert resp.status_code == 200 and resp.json() == []


def test_revoked_token_is_401(client: TestClient, tenant: Tenant, ctx: AppContext) -> None:
    assert tenant.get("/syncs").status_code == 200
    with ctx.sessions() as session:
        revoke_token(session, token_id=tenant.token_id, workspace_id=tenant.workspace_id)
    _assert_401(tenant.get("/syncs"))


def test_unauthenticated_before_workspace_lookup(client: TestClient) -> None:
    # No token means 401 even for a workspace that does not exist: nothing is revealed.
    _assert_401(client.get(f"/api/v1/workspaces/{uuid.uuid4()}/syncs"))


def test_other_workspace_is_404_like_a_missing_one(tenant: Tenant, other: Tenant) -> None:
    foreign = tenant.client.get(other.url("/syncs"), headers=tenant.headers)
    missing = tenant.client.get(f"/api/v1/workspaces/{uuid.uuid4()}/syncs", headers=tenant.headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json() == {"detail": "Workspace not found"}


def test_x_workspace_id_must_match_the_path(tenant: Tenant, other: Tenant) -> None:
    ok = tenant.get("/syncs", headers={"X-Workspace-ID": tenant.workspace_id.upper()})
    assert ok.status_code == 200
    assert tenant.get("/syncs", headers={"X-Workspace-ID": ""}).status_code == 200  # not sent
    for value in (other.workspace_id, "not-a-uuid", str(uuid.uuid4())):
        resp = tenant.get("/syncs", headers={"X-Workspace-ID": value})
        assert resp.status_code == 400, value
        assert "X-Workspace-ID" in resp.json()["detail"]


def test_malformed_ids_are_422(tenant: Tenant) -> None:
    resp = tenant.client.get("/api/v1/workspaces/not-a-uuid/syncs", headers=tenant.headers)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["path", "id"]
    for path in ("/syncs/123", "/sources/x", "/models/x", "/destinations/x"):
        resp = tenant.get(path)
        assert resp.status_code == 422, path
        err = resp.json()["detail"][0]
        assert set(err) == {"loc", "msg", "type"} and err["loc"][0] == "path"


def test_get_workspace(tenant: Tenant, other: Tenant) -> None:
    resp = tenant.client.get(tenant.url(), headers=tenant.headers)
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"id", "name", "created_at", "updated_at"}
    assert body["id"] == tenant.workspace_id and body["name"] == "Acme"
    assert tenant.client.get(other.url(), headers=tenant.headers).status_code == 404
    _assert_401(tenant.client.get(tenant.url()))


def test_last_used_at_is_recorded(tenant: Tenant, ctx: AppContext) -> None:
    from syncline.services.workspaces import list_tokens

    with ctx.sessions() as session:
        before = list_tokens(session, workspace_id=tenant.workspace_id)[0].last_used_at
    tenant.get("/syncs")
    with ctx.sessions() as session:
        after = list_tokens(session, workspace_id=tenant.workspace_id)[0].last_used_at
    assert after is not None and (before is None or after >= before)
