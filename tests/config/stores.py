"""Metadata stores for the config-as-code and dbt tests: SQLite and PostgreSQL, each built once.

Imported by the conftests of ``tests/config`` and ``tests/dbt`` so both suites run every
test against both backends, as the API suite does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from syncline.context import AppContext
from syncline.services.workspaces import create_workspace
from tests.fixtures.stores import backend_fixtures

_stores, _pg_store, ctx = backend_fixtures("syncline_cfg")


@pytest.fixture
def workspace_id(ctx: AppContext) -> str:
    """A fresh workspace in the store."""
    with ctx.sessions() as session:
        workspace, _ = create_workspace(session, name="Config", pepper=ctx.token_pepper)
        return workspace.id


def make_warehouse(path: Path) -> Path:
    """A DuckDB file with ``customers`` (id, email, first_name, plan) and ``orders``."""
    con = duckdb.connect(str(path))
    try:
        con.execute(
            """
            CREATE TABLE customers AS
            SELECT i AS customer_id, 'user' || i || '@example.com' AS email,
                   'First' || i AS first_name, CASE WHEN i % 2 = 0 THEN 'pro' ELSE 'free' END
                   AS plan
            FROM range(1, 11) t(i);
            CREATE TABLE orders AS
            SELECT i AS order_id, 1 + i % 10 AS customer_id, i * 3.5 AS amount
            FROM range(1, 21) t(i);
            """
        )
    finally:
        con.close()
    return path


def rows(ctx: AppContext, table: Any, workspace_id: str) -> list[Any]:
    """Every row of ``table`` in the workspace, by name."""
    with ctx.sessions() as session:
        found = session.scalars(
            sa.select(table).where(table.workspace_id == workspace_id).order_by(table.name)
        )
        return list(found)
