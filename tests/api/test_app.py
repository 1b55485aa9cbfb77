"""The app factory: health, lifespan hooks, the OpenAPI document and Swagger UI."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.bootstrap import build_context
from syncline.context import AppContext
from syncline.settings import Settings

SEED_PATHS = {
    ("get", "/api/v1/workspaces/{id}/syncs"),
    ("post", "/api/v1/workspaces/{id}/syncs"),
    ("get", "/api/v1/workspaces/{id}/syncs/{syncId}"),
    ("put", "/api/v1/workspaces/{id}/syncs/{syncId}"),
    ("delete", "/api/v1/workspaces/{id}/syncs/{syncId}"),
    ("post", "/api/v1/workspaces/{id}/syncs/{syncId}/trigger"),
    ("get", "/api/v1/workspaces/{id}/syncs/{syncId}/runs"),
    ("get", "/api/v1/workspaces/{id}/syncs/{syncId}/runs/{runId}"),
}


def test_healthz_ok(client: TestClient) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


def test_healthz_unmigrated_store_is_503(tmp_path: Path) -> None:
    ctx = build_context(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}"))
    try:
        with TestClient(create_app(ctx)) as c:
            resp = c.get("/healthz")
        assert resp.status_code == 503
        assert resp.json()["status"] == "unavailable" and "migrated" in resp.json()["detail"]
    finally:
        ctx.dispose()


def test_healthz_unreachable_store_is_503(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    ctx = build_context(Settings(data_dir=tmp_path, database_url=url))
    try:
        with TestClient(create_app(ctx)) as c:
            resp = c.get("/healthz")
        assert resp.status_code == 503 and "unreachable" in resp.json()["detail"]
    finally:
        ctx.dispose()


def test_lifespan_hooks_enter_and_exit_in_order(ctx: AppContext) -> None:
    events: list[str] = []

    def hook(name: str):  # type: ignore[no-untyped-def]
        @contextlib.contextmanager
        def run(c: AppContext) -> Iterator[None]:
            assert c is ctx
            events.append(f"enter {name}")
            yield
            events.append(f"exit {name}")

        return run

    app = create_app(ctx, lifespan_hooks=[hook("pool"), hook("scheduler")])
    assert app.state.ctx is ctx
    with TestClient(app) as c:
        assert events == ["enter pool", "enter scheduler"]
        assert c.get("/healthz").status_code == 200
    assert events == ["enter pool", "enter scheduler", "exit scheduler", "exit pool"]


def test_openapi_document(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    ops = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert ops >= SEED_PATHS
    create = doc["paths"]["/api/v1/workspaces/{id}/syncs"]["post"]
    example = create["requestBody"]["content"]["application/json"]["examples"]["seed"]["value"]
    assert example["name"] == "Customers to Salesforce" and example["schedule"] == "0 */6 * * *"
    assert {"201", "200", "401", "404", "422"} <= set(create["responses"])
    schemes = doc["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    sync_schema = doc["components"]["schemas"]["SyncOut"]
    assert sync_schema["examples"][0]["id"] == "550e8400-e29b-41d4-a716-446655440000"
    assert client.get("/docs").status_code == 200


def test_store_refusals_never_become_500s(ctx: AppContext) -> None:
    from sqlalchemy.exc import DataError, IntegrityError

    app = create_app(ctx)

    @app.get("/_data_error")
    def data_error() -> None:
        raise DataError("INSERT ...", {}, Exception("value too long"))

    @app.get("/_integrity_error")
    def integrity_error() -> None:
        raise IntegrityError("INSERT ...", {}, Exception("foreign key"))

    with TestClient(app) as c:
        bad = c.get("/_data_error")
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body"]
        raced = c.get("/_integrity_error")
        assert raced.status_code == 409 and "retry" in raced.json()["detail"]
