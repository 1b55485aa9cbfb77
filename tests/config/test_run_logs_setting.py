"""Config as code carries the run-logs-in-the-warehouse setting through the same validation."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from syncline.config import ApplyError
from syncline.context import AppContext
from syncline.store.tables import Sync
from tests.config.helpers import apply_files, write
from tests.config.stores import make_warehouse

YAML = """
sources:
  - name: warehouse
    type: duckdb
    config: {path: "${WAREHOUSE}"}
destinations:
  - name: export
    type: file
    config: {path: "${EXPORT_DIR}", format: csv}
models:
  - name: customers
    source: warehouse
    sql: SELECT * FROM customers
    primary_key: customer_id
syncs:
  - name: Export
    model: customers
    destination: export
    sync_mode: mirror
    primary_key: customer_id
    config: {warehouse_run_logs: VALUE, warehouse_run_logs_schema: main}
    field_mapping:
      - {source_column: email, destination_field: email}
"""


def _files(tmp_path: Path, value: str) -> tuple[Path, dict[str, str]]:
    export = tmp_path / "export"
    export.mkdir(exist_ok=True)
    env = {"WAREHOUSE": str(make_warehouse(tmp_path / "wh.duckdb")), "EXPORT_DIR": str(export)}
    d = tmp_path / f"syncline-{value}"
    write(d, "all.yml", YAML.replace("VALUE", value))
    return d, env


def test_yaml_sync_turns_run_logs_on(ctx: AppContext, workspace_id: str, tmp_path: Path) -> None:
    d, env = _files(tmp_path, "true")
    apply_files(ctx, workspace_id, d, env)
    with ctx.sessions() as s:
        config = s.scalars(sa.select(Sync.config).where(Sync.workspace_id == workspace_id)).one()
    assert config == {"warehouse_run_logs": True, "warehouse_run_logs_schema": "main"}


def test_yaml_refuses_a_non_boolean(ctx: AppContext, workspace_id: str, tmp_path: Path) -> None:
    d, env = _files(tmp_path, "'yes'")
    with pytest.raises(ApplyError) as err:
        apply_files(ctx, workspace_id, d, env)
    assert any("warehouse_run_logs must be true or false" in p for p in err.value.problems)
