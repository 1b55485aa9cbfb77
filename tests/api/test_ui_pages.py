"""Dashboard pages for sources, models, destinations, alerts and audit (ui/*_pages.py).

Everything goes through the real app and the same services as the API: secrets are planted
and then looked for in every page's HTML, an edit that leaves a secret empty must keep it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from api_helpers import Tenant
from fastapi.testclient import TestClient
from test_ui import csrf_of
from test_ui_actions import _login, _token

from syncline.context import AppContext
from syncline.store.alert_tables import AlertEvent
from syncline.store.tables import Destination

PLANTED = "pl4nted-Secret-9f3a"
PLANTED_URL_PW = "urlpw-7c1e-Secret"
PLANTED_HEADER = "hdr-Secret-55aa"


def _post(client: TestClient, path: str, data: dict[str, Any], **kw: Any) -> Any:
    csrf = csrf_of(client.get("/ui/").text)
    return client.post(path, data={"csrf_token": csrf, **data}, **kw)


def _id_from(location: str) -> str:
    found = re.search(r"/ui/\w+/([0-9a-f-]{36})", location)
    assert found, location
    return found.group(1)


def _no_secret(html: str) -> None:
    for secret in (PLANTED, PLANTED_URL_PW, PLANTED_HEADER):
        assert secret not in html


def _webhook_form(name: str = "Hook", **extra: str) -> dict[str, str]:
    return {
        "type": "webhook",
        "name": name,
        "config.url": f"http://bot:{PLANTED_URL_PW}@127.0.0.1:9/hook",
        "config.hmac_secret": PLANTED,
        "config.headers": json.dumps({"X-Token": PLANTED_HEADER}),
        "config.batch_size": "50",
        **extra,
    }


def _stored(ctx: AppContext, destination_id: str) -> dict[str, Any]:
    with ctx.sessions() as session:
        row = session.get(Destination, destination_id)
        assert row is not None
        return ctx.secrets.decrypt_config(row.config)


def test_secrets_are_write_only_and_an_empty_field_keeps_them(
    ctx: AppContext, client: TestClient, tenant: Tenant
) -> None:
    _login(client, tenant.token)
    form = client.get("/ui/destinations/new?type=webhook")
    assert form.status_code == 200 and 'type="password"' in form.text
    made = _post(client, "/ui/destinations/new", _webhook_form(), follow_redirects=False)
    assert made.status_code == 303, made.text
    dest_id = _id_from(made.headers["location"])
    stored = _stored(ctx, dest_id)
    assert stored["hmac_secret"] == PLANTED and PLANTED_URL_PW in stored["url"]
    assert stored["headers"] == {"X-Token": PLANTED_HEADER}

    pages = [
        "/ui/destinations",
        f"/ui/destinations/{dest_id}",
        f"/ui/destinations/{dest_id}/edit",
        f"/ui/destinations/{dest_id}/delete",
        "/ui/audit-events",
    ]
    for page in pages:
        html = client.get(page).text
        assert "Hook" in html, page
        _no_secret(html)
    edit_html = client.get(f"/ui/destinations/{dest_id}/edit").text
    assert "A value is stored and never shown" in edit_html

    # an edit that leaves the secret empty (and sends back what the form shows) keeps it all
    shown_url = re.search(r'name="config.url" value="([^"]+)"', edit_html)
    assert shown_url and "********" in shown_url.group(1)
    headers = re.search(r'name="config.headers"[^>]*>([^<]*)<', edit_html)
    assert headers and "********" in headers.group(1)
    edit = {
        "name": "Hook renamed",
        "config.url": shown_url.group(1),
        "config.hmac_secret": "",
        "config.headers": headers.group(1).replace("&#34;", '"'),
        "config.batch_size": "75",
    }
    saved = _post(client, f"/ui/destinations/{dest_id}/edit", edit, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    stored = _stored(ctx, dest_id)
    assert stored["hmac_secret"] == PLANTED and PLANTED_URL_PW in stored["url"]
    assert stored["headers"] == {"X-Token": PLANTED_HEADER} and stored["batch_size"] == 75

    # a refused edit redisplays the form without the secret, the error next to the field
    bad = _post(client, f"/ui/destinations/{dest_id}/edit", {**edit, "config.batch_size": "0"})
    assert bad.status_code == 422 and 'id="err-config-batch_size"' in bad.text
    _no_secret(bad.text)
    assert _stored(ctx, dest_id)["batch_size"] == 75

    # "remove" clears an optional secret; a new value replaces it
    _post(client, f"/ui/destinations/{dest_id}/edit", {**edit, "remove.hmac_secret": "on"})
    assert _stored(ctx, dest_id).get("hmac_secret") is None
    _post(client, f"/ui/destinations/{dest_id}/edit", {**edit, "config.hmac_secret": "new-one"})
    assert _stored(ctx, dest_id)["hmac_secret"] == "new-one"


def test_create_errors_show_next_to_their_field(client: TestClient, tenant: Tenant) -> None:
    _login(client, tenant.token)
    bad = _post(client, "/ui/sources/new", {"type": "sqlite", "name": "", "config.path": ""})
    assert bad.status_code == 422
    assert 'id="err-name"' in bad.text and 'id="err-config-path"' in bad.text
    unknown = _post(client, "/ui/sources/new", {"type": "nope", "name": "x"})
    assert unknown.status_code == 422 and "unknown source type" in unknown.text
    assert tenant.get("/sources").json() == []
    secret = _post(
        client,
        "/ui/destinations/new",
        {"type": "postgres", "name": "pg", "config.dsn": f"postgresql://u:{PLANTED}@"},
    )
    assert secret.status_code == 422 and 'id="err-config-table"' in secret.text
    _no_secret(secret.text)  # a refused create does not echo the secret either


def test_source_model_pages_check_preview_and_guarded_delete(
    client: TestClient, tenant: Tenant
) -> None:
    _login(client, tenant.token)
    assert "pick a type" in client.get("/ui/sources/new").text
    made = _post(
        client,
        "/ui/sources/new",
        {"type": "duckdb", "name": "Warehouse", "config.path": tenant.warehouse},
        follow_redirects=False,
    )
    assert made.status_code == 303, made.text
    source_id = _id_from(made.headers["location"])
    checked = _post(client, f"/ui/sources/{source_id}/check", {})
    assert "Connection OK" in checked.text, checked.text

    model_form = {
        "name": "Customers",
        "source_id": source_id,
        "sql": "SELECT customer_id, email FROM customers",
        "primary_key": "nope",
        "description": "",
    }
    bad = _post(client, "/ui/models/new", model_form)
    assert bad.status_code == 422 and 'id="err-primary_key"' in bad.text
    sql_bad = _post(client, "/ui/models/new", {**model_form, "sql": "SELECT nope FROM nowhere"})
    assert sql_bad.status_code == 422 and 'id="err-sql"' in sql_bad.text
    ok = _post(
        client,
        "/ui/models/new",
        {**model_form, "primary_key": "customer_id"},
        follow_redirects=False,
    )
    assert ok.status_code == 303, ok.text
    model_id = _id_from(ok.headers["location"])
    page = client.get(f"/ui/models/{model_id}").text
    assert "SELECT customer_id, email FROM customers" in page and "customer_id" in page
    preview = _post(client, f"/ui/models/{model_id}/preview", {})
    assert "user1@example.com" in preview.text and "Preview (20 rows)" in preview.text
    listed = client.get("/ui/models").text
    assert f'href="/ui/sources/{source_id}">Warehouse<' in listed

    renamed = _post(
        client,
        f"/ui/models/{model_id}/edit",
        {**model_form, "name": "Clients", "primary_key": "customer_id"},
        follow_redirects=False,
    )
    assert renamed.status_code == 303
    assert tenant.get(f"/models/{model_id}").json()["name"] == "Clients"

    confirm = client.get(f"/ui/sources/{source_id}/delete").text
    assert "Delete for good" in confirm and "Clients" in confirm
    refused = _post(client, f"/ui/sources/{source_id}/delete", {})
    assert "used by models" in refused.text
    _post(client, f"/ui/models/{model_id}/delete", {})
    _post(client, f"/ui/sources/{source_id}/delete", {})
    assert tenant.get("/sources").json() == [] and tenant.get("/models").json() == []


def test_dashboard_changes_are_in_the_audit_trail(client: TestClient, tenant: Tenant) -> None:
    _login(client, tenant.token)
    _post(
        client,
        "/ui/sources/new",
        {"type": "duckdb", "name": "Audited", "config.path": tenant.warehouse},
    )
    events = tenant.get("/audit-events", params={"action": "source.create"}).json()
    assert len(events) == 1
    assert events[0]["channel"] == "ui" and events[0]["actor_token_id"] == tenant.token_id
    page = client.get("/ui/audit-events?object_type=source").text
    assert "source.create" in page and "via ui" in page and "Audited" in page
    assert "source.create" not in client.get("/ui/audit-events?object_type=sync").text
    assert "source.create" not in client.get("/ui/audit-events?since=2999-01-01").text
    assert "Dates are YYYY-MM-DD" in client.get("/ui/audit-events?since=tomorrow").text


def test_alerts_page_and_channels(ctx: AppContext, client: TestClient, tenant: Tenant) -> None:
    sync = tenant.sync(name="Alerting sync")
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    with ctx.sessions.begin() as s:
        for i, status in enumerate(("delivered", "failed")):
            s.add(
                AlertEvent(
                    workspace_id=tenant.workspace_id,
                    sync_id=sync["id"],
                    run_id=run["id"],
                    alert_type="FailureAlertConfiguration",
                    message=f"run failed #{i}",
                    status=status,
                    attempts=i + 1,
                    last_error="boom" if status == "failed" else "",
                )
            )
    _login(client, tenant.token)
    page = client.get("/ui/alerts").text
    assert "run failed #0" in page and "run failed #1" in page and "Alerting sync" in page
    assert f"/ui/syncs/{sync['id']}/runs/{run['id']}" in page and "boom" in page
    only = client.get("/ui/alerts?status=delivered").text
    assert "run failed #0" in only and "run failed #1" not in only

    form = {
        "type": "webhook",
        "name": "ops hook",
        "config.url": "http://127.0.0.1:9/hook",
        "config.hmac_secret": PLANTED,
    }
    assert _post(client, "/ui/alert-channels/new", {**form, "config.url": ""}).status_code == 422
    made = _post(client, "/ui/alert-channels/new", form, follow_redirects=False)
    assert made.status_code == 303, made.text
    listed = client.get("/ui/alert-channels").text
    assert "ops hook" in listed
    _no_secret(listed)
    cid = tenant.get("/alert-channels").json()[0]["id"]
    tested = _post(client, f"/ui/alert-channels/{cid}/test", {})
    assert "Not delivered" in tested.text
    _no_secret(tested.text)
    assert "Delete for good" in client.get(f"/ui/alert-channels/{cid}/delete").text
    _post(client, f"/ui/alert-channels/{cid}/delete", {})
    assert tenant.get("/alert-channels").json() == []


def _posts(tenant: Tenant) -> dict[str, str]:
    ids = tenant.setup()
    cid = tenant.created(
        "/alert-channels",
        {"name": "c", "type": "webhook", "config": {"url": "http://127.0.0.1:9/h"}},
    )["id"]
    return {
        "/ui/sources/new": "editor",
        f"/ui/sources/{ids['source']}/edit": "editor",
        f"/ui/sources/{ids['source']}/check": "operator",
        f"/ui/destinations/{ids['destination']}/check": "operator",
        f"/ui/destinations/{ids['destination']}/edit": "editor",
        "/ui/models/new": "editor",
        f"/ui/models/{ids['model']}/preview": "operator",
        f"/ui/models/{ids['model']}/edit": "editor",
        f"/ui/alert-channels/{cid}/test": "operator",
        "/ui/alert-channels/new": "editor",
        f"/ui/models/{ids['model']}/delete": "editor",
        f"/ui/destinations/{ids['destination']}/delete": "editor",
        f"/ui/sources/{ids['source']}/delete": "editor",
        f"/ui/alert-channels/{cid}/delete": "editor",
    }


def test_every_form_needs_csrf(client: TestClient, tenant: Tenant) -> None:
    paths = _posts(tenant)
    _login(client, tenant.token)
    for path in paths:
        assert client.post(path, data={}, follow_redirects=False).status_code == 403, path
        forged = {"csrf_token": "forged"}
        assert client.post(path, data=forged, follow_redirects=False).status_code == 403, path
    assert len(tenant.get("/sources").json()) == 1


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_pages_follow_the_role_table(
    ctx: AppContext, client: TestClient, tenant: Tenant, role: str
) -> None:
    paths = _posts(tenant)
    _login(client, _token(ctx, tenant, role))
    for page in ("/ui/sources", "/ui/models", "/ui/destinations", "/ui/alerts"):
        assert client.get(page).status_code == 200, page
    assert client.get("/ui/audit-events").status_code == 403  # editor+, like the API
    nav = client.get("/ui/sources").text.split("</nav>")[0]
    assert 'href="/ui/audit-events"' not in nav and 'href="/ui/alerts"' in nav
    csrf = csrf_of(client.get("/ui/").text)
    allowed = {"viewer": set(), "operator": {"operator"}}[role]
    for path, needs in paths.items():
        status = client.post(path, data={"csrf_token": csrf}, follow_redirects=False).status_code
        assert (status != 403) == (needs in allowed), (path, status)


def test_config_form_inputs_become_the_config_the_api_takes() -> None:
    from syncline.alerts.channels import CONFIGS
    from syncline.ui import forms

    fields = forms.fields_of(CONFIGS["email"].model_json_schema(by_alias=True))
    kinds = {f.name: f.kind for f in fields}
    assert kinds == {
        "host": "text",
        "from_address": "text",
        "to": "lines",
        "port": "integer",
        "username": "text",
        "password": "secret",
        "starttls": "bool",
    }
    form = {
        "config.host": " smtp ",
        "config.to": "a@x.io\n\n b@x.io ",
        "config.port": "2525",
        "config.starttls.present": "1",
        "config.password": "",
    }
    assert forms.config_from_form(fields, form) == {
        "host": "smtp",
        "to": ["a@x.io", "b@x.io"],
        "port": 2525,
        "starttls": False,
    }
    kept = forms.config_from_form(fields, form, stored={"password"})
    assert kept["password"] == "********"
    removed = forms.config_from_form(fields, {**form, "remove.password": "on"}, stored={"password"})
    assert "password" not in removed
    again = forms.redisplay(fields, {**form, "config.password": "typed"})
    assert "password" not in again and again["starttls"] == ""
