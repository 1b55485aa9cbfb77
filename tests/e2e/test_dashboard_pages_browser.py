"""Sources, models, destinations, alerts and audit pages in Debian's Chromium (Playwright).

Against a real ``syncline serve``: sign in through a deep link; create a source, a model (a
primary-key error first) and a webhook destination whose HMAC secret is then never in any
page; test connections; edit the destination without retyping the secret and prove it was
kept (the receiver only accepts requests signed with it); create and test an alert channel;
see the alert a partial run fires, and the audit trail of what the browser did; delete with
confirmation. ``/docs`` and ``/redoc`` render with every non-local request blocked.
Screenshots at 1280 px and 390 px go to ``test-output/screenshots/pages-*.png``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from syncline.emulators.receiver import WebhookReceiver
from tests.e2e.browser import (
    ARGS,
    CHROMIUM,
    SHOTS,
    WIDTHS,
    ensure_chromium,
    served_workspace,
    shoot,
)
from tests.e2e.test_http_sync import Server

pytestmark = pytest.mark.e2e
PLANTED = "pl4nted-HMAC-3e9b1f"
CHANNEL_SECRET = "pl4nted-channel-77c2"


class AlertInbox:
    """An HTTP endpoint that answers 204 and keeps the JSON bodies it was sent (alerts)."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                inbox.bodies.append(json.loads(self.rfile.read(length) or b"null"))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def __enter__(self) -> AlertInbox:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def app(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, httpx.Client, dict[str, Any]]]:
    """One server for this file's tests (starting one is most of a test's time)."""
    tmp = tmp_path_factory.mktemp("pages")
    with served_workspace(tmp, SYNCLINE_ALERT_INTERVAL="1") as served:
        yield served


def _warehouse(tmp: Path) -> str:
    path = tmp / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE people AS SELECT i AS id, 'p' || i AS name FROM range(40) t(i)")
    con.close()
    return str(path)


def _snap(page: Any, name: str) -> None:
    """Screenshots at both widths; at 390 px the page itself must not scroll sideways."""
    page.set_viewport_size({"width": 390, "height": 900})
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 1, f"{name}: the page is {overflow}px wider than a 390px screen"
    shoot(page, f"pages-{name}")


