"""Dashboard sessions, CSRF and the security headers of every response."""

from __future__ import annotations

import dataclasses
import re

import pytest
import sqlalchemy as sa
from api_helpers import Tenant
from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.context import AppContext
from syncline.services.workspaces import create_token, revoke_token
from syncline.store.tables import UiSession


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def _login(client: TestClient, token: str) -> str:
    csrf = _csrf(client.get("/ui/login").text)
    resp = client.post(
        "/ui/login", data={"token": token, "csrf_token": csrf}, follow_redirects=False
    )
    assert resp.status_code == 303, resp.text
    session_id = client.cookies.get("syncline_session")
    assert session_id
    return session_id


def _logged_in(client: TestClient) -> bool:
    return client.get("/ui/", follow_redirects=False).status_code == 200


def test_the_cookie_is_a_session_id_not_the_token(
    ctx: AppContext, client: TestClient, tenant: Tenant
) -> None:
    session_id = _login(client, tenant.token)
    assert session_id != tenant.token and not session_id.startswith("sl_")
    assert len(session_id) >= 43
    # The cookie is no API credential ...
    resp = client.get(tenant.url("/syncs"), headers={"Authorization": f"Bearer {session_id}"})
    assert resp.status_code == 401
    # ... and the store does not hold it in clear either.
    with ctx.sessions() as session:
        ids = session.scalars(sa.select(UiSession.id)).all()
    assert len(ids) == 1 and session_id not in ids


def test_logout_kills_the_session_cookie(client: TestClient, tenant: Tenant) -> None:
    session_id = _login(client, tenant.token)
    page = client.get("/ui/")
    assert client.post("/ui/logout", data={"csrf_token": _csrf(page.text)}).status_code == 200
    client.cookies.set("syncline_session", session_id, path="/ui")  # replay the old cookie
    assert not _logged_in(client)


def test_revoking_the_token_kills_its_sessions(
    ctx: AppContext, client: TestClient, tenant: Tenant
) -> None:
    _login(client, tenant.token)
    assert _logged_in(client)
    with ctx.sessions() as session:
        revoke_token(session, token_id=tenant.token_id)
        assert session.scalar(sa.select(sa.func.count()).select_from(UiSession)) == 0
    assert not _logged_in(client)


def test_sessions_expire(ctx: AppContext, tenant: Tenant) -> None:
    expired = dataclasses.replace(
        ctx, settings=ctx.settings.model_copy(update={"ui_session_ttl": -1})
    )
    with TestClient(create_app(expired)) as client:
        _login(client, tenant.token)
        assert not _logged_in(client)


def test_login_without_a_csrf_token_is_refused(client: TestClient, tenant: Tenant) -> None:
    client.get("/ui/login")
    for data in ({"token": tenant.token}, {"token": tenant.token, "csrf_token": "forged"}):
        resp = client.post("/ui/login", data=data, follow_redirects=False)
        assert resp.status_code == 403, data
        assert "syncline_session" not in resp.headers.get("set-cookie", "")


def test_a_cross_origin_login_post_is_refused(client: TestClient, tenant: Tenant) -> None:
    csrf = _csrf(client.get("/ui/login").text)
    data = {"token": tenant.token, "csrf_token": csrf}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        resp = client.post("/ui/login", data=data, headers=headers, follow_redirects=False)
        assert resp.status_code == 403, headers
    same = client.post(
        "/ui/login", data=data, headers={"Origin": "http://testserver"}, follow_redirects=False
    )
    assert same.status_code == 303


def test_a_login_csrf_token_is_bound_to_its_cookie(ctx: AppContext, tenant: Tenant) -> None:
    # The attacker's own form token does not work with the victim's (different) cookie.
    with TestClient(create_app(ctx)) as attacker, TestClient(create_app(ctx)) as victim:
        stolen = _csrf(attacker.get("/ui/login").text)
        victim.get("/ui/login")
        resp = victim.post(
            "/ui/login",
            data={"token": tenant.token, "csrf_token": stolen},
            follow_redirects=False,
        )
        assert resp.status_code == 403


def test_logout_needs_the_session_csrf_token(client: TestClient, tenant: Tenant) -> None:
    _login(client, tenant.token)
    assert client.post("/ui/logout", data={}, follow_redirects=False).status_code == 403
    assert _logged_in(client)


@pytest.mark.parametrize("role", ["viewer", "operator", "editor"])
def test_every_role_may_read_the_dashboard(
    ctx: AppContext, client: TestClient, tenant: Tenant, role: str
) -> None:
    sync = tenant.sync(name="Visible sync")
    with ctx.sessions() as session:
        _, plain = create_token(
            session, workspace_id=tenant.workspace_id, role=role, pepper=ctx.token_pepper
        )
    _login(client, plain)
    assert "Visible sync" in client.get("/ui/").text
    assert client.get(f"/ui/syncs/{sync['id']}").status_code == 200


@pytest.mark.parametrize(
    "path", ["/ui/login", "/ui/", "/healthz", "/openapi.json", "/api/v1/source-types", "/nope"]
)
def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    resp = client.get(path, follow_redirects=False)
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "cdn" not in csp


def test_the_api_docs_pages_get_a_csp_that_lets_them_run(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        resp = client.get(path)
        assert resp.status_code == 200
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self' 'unsafe-inline'" in csp and "frame-ancestors 'none'" in csp
        assert "http" not in csp  # local assets only
        assert resp.headers["X-Frame-Options"] == "DENY"


def test_limit_answers_carry_the_headers_too(tenant: Tenant) -> None:
    resp = tenant.post("/sources", content=b"x" * 2_000_000)
    assert resp.status_code == 413
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
