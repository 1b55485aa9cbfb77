"""The read-only web dashboard under /ui, on both metadata stores."""

from __future__ import annotations

import re

from api_helpers import Tenant, set_run
from fastapi.testclient import TestClient

from syncline.context import AppContext
from syncline.store.tables import RunRecord


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def _login(client: TestClient, token: str) -> None:
    form = client.get("/ui/login")
    resp = client.post(
        "/ui/login",
        data={"token": token, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == "/ui/"
    cookie = resp.headers["set-cookie"]
    assert "syncline_session=" in cookie
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()


def test_pages_redirect_to_login_without_a_cookie(client: TestClient, tenant: Tenant) -> None:
    sync = tenant.sync()
    for path, login in (
        ("/ui/", "/ui/login"),
        (f"/ui/syncs/{sync['id']}", f"/ui/login?next=/ui/syncs/{sync['id']}"),
    ):
        resp = client.get(path, follow_redirects=False)
        assert resp.status_code == 303
        assert resp.headers["location"] == login
    client.cookies.set("syncline_session", "not-a-session", path="/ui")
    resp = client.get("/ui/", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/ui/login"
    page = client.get("/ui/login")
    assert page.status_code == 200
    assert 'name="token"' in page.text


def test_bad_token_shows_an_error(client: TestClient, tenant: Tenant) -> None:
    csrf = csrf_of(client.get("/ui/login").text)
    resp = client.post(
        "/ui/login", data={"token": "sl_wrong", "csrf_token": csrf}, follow_redirects=False
    )
    assert resp.status_code == 401
    assert "Invalid or revoked API token" in resp.text
    assert "syncline_session" not in resp.headers.get("set-cookie", "")
    assert "sl_wrong" not in resp.text


def test_login_lists_the_workspace_syncs_and_logout(client: TestClient, tenant: Tenant) -> None:
    tenant.sync(name="Customers to CRM")
    tenant.sync(name="Paused one", status="paused")
    _login(client, tenant.token)
    page = client.get("/ui/")
    assert page.status_code == 200
    assert "Customers to CRM" in page.text
    assert "Paused one" in page.text
    assert "Acme" in page.text
    assert "/ui/static/style.css" in page.text
    assert tenant.token not in page.text
    assert client.get("/ui/static/style.css").status_code == 200

    out = client.post("/ui/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    assert (
        'syncline_session=""' in out.headers["set-cookie"]
        or "Max-Age=0" in (out.headers["set-cookie"])
    )
    client.cookies.clear()
    assert client.get("/ui/", follow_redirects=False).status_code == 303


def test_sync_and_run_pages(ctx: AppContext, client: TestClient, tenant: Tenant) -> None:
    sync = tenant.sync(name="Nightly export")
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    set_run(
        ctx,
        run["id"],
        status="completed",
        result_class="partial",
        rows_synced=28,
        rows_failed=2,
        summary={"added": 28, "changed": 0, "removed": 0, "rejected": {"cast": 2}, "sent": 28},
    )
    with ctx.sessions() as session:
        session.add(
            RunRecord(
                run_id=run["id"],
                sync_id=sync["id"],
                workspace_id=tenant.workspace_id,
                primary_key="17",
                operation="upsert",
                status="failed",
                error_class="rejected",
                error_message="Email: <invalid> address",
            )
        )
        session.commit()
    _login(client, tenant.token)

    page = client.get(f"/ui/syncs/{sync['id']}")
    assert page.status_code == 200
    for text in ("Nightly export", "customer_id", "FirstName", "0 */6 * * *", run["id"]):
        assert text in page.text
    assert f"/ui/syncs/{sync['id']}/runs/{run['id']}" in page.text

    run_page = client.get(f"/ui/syncs/{sync['id']}/runs/{run['id']}")
    assert run_page.status_code == 200
    for text in ("partial", "added", "rejected", "upsert", "Email: &lt;invalid&gt; address"):
        assert text in run_page.text
    for body in (page.text, run_page.text):
        assert tenant.token not in body

    missing = client.get(f"/ui/syncs/{sync['id']}/runs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404


def test_another_workspace_sync_is_not_found(
    client: TestClient, tenant: Tenant, other: Tenant
) -> None:
    theirs = other.sync(name="Globex secret sync")
    run = other.post(f"/syncs/{theirs['id']}/trigger").json()
    _login(client, tenant.token)
    for path in (f"/ui/syncs/{theirs['id']}", f"/ui/syncs/{theirs['id']}/runs/{run['id']}"):
        resp = client.get(path)
        assert resp.status_code == 404
        assert "not found" in resp.text
        assert "Globex secret sync" not in resp.text
    assert "Globex secret sync" not in client.get("/ui/").text


def test_names_are_html_escaped(client: TestClient, tenant: Tenant) -> None:
    sync = tenant.sync(name="<script>x</script>")
    _login(client, tenant.token)
    for path in ("/ui/", f"/ui/syncs/{sync['id']}"):
        body = client.get(path).text
        assert "<script>" not in body
        assert "&lt;script&gt;x&lt;/script&gt;" in body
        assert tenant.token not in body


def test_ui_is_not_in_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/ui")]
