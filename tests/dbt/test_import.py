"""dbt import on the manifest of a real dbt build (docs/dbt.md), into SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from syncline.config.dbt import (
    DbtImportError,
    ImportOutcome,
    import_models,
    manifest_models,
    read_manifest,
    select_models,
)
from syncline.context import AppContext
from syncline.services.sources import create_source
from syncline.store.tables import Model
from tests.config.stores import rows
from tests.dbt.project import Shop

RELATION = '"warehouse"."main".'


@pytest.fixture
def source(ctx: AppContext, workspace_id: str, warehouse: Path) -> str:
    """The Syncline source on (a copy of) the warehouse dbt built."""
    with ctx.sessions() as session:
        row = create_source(
            session,
            secrets=ctx.secrets,
            workspace_id=workspace_id,
            name="warehouse",
            type="duckdb",
            config={"path": str(warehouse)},
        )
        return row.id


def run_import(
    ctx: AppContext,
    workspace_id: str,
    manifest: dict[str, Any],
    select: list[str] | None = None,
    dry_run: bool = False,
) -> dict[str, ImportOutcome]:
    models, _ = select_models(manifest_models(manifest), select or [])
    with ctx.sessions() as session:
        out = import_models(
            session,
            secrets=ctx.secrets,
            workspace_id=workspace_id,
            source_name="warehouse",
            models=models,
            dry_run=dry_run,
        )
    return {o.name: o for o in out}


def test_the_manifest_of_a_real_project(shop: Shop) -> None:
    models = {m.name: m for m in manifest_models(read_manifest(shop.manifest))}
    assert sorted(models) == ["customers", "orders", "page_views"]
    customers, orders, views = models["customers"], models["orders"], models["page_views"]
    assert customers.sql == f'SELECT * FROM {RELATION}"customers"'
    assert (customers.primary_key, customers.key_origin) == (
        "customer_id",
        "meta.syncline.primary_key",
    )
    assert customers.description == "One row per customer"
    assert customers.tags == ("crm",)
    assert (orders.primary_key, orders.key_origin) == ("order_id", "unique test on order_id")
    assert set(orders.tags) == {"crm", "finance"}
    assert views.primary_key is None
    assert "meta: {syncline: {primary_key: <column>}}" in views.problem
    assert "unique test on one column" in views.problem


def test_import_creates_models_with_keys_and_discovered_columns(
    ctx: AppContext, workspace_id: str, shop: Shop, source: str
) -> None:
    out = run_import(ctx, workspace_id, read_manifest(shop.manifest))
    assert {n: o.op for n, o in out.items()} == {
        "customers": "create",
        "orders": "create",
        "page_views": "skip",
    }
    assert out["page_views"].detail.startswith("no primary key: set meta: {syncline:")
    assert out["orders"].dbt_unique_id == "model.shop.orders"

    stored = {m.name: m for m in rows(ctx, Model, workspace_id)}
    assert sorted(stored) == ["customers", "orders"]
    customers = stored["customers"]
    assert customers.id == out["customers"].model_id
    assert customers.source_id == source
    assert customers.sql == 'SELECT * FROM "warehouse"."main"."customers"'
    assert customers.primary_key == "customer_id"
    assert customers.description == "One row per customer"
    assert [c["name"] for c in customers.columns or []] == ["customer_id", "email", "plan"]
    assert stored["orders"].primary_key == "order_id"
    assert [c["name"] for c in stored["orders"].columns or []] == [
        "order_id",
        "customer_id",
        "amount",
    ]


def test_tag_selection_and_dry_run(
    ctx: AppContext, workspace_id: str, shop: Shop, source: str
) -> None:
    manifest = read_manifest(shop.manifest)
    dry = run_import(ctx, workspace_id, manifest, ["tag:finance"], dry_run=True)
    assert {n: o.op for n, o in dry.items()} == {"orders": "create"}
    assert rows(ctx, Model, workspace_id) == []

    out = run_import(ctx, workspace_id, manifest, ["tag:finance"])
    assert {n: o.op for n, o in out.items()} == {"orders": "create"}
    assert [m.name for m in rows(ctx, Model, workspace_id)] == ["orders"]

    models, warnings = select_models(manifest_models(manifest), ["customers tag:nothing"])
    assert [m.name for m in models] == ["customers"]
    assert warnings == ["selector 'tag:nothing' matched no dbt model"]
    with pytest.raises(DbtImportError, match="unsupported selector 'path:models'"):
        select_models(manifest_models(manifest), ["path:models"])


def test_reimport_updates_instead_of_duplicating(
    ctx: AppContext, workspace_id: str, shop: Shop, source: str, warehouse: Path
) -> None:
    manifest = read_manifest(shop.manifest)
    first = run_import(ctx, workspace_id, manifest)
    again = run_import(ctx, workspace_id, manifest)
    assert {n: o.op for n, o in again.items()} == {
        "customers": "unchanged",
        "orders": "unchanged",
        "page_views": "skip",
    }

    # The next dbt build: customers gains a column, orders gets a new description.
    con = duckdb.connect(str(warehouse))
    con.execute("ALTER TABLE customers ADD COLUMN country VARCHAR")
    con.close()
    manifest["nodes"]["model.shop.orders"]["description"] = "Orders, refunds excluded"
    assert {n: o.op for n, o in run_import(ctx, workspace_id, manifest, dry_run=True).items()} == {
        "customers": "unchanged",  # a dry run does not ask the warehouse
        "orders": "update",
        "page_views": "skip",
    }
    out = run_import(ctx, workspace_id, manifest)
    assert (out["customers"].op, out["orders"].op) == ("update", "update")
    assert out["customers"].model_id == first["customers"].model_id

    stored = {m.name: m for m in rows(ctx, Model, workspace_id)}
    assert sorted(stored) == ["customers", "orders"]
    assert [c["name"] for c in stored["customers"].columns or []][-1] == "country"
    assert stored["orders"].description == "Orders, refunds excluded"


def test_a_model_the_source_cannot_read_fails_alone(
    ctx: AppContext, workspace_id: str, shop: Shop, source: str
) -> None:
    manifest = read_manifest(shop.manifest)
    manifest["nodes"]["model.shop.orders"]["relation_name"] = f'{RELATION}"not_built"'
    out = run_import(ctx, workspace_id, manifest)
    assert out["orders"].op == "error"
    assert out["orders"].detail.startswith("sql: the query failed: ")
    assert "not_built" in out["orders"].detail
    assert out["customers"].op == "create"
    assert [m.name for m in rows(ctx, Model, workspace_id)] == ["customers"]


def test_the_source_must_exist_once(ctx: AppContext, workspace_id: str, shop: Shop) -> None:
    with pytest.raises(DbtImportError, match=r"no source named 'warehouse' .*sources: \(none\)"):
        run_import(ctx, workspace_id, read_manifest(shop.manifest))
    with pytest.raises(DbtImportError, match="workspace nope not found"):
        run_import(ctx, "nope", read_manifest(shop.manifest))


def test_manifest_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DbtImportError, match="no such file; run dbt"):
        read_manifest(tmp_path / "manifest.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DbtImportError, match="not a readable dbt manifest"):
        read_manifest(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"metadata": {}}))
    with pytest.raises(DbtImportError, match="not a dbt manifest"):
        read_manifest(tmp_path / "other.json")