def _viewport_shots(page: Any, name: str) -> None:
    """The docs pages are very long: their first screen only, at both widths."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"pages-{name}-{label}.png"))
    page.set_viewport_size({"width": 1280, "height": 900})


def _by_name(http: httpx.Client, path: str, name: str) -> dict[str, Any]:
    found = [r for r in http.get(path).json() if r["name"] == name]
    assert found, (path, name)
    return dict(found[0])


def _wait_run(http: httpx.Client, sync_id: str, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run: dict[str, Any] = http.get(f"/syncs/{sync_id}/runs/{run_id}").json()
        if run["status"] in ("completed", "failed", "cancelled"):
            return run
        time.sleep(0.2)
    raise AssertionError("the run did not finish")


def test_connections_models_alerts_and_audit_pages(
    app: tuple[Server, httpx.Client, dict[str, Any]], tmp_path: Path
) -> None:
    ensure_chromium()
    from playwright.sync_api import expect, sync_playwright

    srv, http, ws = app
    base = srv.base
    with (
        WebhookReceiver(hmac_secret=PLANTED) as rx,
        AlertInbox() as inbox,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)  # the machine may be loaded; expect() waits as long
        expect.set_options(timeout=30_000)
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        page.goto(f"{base}/ui/sources")  # deep link: login, then back here
        page.fill("#token", ws["token"])
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("Sources")
        _snap(page, "sources-empty")

        # keyboard: skip link first, then the brand and the main navigation
        page.keyboard.press("Tab")
        expect(page.locator("a.skip")).to_be_focused()
        for _ in range(3):
            page.keyboard.press("Tab")
        expect(page.locator("header nav a", has_text="Models")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_have_text("Models")
        page.goto(f"{base}/ui/sources")

        # a source, tested
        page.click("a:has-text('New source')")
        _snap(page, "source-types")
        page.click("a:has-text('DuckDB')")
        page.fill("#name", "Warehouse")
        page.fill("#cfg-path", _warehouse(tmp_path))
        _snap(page, "source-form")
        page.click("button:has-text('Create source')")
        expect(page.locator(".flash")).to_contain_text("Source created")
        page.click("button:has-text('Test connection')")
        expect(page.locator("#check")).to_contain_text("Connection OK")
        _snap(page, "source")

        # a model: a primary key that is not a column first, shown next to the field
        page.click("header nav a:has-text('Models')")
        page.click("a:has-text('New model')")
        page.fill("#name", "People")
        page.select_option("#source_id", label="Warehouse (duckdb)")
        page.fill("#sql", "SELECT id, name FROM people")
        page.fill("#primary_key", "nope")
        page.click("button:has-text('Create model')")
        expect(page.locator("#err-primary_key")).to_contain_text("not a column")
        _snap(page, "model-form-error")
        page.fill("#primary_key", "id")
        page.click("button:has-text('Create model')")
        expect(page.locator(".flash")).to_contain_text("Model created")
        expect(page.locator("pre.sql")).to_contain_text("SELECT id, name FROM people")
        page.click("button:has-text('Preview rows')")
        expect(page.locator("table.preview")).to_contain_text("p1")
        _snap(page, "model")

        # a webhook destination with a secret, which no page ever shows again
        page.click("header nav a:has-text('Destinations')")
        page.click("a:has-text('New destination')")
        page.click("a:has-text('Webhook')")
        page.fill("#name", "Hook")
        page.fill("#cfg-url", rx.url)
        page.fill("#cfg-hmac_secret", PLANTED)
        page.click("text=More settings")
        page.fill("#cfg-results_path", "results")
        page.fill("#cfg-batch_size", "10")
        _snap(page, "destination-form")
        page.click("button:has-text('Create destination')")
        expect(page.locator(".flash")).to_contain_text("Destination created")
        assert PLANTED not in page.content()
        page.click("button:has-text('Test connection')")  # a signed HEAD: the secret works
        expect(page.locator("#check")).to_contain_text("Connection OK")
        _snap(page, "destination")

        page.click("a:has-text('Edit')")  # rename without retyping the secret
        expect(page.locator("#cfg-hmac_secret-hint")).to_contain_text("A value is stored")
        assert page.input_value("#cfg-hmac_secret") == ""
        assert PLANTED not in page.content()
        _snap(page, "destination-edit")
        page.fill("#name", "Hook (edited)")
        page.click("button:has-text('Save')")
        expect(page.locator(".flash")).to_contain_text("Saved")
        expect(page.locator("h1")).to_have_text("Hook (edited)")
        page.click("header nav a:has-text('Destinations')")
        expect(page.locator("table")).to_contain_text("Hook (edited)")
        assert PLANTED not in page.content()
        _snap(page, "destinations")

        # an alert channel, tested
        page.click("header nav a:has-text('Alerts')")
        page.click("a:has-text('Alert channels')")
        page.click("a:has-text('New channel')")
        page.click("a:has-text('JSON webhook')")
        page.fill("#name", "ops inbox")
        page.fill("#cfg-url", inbox.url)
        page.fill("#cfg-hmac_secret", CHANNEL_SECRET)
        page.click("button:has-text('Create channel')")
        expect(page.locator(".flash")).to_contain_text("Channel created")
        page.click("button:has-text('Send test')")
        expect(page.locator(".check-result")).to_contain_text("Test alert delivered")
        assert CHANNEL_SECRET not in page.content() and inbox.bodies
        _snap(page, "alert-channels")

        # a sync on what the browser made; a rejected record fires its alert
        rx.reject_keys({"3": "name is not allowed"})
        model = _by_name(http, "/models", "People")
        dest = _by_name(http, "/destinations", "Hook (edited)")
        sync = http.post(
            "/syncs",
            json={
                "name": "People to hook",
                "model_id": model["id"],
                "destination_id": dest["id"],
                "field_mapping": [
                    {"source_column": "id", "destination_field": "id"},
                    {"source_column": "name", "destination_field": "name"},
                ],
                "sync_mode": "upsert",
                "primary_key": "id",
                "alert_attributes": [
                    {"type": "InvalidRecordPercentAlertConfiguration", "threshold": 1}
                ],
            },
        )
        assert sync.status_code == 201, sync.text
        sync_id = sync.json()["id"]
        run = http.post(f"/syncs/{sync_id}/trigger").json()
        done = _wait_run(http, sync_id, run["id"])
        # the edited destination still signs with the secret: the receiver took 39 of 40
        assert (done["status"], done["rows_synced"], done["rows_failed"]) == ("completed", 39, 1)

        page.click("header nav a:has-text('Alerts')")
        deadline = time.monotonic() + 20
        while "delivered" not in page.locator("main").inner_text():
            assert time.monotonic() < deadline, page.locator("main").inner_text()
            page.wait_for_timeout(300)
            page.reload()
        table = page.locator("table.alerts")
        expect(table).to_contain_text("InvalidRecordPercentAlertConfiguration")
        expect(table).to_contain_text("People to hook")
        expect(table).to_contain_text("ops inbox")
        _snap(page, "alerts")

        page.click("header nav a:has-text('Audit')")
        audit = page.locator("table.audit")
        for action in ("source.create", "model.create", "destination.update", "sync.create"):
            expect(audit).to_contain_text(action)
        expect(audit).to_contain_text("via ui")
        _snap(page, "audit")
        page.select_option("#object_type", "destination")
        page.click("button:has-text('Filter')")
        expect(audit).to_contain_text("destination.create")
        expect(audit).not_to_contain_text("source.create")

        # delete with confirmation: refused while used, then done
        page.goto(f"{base}/ui/sources")
        page.click("a:has-text('Warehouse')")
        page.click("a:has-text('Delete')")
        expect(page.locator("main")).to_contain_text("People")  # who uses it
        _snap(page, "confirm-delete")
        page.click("button:has-text('Delete for good')")
        expect(page.locator(".flash")).to_contain_text("used by models")
        assert http.delete(f"/syncs/{sync_id}").status_code == 200
        page.goto(f"{base}/ui/destinations/{dest['id']}")
        page.click("a:has-text('Delete')")
        page.click("button:has-text('Delete for good')")
        expect(page.locator(".flash")).to_contain_text("Destination deleted")
        expect(page.locator("main")).not_to_contain_text("Hook (edited)")
        browser.close()
    # 4xx answers (the refused form is a 422) are logged as "Failed to load resource"
    assert not [e for e in errors if not e.startswith("Failed to load resource")], errors


def test_api_docs_render_without_internet(
    app: tuple[Server, httpx.Client, dict[str, Any]],
) -> None:
    ensure_chromium()
    from playwright.sync_api import expect, sync_playwright

    srv, _, _ = app
    blocked: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(srv.base):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        expect.set_options(timeout=30_000)
        page.route("**/*", only_local)
        page.goto(f"{srv.base}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("Syncline API")
        expect(page.locator(".opblock-summary").first).to_be_visible()
        _viewport_shots(page, "docs")
        page.goto(f"{srv.base}/redoc")
        expect(page.locator("h1").first).to_contain_text("Syncline API")
        expect(page.get_by_text("List sources").first).to_be_attached()
        _viewport_shots(page, "redoc")
        browser.close()
    assert blocked == [], blocked
