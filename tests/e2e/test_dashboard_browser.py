"""The dashboard in Debian's Chromium (headless, Playwright) against a real ``syncline serve``.

Sign in through a deep link, build a sync in the form (a mapping error first, then fixed), read
the syncs list, run a sync to a webhook receiver and watch the run page update itself to
completion, read a rejected record's payload, pause, and cancel a slow run. Screenshots of
every page at 1280 px and 390 px go to ``test-output/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from syncline.emulators.receiver import WebhookReceiver
from tests.e2e.browser import ARGS, CHROMIUM, SHOTS, WIDTHS, served_workspace
from tests.e2e.browser import ensure_chromium as _ensure_chromium
from tests.fixtures.servers import ServeProcess as Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[Server, httpx.Client, dict[str, Any]]]:
    with served_workspace(tmp_path) as served:
        yield served


def _made(http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = http.post(path, json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _parts(http: httpx.Client, tmp: Path, rx: WebhookReceiver, rows: int) -> dict[str, Any]:
    """A DuckDB source of ``rows`` people, a model on it and a webhook destination."""
    wh = tmp / f"wh{rows}.duckdb"
    con = duckdb.connect(str(wh))
    con.execute(f"CREATE TABLE people AS SELECT i AS id, 'p' || i AS name FROM range({rows}) t(i)")
    con.close()
    src = _made(
        http,
        "/sources",
        {"name": f"Warehouse {rows}", "type": "duckdb", "config": {"path": str(wh)}},
    )
    model = _made(
        http,
        "/models",
        {
            "name": f"People {rows}",
            "source_id": src["id"],
            "sql": "SELECT * FROM people",
            "primary_key": "id",
        },
    )
    dest = _made(
        http,
        "/destinations",
        {
            "name": f"Hook {rows}",
            "type": "webhook",
            "config": {"url": rx.url, "results_path": "results", "batch_size": 10},
        },
    )
    return {"model": model["id"], "destination": dest["id"]}


def _sync(http: httpx.Client, tmp: Path, rx: WebhookReceiver, rows: int) -> str:
    parts = _parts(http, tmp, rx, rows)
    sync = _made(
        http,
        "/syncs",
        {
            "name": f"People to hook ({rows})",
            "model_id": parts["model"],
            "destination_id": parts["destination"],
            "field_mapping": [
                {"source_column": "id", "destination_field": "id"},
                {"source_column": "name", "destination_field": "name"},
            ],
            "sync_mode": "upsert",
            "primary_key": "id",
            "schedule": "0 */6 * * *",
            "config": {"batch_size": 10},
        },
    )
    return str(sync["id"])


def _shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_dashboard_in_chromium(
    app: tuple[Server, httpx.Client, dict[str, Any]], tmp_path: Path
) -> None:
    _ensure_chromium()
    from playwright.sync_api import expect, sync_playwright

    srv, http, ws = app
    with WebhookReceiver() as rx, sync_playwright() as pw:
        rx.reject_keys({"3": "name is not allowed", "7": "name is not allowed"})
        _parts(http, tmp_path, rx, 40)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        page.goto(f"{srv.base}/ui/syncs/new")  # a deep link: login first, then back here
        _shoot(page, "login")
        page.fill("#token", ws["token"])
        page.keyboard.press("Enter")
        expect(page.locator("h1")).to_contain_text("New sync")

        page.fill("#name", "Built in the browser")
        page.select_option("#model_id", label="People 40")
        expect(page.locator("#columns option[value=name]")).to_have_count(1)  # htmx catalog
        page.click("#preview-button")
        expect(page.locator("#preview table")).to_contain_text("p9")  # the model's rows
        page.select_option("#destination_id", label="Hook 40 (webhook)")
        expect(page.locator("#catalog")).to_contain_text("takes any field names")
        page.fill("#primary_key", "id")
        page.fill("input[name=src_0]", "nme")  # a mapping error first
        page.fill("input[name=dst_0]", "name")
        page.fill("input[name=src_1]", "id")
        page.fill("input[name=dst_1]", "id")
        page.select_option("select[name=cast_1]", "string")
        page.fill("input[name=const_2]", "browser")
        page.fill("input[name=dst_2]", "origin")
        page.select_option("#sched_kind", "hours")
        page.fill("#sched_every", "6")
        page.locator("#sched_every").dispatch_event("change")
        expect(page.locator("#schedule-preview")).to_contain_text("Every 6 hours")
        expect(page.locator("#schedule-preview time")).to_have_count(3)  # next 3 fire times
        page.check("input[name=alert_FailureAlertConfiguration]")
        page.click("button:has-text('Validate')")
        error = page.locator("#err-field_mapping-0-source_column")
        expect(error).to_contain_text("nme")
        _shoot(page, "sync-form-error")
        page.fill("input[name=src_0]", "name")
        page.click("button:has-text('Validate')")
        expect(page.locator(".flash")).to_contain_text("Valid")
        expect(page.locator(".field-error")).to_have_count(0)
        page.click("button:has-text('Save')")
        expect(page.locator("h1")).to_contain_text("Built in the browser")
        expect(page.locator("table.mapping")).to_contain_text("constant")
        expect(page.locator("dl.fields")).to_contain_text("Every 6 hours")
        expect(page.locator("dl.fields")).to_contain_text("A run fails")
        _shoot(page, "sync")

        page.click("text=Run now")  # run it and watch the page reach the end by itself
        expect(page.locator("#live")).to_contain_text("completed", timeout=30_000)
        expect(page.locator("#live")).to_contain_text("partial")
        expect(page.locator(".groups")).to_contain_text("2")
        _shoot(page, "run-partial")
        page.click("text=view >> nth=0")
        expect(page.locator("pre.payload")).to_contain_text('"name"')
        _shoot(page, "record")

        page.goto(f"{srv.base}/ui/")
        expect(page.locator("table")).to_contain_text("Every 6 hours")
        expect(page.locator("table")).to_contain_text("warning")
        expect(page.locator("table")).to_contain_text("partial")
        _shoot(page, "syncs")

        page.click("text=Built in the browser")
        page.click("button:has-text('Pause')")
        expect(page.locator(".flash")).to_contain_text("Paused")
        expect(page.locator("button:has-text('Resume')")).to_be_visible()
        page.click("text=Edit")
        expect(page.locator("input[name=const_2]")).to_have_value("browser")
        expect(page.locator("#sched_every")).to_have_value("6")
        _shoot(page, "sync-edit")

        rx.clear_faults()
        slow = _sync(http, tmp_path, rx, 400)
        rx.inject(None, times=40, delay=0.4)
        page.goto(f"{srv.base}/ui/syncs/{slow}")
        page.click("text=Run now")
        expect(page.locator("#live")).to_contain_text("running", timeout=20_000)
        expect(page.locator(".progress-text")).to_contain_text(" of ", timeout=20_000)
        _shoot(page, "run-live")
        page.click("text=Cancel run")
        expect(page.locator(".flash")).to_contain_text("Cancel requested")
        expect(page.locator("#live")).to_contain_text("cancelled", timeout=30_000)
        _shoot(page, "run-cancelled")
        browser.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors
