"""Fixtures of the dbt import tests: the stores of ``tests/config`` and a real dbt build."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.config.stores import _pg_store, _stores, ctx, workspace_id
from tests.dbt.project import Shop, build_shop

__all__ = ["_pg_store", "_stores", "ctx", "shop", "warehouse", "workspace_id"]


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    """The doc's dbt project, built once per session with the real dbt."""
    return build_shop(tmp_path_factory.mktemp("shop"))


@pytest.fixture
def warehouse(shop: Shop, tmp_path: Path) -> Path:
    """A copy of the warehouse dbt built, for one test to read or change.

    Named like the original: dbt's relation names start with the database, the file's stem.
    """
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(shop.warehouse, copy)
    return copy
