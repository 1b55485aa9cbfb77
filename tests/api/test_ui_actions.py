"""Dashboard actions: each form refuses a missing CSRF token, obeys roles and calls services."""

from __future__ import annotations

import pytest
from api_helpers import Tenant, set_run
from fastapi.testclient import TestClient
from test_ui import csrf_of

from syncline.context import AppContext
from syncline.services.workspaces import create_token
from syncline.store.tables import RunRecord


def _login(client: TestClient, token: str, next_url: str = "/ui/") -> str:
    form = client.get(f"/ui/login?next={next_url}")
    resp = client.post(
        "/ui/login",
        data={"token": token, "csrf_token": csrf_of(form.text), "next": next_url},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    return str(resp.headers["location"])


def _token(ctx: AppContext, tenant: Tenant, role: str) -> str:
    with ctx.sessions() as session:
        _, plain = create_token(
            session, workspace_id=tenant.workspace_id, role=role, pepper=ctx.token_pepper
        )
    return plain


def _forms(tenant: Tenant) -> tuple[str, str, list[str]]:
    sync = tenant.sync(name="Forms")
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    base = f"/ui/syncs/{sync['id']}"
    paths = [
        f"{base}/trigger",
        f"{base}/dry-run",
        f"{base}/pause",
        f"{base}/resume",
        f"{base}/delete",
        f"{base}/runs/{run['id']}/cancel",
        f"{base}/runs/{run['id']}/retry",
        f"{base}/edit",
        "/ui/syncs/new",
    ]
    return sync["id"], run["id"], paths


def test_deep_link_survives_login_same_origin_only(client: TestClient, tenant: Tenant) -> None:
    sync = tenant.sync()
    assert _login(client, tenant.token, f"/ui/syncs/{sync['id']}") == f"/ui/syncs/{sync['id']}"
    client.cookies.clear()
    for evil in ("https://evil.example/ui/", "//evil.example/", "/ui//evil.example", "/api/v1"):
        assert _login(client, tenant.token, evil) == "/ui/"
        client.cookies.clear()


def test_every_form_refuses_a_post_without_csrf(client: TestClient, tenant: Tenant) -> None:
    sync_id, _, paths = _forms(tenant)
    _login(client, tenant.token)
    for path in paths:
        assert client.post(path, data={}, follow_redirects=False).status_code == 403, path
        bad = {"csrf_token": "forged"}
        assert client.post(path, data=bad, follow_redirects=False).status_code == 403, path
    assert client.get(f"/ui/syncs/{sync_id}").status_code == 200


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("viewer", set()),
        ("operator", {"trigger", "dry-run", "cancel", "retry"}),
        (
            "editor",
            {"trigger", "dry-run", "cancel", "retry", "pause", "resume", "delete", "edit", "new"},
        ),
    ],
)
def test_forms_follow_the_role_table(
    ctx: AppContext, client: TestClient, tenant: Tenant, role: str, allowed: set[str]
) -> None:
    _, _, paths = _forms(tenant)
    _login(client, _token(ctx, tenant, role))
    csrf = csrf_of(client.get("/ui/").text)
    for path in paths:
        if path.endswith("/delete"):
            continue  # would remove the sync the other forms need; checked below
        status = client.post(path, data={"csrf_token": csrf}, follow_redirects=False).status_code
        expected = path.rsplit("/", 1)[1] in allowed
        assert (status != 403) == expected, (path, status)
    delete = client.post(paths[4], data={"csrf_token": csrf}, follow_redirects=False)
    assert (delete.status_code != 403) == ("delete" in allowed)


def test_pause_resume_run_now_and_delete(
    ctx: AppContext, client: TestClient, tenant: Tenant
) -> None:
    sync = tenant.sync(name="Actions")
    base = f"/ui/syncs/{sync['id']}"
    _login(client, tenant.token)
    csrf = csrf_of(client.get(base).text)
    client.post(f"{base}/pause", data={"csrf_token": csrf})
    assert tenant.get(f"/syncs/{sync['id']}").json()["status"] == "paused"
    assert "Resume" in client.get(base).text
    client.post(f"{base}/resume", data={"csrf_token": csrf})
    assert tenant.get(f"/syncs/{sync['id']}").json()["status"] == "active"

    run = client.post(f"{base}/trigger", data={"csrf_token": csrf}, follow_redirects=False)
    assert run.status_code == 303 and "/runs/" in run.headers["location"]
    page = client.get(run.headers["location"])
    assert "Cancel run" in page.text and 'hx-trigger="every 2s"' in page.text
    again = client.post(f"{base}/trigger", data={"csrf_token": csrf}, follow_redirects=False)
    assert again.headers["location"] == run.headers["location"]  # the active run, not a second

    assert "Delete for good" in client.get(f"{base}/delete").text
    client.post(f"{base}/delete", data={"csrf_token": csrf})
    assert tenant.get(f"/syncs/{sync['id']}").status_code == 404


