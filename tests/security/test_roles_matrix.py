"""Every operation of the OpenAPI spec x every role: allowed or 403, as docs/security.md says.

The matrix is generated from the live spec, so a new route is in it the day it exists. Path
ids are random (unknown) UUIDs: an allowed call answers 404/422 and changes nothing, a
denied one answers 403 before anything is looked up.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from api_helpers import Tenant
from fastapi.testclient import TestClient

from syncline.context import AppContext
from syncline.services.workspaces import create_token

ROLES = ("viewer", "operator", "editor", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
PUBLIC = {("GET", "/healthz")}


def expected_role(method: str, path: str) -> str:
    """The policy, written out independently of the implementation's table."""
    if method == "GET":
        return "editor" if path.endswith("/audit-events") else "viewer"
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if last in ("trigger", "cancel", "retry", "check", "preview", "dry-run"):
        return "operator"
    if path.endswith("/alert-channels/{channelId}/test"):
        return "operator"
    if path == "/api/v1/workspaces/{id}" or "/tokens" in path:
        return "admin"
    return "editor"


def _error_shaped(path: str, body: dict[str, Any]) -> bool:
    """Our errors are ``{detail}``; the compatibility API answers in the vendor's shape."""
    if path.startswith("/compat/"):
        return body.get("status") == "error" and isinstance(body.get("message"), str)
    return isinstance(body.get("detail"), str)


def operations(client: TestClient) -> list[tuple[str, str]]:
    spec = client.get("/openapi.json").json()
    return sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


def _url(path: str, workspace_id: str) -> str:
    filled = path.replace("{id}", workspace_id)
    return re.sub(r"\{[^}]+\}", lambda m: str(uuid.uuid4()), filled)


def _call(client: TestClient, method: str, url: str, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {} if method in ("POST", "PUT", "PATCH") else None
    return client.request(method, url, headers=headers, json=body)


def test_the_matrix_covers_the_whole_api(client: TestClient) -> None:
    ops = operations(client)
    assert len(ops) >= 30
    for verb in ("GET", "POST", "PUT", "DELETE"):
        assert any(m == verb for m, _ in ops)


def test_every_operation_by_every_role(ctx: AppContext, client: TestClient, tenant: Tenant) -> None:
    tokens: dict[str, str] = {}
    with ctx.sessions() as session:
        for role in ROLES:
            _, plain = create_token(
                session, workspace_id=tenant.workspace_id, role=role, pepper=ctx.token_pepper
            )
            tokens[role] = plain
    failures: list[str] = []
    for method, path in operations(client):
        url = _url(path, tenant.workspace_id)
        needed = expected_role(method, path)
        if (method, path) not in PUBLIC:
            anonymous = _call(client, method, url, None)
            if anonymous.status_code != 401:
                failures.append(f"{method} {path} anonymous -> {anonymous.status_code}")
        for role in ROLES:
            resp = _call(client, method, url, tokens[role])
            allowed = RANK[role] >= RANK[needed]
            if allowed and resp.status_code in (401, 403):
                failures.append(f"{method} {path} {role} -> {resp.status_code}, expected allowed")
            if not allowed:
                if resp.status_code != 403:
                    failures.append(f"{method} {path} {role} -> {resp.status_code}, expected 403")
                elif not _error_shaped(path, resp.json()):
                    failures.append(f"{method} {path} {role}: 403 body {resp.text}")
            if resp.status_code >= 500:
                failures.append(f"{method} {path} {role} -> {resp.status_code}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_a_weak_role_cannot_change_a_real_sync(
    ctx: AppContext, client: TestClient, tenant: Tenant, role: str
) -> None:
    sync = tenant.sync()
    with ctx.sessions() as session:
        _, plain = create_token(
            session, workspace_id=tenant.workspace_id, role=role, pepper=ctx.token_pepper
        )
    headers = {"Authorization": f"Bearer {plain}"}
    url = tenant.url(f"/syncs/{sync['id']}")
    denied = client.delete(url, headers=headers)
    assert denied.status_code == 403
    assert role in denied.json()["detail"] and "editor" in denied.json()["detail"]
    assert client.put(url, headers=headers, json={"name": "x"}).status_code == 403
    assert client.get(url, headers=headers).json()["name"] == sync["name"]
    trigger = client.post(f"{url}/trigger", headers=headers)
    assert trigger.status_code == (403 if role == "viewer" else 201), trigger.text
