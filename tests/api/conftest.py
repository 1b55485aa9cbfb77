"""API test fixtures: the whole suite runs against SQLite and PostgreSQL metadata stores.

Each backend is built once per test session (per xdist worker) and emptied before every test,
which keeps the suite fast without sharing state between tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from api_helpers import RecordingQueue, Tenant, make_tenant
from fastapi.testclient import TestClient
from tests.fixtures.stores import backend_fixtures

from syncline.api.app import create_app
from syncline.context import AppContext


def _recording(context: AppContext) -> None:
    context.queue = RecordingQueue()


# An AppContext on an empty, migrated store of each backend, with a RecordingQueue.
_stores, _pg_store, ctx = backend_fixtures("syncline_api", prepare=_recording)


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
