"""Secrets planted in connector configs never come back: API, store file, logs, runs, pages.

The secrets sit where no key name gives them away: a URL's userinfo and query, a custom
header, besides the declared ones (a DSN password, an HMAC secret, a bearer token).
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.bootstrap import build_context
from syncline.context import AppContext
from syncline.emulators.receiver import WebhookReceiver
from syncline.execution.engine_env import run_engine
from syncline.runs.lifecycle import claim_run, finish_run
from syncline.security.redact import redact
from syncline.services.workspaces import create_workspace
from syncline.settings import Settings
from syncline.store.db import upgrade
from syncline.store.tables import SyncRun

PG_PW = "pgPW-7f3a9c"
URL_PW = "hookPW-41d2e8"
API_KEY = "qsKEY-9b7e55"
HEADER = "hdrVAL-c0ffee"
HMAC = "hmacSEC-5eed11"
BEARER = "bearerTOK-77aa21"
SECRETS = [PG_PW, URL_PW, API_KEY, HEADER, HMAC, BEARER]


def _leaks(text: str | bytes) -> list[str]:
    raw = text if isinstance(text, str) else text.decode("latin-1")
    return [s for s in SECRETS if s in raw]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Server:
    ctx: AppContext
    client: TestClient
    token: str
    workspace_id: str
    db_file: Path

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = f"/api/v1/workspaces/{self.workspace_id}{path}"
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.client.request(method, url, headers=headers, **kwargs)

    def created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.api("POST", path, json=body)
        assert resp.status_code == 201, resp.text
        assert _leaks(resp.text) == []
        out: dict[str, Any] = resp.json()
        return out


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data = tmp_path / "data"
    settings = Settings(data_dir=data, secret_key=Fernet.generate_key().decode())
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url())
    ctx = build_context(settings)
    with ctx.sessions() as session:
        workspace, token = create_workspace(session, name="Acme", pepper=ctx.token_pepper)
        workspace_id = workspace.id
    try:
        with TestClient(create_app(ctx)) as client:
            yield Server(ctx, client, token, workspace_id, data / "syncline.db")
    finally:
        ctx.dispose()


def _webhook_config(url: str) -> dict[str, Any]:
    return {
        "url": url,
        "headers": {"X-Vendor-Key": HEADER},
        "hmac_secret": HMAC,
        "auth": {"type": "bearer", "token": BEARER},
        "max_retries": 0,
        "timeout_seconds": 2,
    }


def _plant(server: Server, tmp_path: Path) -> dict[str, str]:
    """A postgres source with a DSN password, a failing webhook full of secrets, a sync."""
    pg = server.created(
        "/sources",
        {
            "name": "pg",
            "type": "postgres",
            "config": {"dsn": f"postgresql://app:{PG_PW}@127.0.0.1:1/crm"},
        },
    )
    warehouse = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE TABLE t AS SELECT i AS id, 'x' || i AS name FROM range(3) r(i)")
    con.close()
    wh = server.created(
        "/sources", {"name": "wh", "type": "duckdb", "config": {"path": str(warehouse)}}
    )
    model = server.created(
        "/models",
        {"name": "m", "source_id": wh["id"], "sql": "SELECT * FROM t", "primary_key": "id"},
    )
    url = f"http://hook:{URL_PW}@127.0.0.1:{_closed_port()}/in?api_key={API_KEY}"
    dest = server.created(
        "/destinations", {"name": "hook", "type": "webhook", "config": _webhook_config(url)}
    )
    sync = server.created(
        "/syncs",
        {
            "name": "s",
            "model_id": model["id"],
            "destination_id": dest["id"],
            "field_mapping": [{"source_column": "name", "destination_field": "name"}],
            "sync_mode": "upsert",
            "primary_key": "id",
            "config": {"max_retries": 1, "retry_backoff_seconds": 0},
        },
    )
    return {"pg": pg["id"], "wh": wh["id"], "dest": dest["id"], "sync": sync["id"]}


def _run(server: Server, sync_id: str) -> str:
    ctx = server.ctx
    with ctx.sessions.begin() as s:
        run = SyncRun(sync_id=sync_id, workspace_id=server.workspace_id, run_mode="incremental")
        s.add(run)
        s.flush()
        run_id = run.id
    assert claim_run(ctx.sessions, run_id, executor_id="test")
    outcome = run_engine(ctx, run_id)
    assert finish_run(ctx.sessions, run_id, outcome, executor_id="test")
    return run_id


def test_planted_secrets_never_come_back(
    server: Server, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "syncline"):
        caplog.set_level(logging.DEBUG, logger=name)
    ids = _plant(server, tmp_path)

    # API answers: lists and single objects; the URL is shown, its secrets masked.
    for path in (
        "/sources",
        f"/sources/{ids['pg']}",
        "/destinations",
        f"/destinations/{ids['dest']}",
    ):
        resp = server.api("GET", path)
        assert resp.status_code == 200 and _leaks(resp.text) == [], (path, resp.text)
    shown = server.api("GET", f"/destinations/{ids['dest']}").json()["config"]
    assert shown["url"].startswith("http://hook:********@127.0.0.1:")
    assert shown["url"].endswith("/in?api_key=********")
    assert shown["headers"] == {"X-Vendor-Key": "********"}

    # A run against a closed port fails; its error names the URL without its secrets.
    run_id = _run(server, ids["sync"])
    run = server.api("GET", f"/syncs/{ids['sync']}/runs/{run_id}").json()
    assert run["status"] == "failed" and run["error_message"], run
    assert "127.0.0.1" in run["error_message"]
    for path in (
        f"/syncs/{ids['sync']}",
        f"/syncs/{ids['sync']}/runs",
        f"/syncs/{ids['sync']}/runs/{run_id}",
        f"/syncs/{ids['sync']}/runs/{run_id}/records",
    ):
        resp = server.api("GET", path)
        assert resp.status_code == 200 and _leaks(resp.text) == [], (path, resp.text)
    with server.ctx.sessions() as s:
        stored = s.get(SyncRun, run_id)
        assert stored is not None and _leaks(stored.error_message) == []

    # The dashboard.
    form = server.client.get("/ui/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    login = server.client.post(
        "/ui/login",
        data={"token": server.token, "csrf_token": csrf.group(1)},
        follow_redirects=False,
    )
    assert login.status_code in (302, 303), login.text
    pages = ["/ui/", f"/ui/syncs/{ids['sync']}", f"/ui/syncs/{ids['sync']}/runs/{run_id}"]
    for kind, key in (("sources", "pg"), ("destinations", "dest")):  # secrets are write-only
        pages += [f"/ui/{kind}", *(f"/ui/{kind}/{ids[key]}{end}" for end in ("", "/edit"))]
    pages += ["/ui/models", "/ui/alerts", "/ui/audit-events"]
    for page in pages:
        resp = server.client.get(page)
        assert resp.status_code == 200 and _leaks(resp.text) == [], page

    # A real request through httpx with the same URL shape: its INFO line is redacted.
    with WebhookReceiver() as rx:
        url = rx.url.replace("http://", f"http://hook:{URL_PW}@") + f"?api_key={API_KEY}"
        httpx.post(url, json=[], headers={"X-Vendor-Key": HEADER})
    logged = "\n".join(f"{r.name} {r.getMessage()}" for r in caplog.records)
    assert "HTTP Request: POST http://hook:********@127.0.0.1" in logged
    assert _leaks(logged) == [] and _leaks(caplog.text) == []

    # The metadata store file, byte for byte (WAL included).
    server.ctx.engine.dispose()
    for path in server.db_file.parent.glob("syncline.db*"):
        assert _leaks(path.read_bytes()) == [], path


def test_partial_update_with_masks_keeps_every_secret(server: Server, tmp_path: Path) -> None:
    ids = _plant(server, tmp_path)
    shown = server.api("GET", f"/destinations/{ids['dest']}").json()["config"]
    shown["url"] = shown["url"].replace("/in?", "/in2?")
    shown["batch_size"] = 7
    resp = server.api("PUT", f"/destinations/{ids['dest']}", json={"config": shown})
    assert resp.status_code == 200, resp.text
    assert _leaks(resp.text) == []
    with server.ctx.sessions() as s:
        from syncline.store.tables import Destination

        row = s.get(Destination, ids["dest"])
        assert row is not None
        clear = server.ctx.secrets.decrypt_config(row.config)
    assert clear["url"].endswith(f"/in2?api_key={API_KEY}") and f":{URL_PW}@" in clear["url"]
    assert clear["headers"] == {"X-Vendor-Key": HEADER}
    assert clear["hmac_secret"] == HMAC and clear["auth"]["token"] == BEARER
    assert clear["batch_size"] == 7


def test_redact_scrubs_urls_tokens_and_known_values() -> None:
    text = (
        f"GET https://u:{URL_PW}@api.example.com/x?api_key={API_KEY}&page=2 "
        f"Authorization: Bearer {BEARER} password={PG_PW} header {HEADER}"
    )
    out = redact(text, extra=[HEADER])
    assert _leaks(out) == []
    assert "https://u:********@api.example.com/x?api_key=********&page=********" in out


def test_redact_leaves_prose_alone() -> None:
    for text in (
        "POST http://127.0.0.1:9/services/oauth2/token failed: connection refused",
        "HubSpot refused the access token: INVALID_AUTHENTICATION",
        "Basic Authentication is needed",
        "Email: invalid address",
    ):
        assert redact(text) == text


def test_scrubbing_a_long_text_is_linear() -> None:
    """A 500 KB model SQL went through the userinfo pattern in quadratic time (minutes)."""
    import time

    from syncline.domain.secrets import scrub_text

    text = "SELECT * FROM t -- " + "x" * 500_000 + " https://u:pw@host/x"
    started = time.monotonic()
    scrubbed = scrub_text(text)
    assert time.monotonic() - started < 5
    assert "pw@" not in scrubbed and scrubbed.startswith("SELECT * FROM t -- xxx")
