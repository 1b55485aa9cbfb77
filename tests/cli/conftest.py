"""A real Syncline server (API + embedded workers) in a thread, for the operator CLI tests.

One server per test session keeps the suite fast; each test that changes state makes its own
sync, so the tests do not depend on their order.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from syncline.api.app import create_app
from syncline.bootstrap import build_context, executor_hooks
from syncline.cli import app
from syncline.services.workspaces import create_workspace
from syncline.settings import Settings
from syncline.store.db import upgrade
from tests.fixtures.servers import free_port, serve_in_thread

__all__ = ["Cli", "Server", "free_port"]  # free_port: imported from here by the CLI tests


def build_warehouse(path: Path) -> None:
    """30 customers and one duplicated key, so every full run rejects two rows."""
    con = duckdb.connect(str(path))
    try:
        con.execute(
            """CREATE OR REPLACE TABLE customers AS
               SELECT i AS customer_id, 'user' || i || '@example.com' AS email,
                      'First' || i AS first_name
               FROM range(1, 31) t(i)"""
        )
        con.execute("INSERT INTO customers VALUES (7, 'dup@example.com', 'Dup')")
    finally:
        con.close()


@dataclass
class Server:
    """The running server, its workspace and token, and a way to create objects over HTTP."""

    base: str
    workspace_id: str
    token: str
    tmp: Path
    http: httpx.Client
    ids: dict[str, str] = field(default_factory=dict)

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.http.post(path, json=body)
        assert resp.status_code == 201, resp.text
        out: dict[str, Any] = resp.json()
        return out

    def warehouse_source(self, path: Path) -> str:
        """A DuckDB source on a fresh warehouse file at ``path``, with a model on it."""
        build_warehouse(path)
        src = self.create(
            "/sources",
            {"name": f"wh-{path.stem}", "type": "duckdb", "config": {"path": str(path)}},
        )
        model = self.create(
            "/models",
            {
                "name": f"customers-{path.stem}",
                "source_id": src["id"],
                "sql": "SELECT * FROM customers",
                "primary_key": "customer_id",
            },
        )
        return str(model["id"])

    def sync(self, name: str, model_id: str | None = None, **extra: Any) -> dict[str, Any]:
        """A new upsert sync to a fresh CSV folder (on the shared model unless told)."""
        out_dir = self.tmp / f"out-{uuid.uuid4().hex[:8]}"
        dest = self.create(
            "/destinations",
            {"name": f"export {name}", "type": "file", "config": {"path": str(out_dir)}},
        )
        body = {
            "name": name,
            "model_id": model_id or self.ids["model"],
            "destination_id": dest["id"],
            "field_mapping": [
                {"source_column": "email", "destination_field": "Email"},
                {"source_column": "first_name", "destination_field": "FirstName"},
            ],
            "sync_mode": "upsert",
            "primary_key": "customer_id",
            **extra,
        }
        return self.create("/syncs", body)

    @property
    def env(self) -> dict[str, str]:
        return {
            "SYNCLINE_URL": self.base,
            "SYNCLINE_TOKEN": self.token,
            "SYNCLINE_WORKSPACE": self.workspace_id,
            "COLUMNS": "250",
        }


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("cli-server")
    settings = Settings(
        data_dir=tmp / "data", database_url=None, heartbeat_interval=0.5, scheduler_interval=1.0
    )
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url())
    ctx = build_context(settings)
    with ctx.sessions.begin() as s:
        ws, token = create_workspace(s, name="cli", pepper=ctx.token_pepper)
        ws_id = ws.id
    try:
        with serve_in_thread(create_app(ctx, lifespan_hooks=executor_hooks(ctx))) as base:
            http = httpx.Client(
                base_url=f"{base}/api/v1/workspaces/{ws_id}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            srv = Server(base=base, workspace_id=ws_id, token=token, tmp=tmp, http=http)
            srv.ids["model"] = srv.warehouse_source(tmp / "warehouse.duckdb")
            try:
                yield srv
            finally:
                http.close()
    finally:
        ctx.dispose()


@dataclass
class Cli:
    """Runs ``syncline ...`` in-process, pointed at the test server by environment variables."""

    server: Server
    runner: CliRunner

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        result = self.runner.invoke(app, list(args), env={**self.server.env, **(env or {})})
        # HTTP and connection errors must never surface as a stack trace.
        assert "Traceback" not in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )
        return result


@pytest.fixture
def cli(server: Server) -> Cli:
    return Cli(server, CliRunner())
