"""Metadata stores for the config-as-code and dbt tests: SQLite and PostgreSQL, each built once.

Imported by the conftests of ``tests/config`` and ``tests/dbt`` so both suites run every
test against both backends, as the API suite does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from syncline.bootstrap import build_context
from syncline.context import AppContext
from syncline.services.workspaces import create_workspace
from syncline.settings import Settings
from syncline.store.db import upgrade
from syncline.store.tables import Base

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
def _stores() -> Iterator[dict[str, AppContext]]:
    contexts: dict[str, AppContext] = {}
    yield contexts
    for ctx in contexts.values():
        ctx.dispose()


@pytest.fixture(scope="session")
def _pg_store(pg_server: str) -> Iterator[str]:
    import psycopg

    name = f"syncline_cfg_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{pg_server}/{name}".replace("postgresql://", "postgresql+psycopg://")
    upgrade(url)
    yield url
    with psycopg.connect(f"{pg_server}/postgres", autocommit=True) as conn:
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
    """An AppContext on an empty, migrated store of each backend."""
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
    return context


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