def test_run_page_groups_pages_filters_and_exports_rejected_records(
    ctx: AppContext, client: TestClient, tenant: Tenant
) -> None:
    sync = tenant.sync(name="Rejects")
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    set_run(
        ctx,
        run["id"],
        status="completed",
        result_class="partial",
        rows_synced=10,
        rows_failed=60,
        summary={"added": 70, "rejected": {"cast": 60}, "sent": 70},
    )
    with ctx.sessions() as session:
        for i in range(60):
            session.add(
                RunRecord(
                    run_id=run["id"],
                    sync_id=sync["id"],
                    workspace_id=tenant.workspace_id,
                    primary_key=str(i),
                    operation="upsert",
                    status="failed",
                    error_class="cast" if i < 55 else "rejected",
                    error_message=f"bad row {i}",
                    payload={"customer_id": i, "email": f"<x{i}>"},
                )
            )
        session.commit()
    _login(client, tenant.token)
    url = f"/ui/syncs/{sync['id']}/runs/{run['id']}"
    page = client.get(url).text
    assert "70 of 70 sent" in page and "partial" in page
    assert "<strong>55</strong>" in page and "<strong>5</strong>" in page
    assert "page 1 of 2" in page and "hx-trigger" not in page
    assert "bad row 54" not in client.get(f"{url}?key=3").text
    assert "bad row 3" in client.get(f"{url}?key=3").text
    only = client.get(f"{url}?error_class=rejected").text
    assert "bad row 57" in only and "bad row 1<" not in only

    record_id = page.split(f"{url}/records/")[1].split('"')[0]
    payload = client.get(f"{url}/records/{record_id}").text
    assert "customer_id" in payload and "&lt;x0&gt;" in payload
    csv = client.get(f"{url}/records.csv?error_class=cast")
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert len(lines) == 56 and lines[0].startswith("primary_key,")
    live = client.get(f"{url}/live").text
    assert 'id="live"' in live and "<html" not in live


def test_new_sync_form_shows_a_mapping_error_then_saves(client: TestClient, tenant: Tenant) -> None:
    ids = tenant.setup()
    _login(client, tenant.token)
    page = client.get("/ui/syncs/new")
    assert page.status_code == 200
    form = {
        "csrf_token": csrf_of(page.text),
        "name": "From the form",
        "model_id": ids["model"],
        "destination_id": ids["destination"],
        "sync_mode": "upsert",
        "primary_key": "customer_id",
        "sched_kind": "cron",
        "sched_cron": "0 */6 * * *",
        "src_0": "no_such_column",
        "dst_0": "Email",
        "action": "validate",
    }
    bad = client.post("/ui/syncs/new", data=form)
    assert bad.status_code == 422
    assert 'class="field-error"' in bad.text and "no_such_column" in bad.text
    assert client.post("/ui/syncs/new", data={**form, "csrf_token": ""}).status_code == 403
    ok = client.post("/ui/syncs/new", data={**form, "src_0": "email"})
    assert ok.status_code == 200 and "Valid: nothing was saved yet." in ok.text
    assert tenant.get("/syncs").json() == []
    saved = client.post(
        "/ui/syncs/new", data={**form, "src_0": "email", "action": "save"}, follow_redirects=False
    )
    assert saved.status_code == 303, saved.text
    sync_id = saved.headers["location"].split("/ui/syncs/")[1].split("?")[0]
    edit = client.get(f"/ui/syncs/{sync_id}/edit")
    assert 'value="email"' in edit.text
    renamed = client.post(
        f"/ui/syncs/{sync_id}/edit",
        data={**form, "src_0": "email", "name": "Renamed", "action": "save"},
        follow_redirects=False,
    )
    assert renamed.status_code == 303
    assert tenant.get(f"/syncs/{sync_id}").json()["name"] == "Renamed"
