"""Request limits: body size (413), JSON depth (422, never 500), rate limits (429 + Retry-After)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from api_helpers import Tenant
from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.api.edge import json_too_deep
from syncline.context import AppContext
from syncline.services.workspaces import create_token


def _app_with(ctx: AppContext, **settings: Any) -> TestClient:
    changed = dataclasses.replace(ctx, settings=ctx.settings.model_copy(update=settings))
    return TestClient(create_app(changed))


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def test_a_50_mb_json_field_is_413(tenant: Tenant) -> None:
    body = {"name": "x" * (50 * 1024 * 1024), "type": "duckdb", "config": {"path": "/tmp/x"}}
    resp = tenant.post("/sources", json=body)
    assert resp.status_code == 413
    assert "1048576 bytes" in resp.json()["detail"]
    assert tenant.get("/sources").json() == []


def test_a_chunked_body_past_the_limit_is_413(tenant: Tenant) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'", "type": "duckdb", "config": {}}'

    resp = tenant.post("/sources", content=chunks(), headers={"Content-Type": "application/json"})
    assert resp.status_code == 413
    assert tenant.get("/sources").json() == []


def test_a_body_under_the_limit_is_served(tenant: Tenant) -> None:
    source = tenant.source()
    sql = "SELECT * FROM customers -- " + "x" * 500_000
    resp = tenant.post(
        "/models",
        json={"name": "big", "source_id": source["id"], "sql": sql, "primary_key": "customer_id"},
    )
    assert resp.status_code == 201, resp.text[:300]


def test_the_body_limit_is_a_setting(ctx: AppContext, tenant: Tenant) -> None:
    with _app_with(ctx, max_body_bytes=100) as small:
        resp = small.post(tenant.url("/sources"), headers=tenant.headers, json={"name": "y" * 200})
        assert resp.status_code == 413


@pytest.mark.parametrize("path", ["/sources", "/destinations"])
def test_a_900_deep_config_is_422_not_500(tenant: Tenant, path: str) -> None:
    body = {"name": "deep", "type": "duckdb" if path == "/sources" else "file"}
    body["config"] = _nested(900)
    resp = tenant.post(path, json=body)
    assert resp.status_code == 422, resp.text[:300]
    err = resp.json()["detail"][0]
    assert err["loc"] == ["body"] and "nested deeper than the limit of 32" in err["msg"]


def test_deep_json_inside_strings_is_not_nesting() -> None:
    assert not json_too_deep(json.dumps({"s": "[" * 1000}).encode(), 32)
    assert not json_too_deep(json.dumps(_nested(32)).encode(), 32)
    assert json_too_deep(json.dumps(_nested(33)).encode(), 32)
    assert json_too_deep(json.dumps([[[[1]]]]).encode(), 3)


@pytest.mark.parametrize("depth", [5, 20, 31])
def test_nesting_under_the_limit_never_500(tenant: Tenant, depth: int) -> None:
    resp = tenant.post(
        "/sources",
        json={"name": "n", "type": "duckdb", "config": {"path": "x", "o": _nested(depth)}},
    )
    assert resp.status_code in (201, 422), resp.text[:300]


def test_400_bad_tokens_draw_429_with_retry_after(tenant: Tenant, client: TestClient) -> None:
    codes = []
    for i in range(400):
        resp = client.get(tenant.url("/syncs"), headers={"Authorization": f"Bearer sl_guess{i}"})
        codes.append(resp.status_code)
        if resp.status_code == 429:
            assert int(resp.headers["Retry-After"]) >= 1
            break
    assert codes[0] == 401 and codes[-1] == 429, codes[-3:]
    assert len(codes) <= 21  # the default: 20 failures a minute per address
    # While the address is locked out, no token is checked at all: guessing cannot continue.
    assert tenant.get("/syncs").status_code == 429


def test_per_token_and_per_ip_limits(ctx: AppContext, tenant: Tenant) -> None:
    with ctx.sessions() as session:
        _, second = create_token(session, workspace_id=tenant.workspace_id, pepper=ctx.token_pepper)
    with _app_with(ctx, rate_limit_per_token="5/minute") as app:
        codes = [
            app.get(tenant.url("/syncs"), headers=tenant.headers).status_code for _ in range(6)
        ]
        assert codes == [200] * 5 + [429]
        limited = app.get(tenant.url("/syncs"), headers=tenant.headers)
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert limited.json()["detail"].startswith("Too many requests")
        other = {"Authorization": f"Bearer {second}"}
        assert app.get(tenant.url("/syncs"), headers=other).status_code == 200
    with _app_with(ctx, rate_limit_per_ip="3/minute") as app:
        codes = [
            app.get(tenant.url("/syncs"), headers=tenant.headers).status_code for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        assert app.get("/healthz").status_code == 200  # probes are never limited


def test_rate_limits_can_be_disabled(ctx: AppContext, tenant: Tenant) -> None:
    with _app_with(ctx, rate_limit_enabled=False, rate_limit_auth_failures="1/minute") as app:
        for _ in range(5):
            resp = app.get(tenant.url("/syncs"), headers={"Authorization": "Bearer sl_bad"})
            assert resp.status_code == 401


def test_200_failed_dashboard_logins_draw_429(client: TestClient) -> None:
    page = client.get("/ui/login")
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    codes = []
    for i in range(200):
        resp = client.post(
            "/ui/login", data={"token": f"sl_guess{i}", "csrf_token": csrf}, follow_redirects=False
        )
        codes.append(resp.status_code)
        if resp.status_code == 429:
            assert int(resp.headers["Retry-After"]) >= 1
            break
    assert codes[0] == 401 and codes[-1] == 429 and len(codes) <= 21
