"""API test fixtures: the whole suite runs against SQLite and PostgreSQL metadata stores.

Each backend is built once per test session (per xdist worker) and emptied before every test,
which keeps the suite fast without sharing state between tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from api_helpers import RecordingQueue, Tenant, make_tenant
from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.bootstrap import build_context
from syncline.context import AppContext
from syncline.settings import Settings
from syncline.store.db import upgrade
from syncline.store.tables import Base

BACKENDS = ["sqlite", "postgres"]


def _pg_admin(pg_server: str) -> Any:
    import psycopg

    return psycopg.connect(f"{pg_server}/postgres", autocommit=True)


@pytest.fixture(scope="session")
def _stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, AppContext]]:
    contexts: dict[str, AppContext] = {}
    yield contexts
    for ctx in contexts.values():
        ctx.dispose()


@pytest.fixture(scope="session")
def _pg_store(pg_server: str) -> Iterator[str]:
    name = f"syncline_api_{uuid.uuid4().hex[:12]}"
    with _pg_admin(pg_server) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{pg_server}/{name}".replace("postgresql://", "postgresql+psycopg://")
    upgrade(url)
    yield url
    with _pg_admin(pg_server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty(ctx: AppContext) -> None:
    tables = [t.name for t in Base.metadata.sorted_tables]
    with ctx.engine.begin() as conn:
        if ctx.is_postgres:
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                conn.execute(sa.text(f"DELETE FROM {name}"))


@pytest.fixture(params=BACKENDS)
def ctx(
    request: pytest.FixtureRequest,
    _stores: dict[str, AppContext],
    tmp_path_factory: pytest.TempPathFactory,
) -> AppContext:
    """An AppContext on an empty, migrated store of each backend, with a RecordingQueue."""
    backend: str = request.param
    if backend not in _stores:
        data_dir = tmp_path_factory.mktemp(f"data-{backend}")
        if backend == "sqlite":
            url = f"sqlite:///{data_dir / 'syncline.db'}"
            upgrade(url)
        else:
            url = request.getfixturevalue("_pg_store")
        _stores[backend] = build_context(Settings(data_dir=data_dir, database_url=url))
    context = _stores[backend]
    _empty(context)
    context.queue = RecordingQueue()
    return context


@pytest.fixture
def client(ctx: AppContext) -> Iterator[TestClient]:
    with TestClient(create_app(ctx)) as c:
        yield c


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A DuckDB file with a ``customers`` table of 30 rows of mixed types."""
    path = tmp_path_factory.mktemp("warehouse") / "wh.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        """
        CREATE TABLE customers AS
        SELECT i AS customer_id,
               'user' || i || '@example.com' AS email,
               'First' || i AS first_name,
               'Last' || i AS last_name,
               CAST(i * 10.5 AS DECIMAL(10, 2)) AS revenue,
               TIMESTAMPTZ '2024-01-01 00:00:00+00' + INTERVAL (i) HOUR AS signed_up_at,
               DATE '2024-01-01' + CAST(i AS INTEGER) AS signup_date,
               i % 2 = 0 AS active,
               CAST('bin' || i AS BLOB) AS avatar,
               CASE WHEN i % 3 = 0 THEN NULL ELSE i * 1.5 END AS score
        FROM range(1, 31) t(i)
        """
    )
    con.close()
    return str(path)


@pytest.fixture
def tenant(ctx: AppContext, client: TestClient, tmp_path: Path, warehouse: str) -> Tenant:
    """Workspace A."""
    return make_tenant(ctx, client, tmp_path, warehouse, "Acme")


@pytest.fixture
def other(ctx: AppContext, client: TestClient, tmp_path: Path, warehouse: str) -> Tenant:
    """Workspace B, on the same server as A."""
    return make_tenant(ctx, client, tmp_path, warehouse, "Globex")
