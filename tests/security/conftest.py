"""Security test fixtures: the API fixtures (both stores, tenants), a local HTTP server,
an injectable resolver and an API on SQLite.

The API fixtures:

``tests/api`` is not a package: its conftest is loaded here under another name and its
fixtures re-exported, so both directories share one definition.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.bootstrap import build_context
from syncline.connectors import _netguard
from syncline.context import AppContext
from syncline.services.workspaces import create_workspace
from syncline.settings import Settings
from syncline.store.db import upgrade

API_DIR = Path(__file__).resolve().parents[1] / "api"
if str(API_DIR) not in sys.path:
    sys.path.insert(0, str(API_DIR))

_spec = importlib.util.spec_from_file_location("api_conftest", API_DIR / "conftest.py")
assert _spec is not None and _spec.loader is not None
_api = importlib.util.module_from_spec(_spec)
sys.modules["api_conftest"] = _api
_spec.loader.exec_module(_api)

_stores = _api._stores
_pg_store = _api._pg_store
ctx = _api.ctx
client = _api.client
warehouse = _api.warehouse
tenant = _api.tenant
other = _api.other


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class LocalServer:
    """An HTTP server on 127.0.0.1 answering every request with ``reply(path)``."""

    port: int
    seen: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, Host)
    reply: Callable[[str], Reply] = lambda path: (200, {}, b"ok")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def server() -> Iterator[LocalServer]:
    state = LocalServer(port=0)

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            state.seen.append((self.command, self.path, self.headers.get("Host", "")))
            status, headers, body = state.reply(self.path)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@dataclass
class FakeDNS:
    """A resolver the guard calls instead of the system's: ``names`` maps a name to addresses."""

    names: dict[str, list[str]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def __call__(self, host: str) -> list[str]:
        self.calls.append(host)
        if host not in self.names:
            raise OSError(f"{host}: name not known")
        return list(self.names[host])


@pytest.fixture
def dns() -> Iterator[FakeDNS]:
    """The process's guard uses a fake resolver (private ranges allowed) for the test."""
    fake = FakeDNS()
    _netguard.configure(_netguard.NetworkPolicy(allow_private=True, resolver=fake))
    try:
        yield fake
    finally:
        _netguard.configure(None)


def deny_private(dns: FakeDNS) -> None:
    """Switch the process's guard to SYNCLINE_NETWORK_ALLOW_PRIVATE=false (same resolver)."""
    _netguard.configure(_netguard.NetworkPolicy(allow_private=False, resolver=dns))


@dataclass
class Api:
    """One workspace on a fresh SQLite store, with its token."""

    ctx: AppContext
    client: TestClient
    workspace_id: str
    token: str

    def url(self, path: str) -> str:
        return f"/api/v1/workspaces/{self.workspace_id}{path}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.client.request(method, self.url(path), headers=headers, **kwargs)

    def create(self, type: str, config: dict[str, Any]) -> Any:
        body = {"name": f"{type} destination", "type": type, "config": config}
        return self.call("POST", "/destinations", json=body)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, database_url=None, file_root=tmp_path / "files")
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url())
    ctx = build_context(settings)
    with ctx.sessions() as session:
        workspace, token = create_workspace(session, name="Acme", pepper=ctx.token_pepper)
        workspace_id = workspace.id
    try:
        with TestClient(create_app(ctx)) as client:
            yield Api(ctx, client, workspace_id, token)
    finally:
        _netguard.configure(None)
        ctx.dispose()
