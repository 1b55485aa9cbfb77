"""plan and apply against real stores (SQLite and PostgreSQL) and a real DuckDB warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncline.config import ApplyError, ConfigError
from syncline.config.render import render_apply, render_plan
from syncline.context import AppContext
from syncline.services.sources import create_source
from syncline.store.tables import Destination, Model, Source, Sync
from tests.config.helpers import action, apply_files, ops, plan_of, write
from tests.config.stores import make_warehouse, rows

SECRET = "postgresql://crm:s3cret-pw@db.example/crm"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    export = tmp_path / "export"
    export.mkdir()
    return {
        "WAREHOUSE": str(make_warehouse(tmp_path / "wh.duckdb")),
        "EXPORT_DIR": str(export),
        "CRM_DSN": SECRET,
    }


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """The workspace as code, over several files."""
    d = tmp_path / "syncline"
    write(
        d,
        "connections.yml",
        """
        sources:
          - name: warehouse
            type: duckdb
            config: {path: "${WAREHOUSE}"}
        destinations:
          - name: crm-db
            type: postgres
            config: {dsn: "${CRM_DSN}", table: contacts, create_table: true}
          - name: export
            type: file
            config: {path: "${EXPORT_DIR}", format: csv}
        """,
    )
    write(
        d,
        "models.yml",
        """
        models:
          - name: customers
            source: warehouse
            sql: SELECT * FROM customers
            primary_key: customer_id
            description: Every customer
          - name: pro customers
            source: warehouse
            sql: SELECT customer_id, email FROM customers WHERE plan = 'pro'
            primary_key: customer_id
        """,
    )
    write(
        d,
        "syncs.yml",
        """
        syncs:
          - name: Customers to CRM
            model: customers
            destination: crm-db
            sync_mode: upsert
            primary_key: customer_id
            schedule: "0 */6 * * *"
            field_mapping:
              - {source_column: email, destination_field: email}
              - {source_column: first_name, destination_field: first_name}
          - name: Pro export
            model: pro customers
            destination: export
            sync_mode: mirror
            primary_key: customer_id
            trigger_after: [Customers to CRM]
            field_mapping:
              - {source_column: email, destination_field: Email}
        """,
    )
    return d


def test_apply_from_scratch_creates_everything_in_dependency_order(
    ctx: AppContext, workspace_id: str, files: Path, env: dict[str, str]
) -> None:
    plan = plan_of(ctx, workspace_id, files, env)
    assert plan.has_changes
    assert [(a.op, a.kind, a.name) for a in plan.actions] == [
        ("create", "source", "warehouse"),
        ("create", "model", "customers"),
        ("create", "model", "pro customers"),
        ("create", "destination", "crm-db"),
        ("create", "destination", "export"),
        ("create", "sync", "Customers to CRM"),
        ("create", "sync", "Pro export"),
    ]
    done = apply_files(ctx, workspace_id, files, env)
    assert len(done) == 7 and all(a.id for a in done)

    (customers, pro) = rows(ctx, Model, workspace_id)
    assert customers.description == "Every customer"
    assert [c["name"] for c in customers.columns or []] == [
        "customer_id",
        "email",
        "first_name",
        "plan",
    ]
    assert [c["name"] for c in pro.columns or []] == ["customer_id", "email"]
    crm = next(d for d in rows(ctx, Destination, workspace_id) if d.name == "crm-db")
    assert SECRET not in json.dumps(crm.config)  # encrypted at rest, like through the API
    assert ctx.secrets.decrypt_config(crm.config)["dsn"] == SECRET
    syncs = {s.name: s for s in rows(ctx, Sync, workspace_id)}
    assert syncs["Customers to CRM"].trigger_mode == "scheduled"
    assert syncs["Customers to CRM"].status == "active"
    assert syncs["Pro export"].trigger_after_sync_ids == [syncs["Customers to CRM"].id]
    assert syncs["Pro export"].trigger_mode == "manual"


def test_second_apply_changes_nothing(
    ctx: AppContext, workspace_id: str, files: Path, env: dict[str, str]
) -> None:
    apply_files(ctx, workspace_id, files, env)
    before = {s.id: s.updated_at for s in rows(ctx, Sync, workspace_id)}

    plan = plan_of(ctx, workspace_id, files, env)
    assert not plan.has_changes
    assert set(ops(plan).values()) == {"unchanged"}
    assert render_plan(plan)[-1] == "No changes. The workspace matches the files."
    assert apply_files(ctx, workspace_id, files, env) == []
    assert render_apply(plan, []) == ["No changes. The workspace matches the files."]
    assert {s.id: s.updated_at for s in rows(ctx, Sync, workspace_id)} == before


def test_changed_fields_show_in_the_plan_and_are_applied(
    ctx: AppContext, workspace_id: str, files: Path, env: dict[str, str]
) -> None:
    apply_files(ctx, workspace_id, files, env)
    text = (files / "syncs.yml").read_text()
    (files / "syncs.yml").write_text(text.replace('"0 */6 * * *"', '"30 2 * * *"'))
    text = (files / "models.yml").read_text()
    (files / "models.yml").write_text(text.replace("Every customer", "All of them"))

    plan = plan_of(ctx, workspace_id, files, env)
    sync = action(plan, "sync", "Customers to CRM")
    assert sync.op == "update"
    assert [(c.field, c.before, c.after) for c in sync.changes] == [
        ("schedule", "0 */6 * * *", "30 2 * * *")
    ]
    model = action(plan, "model", "customers")
    assert [(c.field, c.before, c.after) for c in model.changes] == [
        ("description", "Every customer", "All of them")
    ]
    assert action(plan, "sync", "Pro export").op == "unchanged"
    lines = render_plan(plan)
    assert "  ~ sync 'Customers to CRM'  # " + str(files / "syncs.yml") + ":2" in lines
    assert '      schedule: "0 */6 * * *" -> "30 2 * * *"' in lines
    assert lines[-1] == "Plan: 0 to create, 2 to change, 0 to delete, 5 unchanged."

    done = apply_files(ctx, workspace_id, files, env)
    assert [(a.kind, a.name) for a in done] == [
        ("model", "customers"),
        ("sync", "Customers to CRM"),
    ]
    synced = next(s for s in rows(ctx, Sync, workspace_id) if s.name == "Customers to CRM")
    assert synced.schedule == "30 2 * * *"
    assert synced.trigger_mode == "scheduled"
    assert not plan_of(ctx, workspace_id, files, env).has_changes


def test_a_changed_secret_is_an_update_that_never_shows_the_value(
    ctx: AppContext, workspace_id: str, files: Path, env: dict[str, str]
) -> None:
    apply_files(ctx, workspace_id, files, env)
    rotated = {**env, "CRM_DSN": "postgresql://crm:rotated-pw@db.example/crm"}

    plan = plan_of(ctx, workspace_id, files, rotated)
    crm = action(plan, "destination", "crm-db")
    assert crm.op == "update"
    assert [c.as_dict() for c in crm.changes] == [
        {"field": "config.dsn", "before": None, "after": None, "sensitive": True}
    ]
    shown = "\n".join(render_plan(plan)) + json.dumps(plan.as_dict())
    assert "      config.dsn: (sensitive)" in shown
    assert "s3cret" not in shown and "rotated" not in shown

    apply_files(ctx, workspace_id, files, rotated)
    stored = next(d for d in rows(ctx, Destination, workspace_id) if d.name == "crm-db")
    assert ctx.secrets.decrypt_config(stored.config)["dsn"] == rotated["CRM_DSN"]
    assert not plan_of(ctx, workspace_id, files, rotated).has_changes


def test_a_sync_removed_from_the_files_is_kept_unless_pruned(
    ctx: AppContext, workspace_id: str, files: Path, env: dict[str, str]
) -> None:
    apply_files(ctx, workspace_id, files, env)
    text = (files / "syncs.yml").read_text()
    (files / "syncs.yml").write_text(text[: text.index("  - name: Pro export")])

    plan = plan_of(ctx, workspace_id, files, env)
    assert not plan.has_changes
    kept = action(plan, "sync", "Pro export")
    assert kept.op == "unmanaged" and "--prune" in kept.note
    assert apply_files(ctx, workspace_id, files, env) == []
    assert len(rows(ctx, Sync, workspace_id)) == 2

    pruned = plan_of(ctx, workspace_id, files, env, prune=True)
    assert [(a.op, a.kind, a.name) for a in pruned.actions if a.op != "unchanged"] == [
        ("delete", "sync", "Pro export")
    ]
    assert "  - sync 'Pro export' (" + str(kept.id) + ")" in render_plan(pruned)
    done = apply_files(ctx, workspace_id, files, env, prune=True)
    assert [(a.op, a.name) for a in done] == [("delete", "Pro export")]
    assert [s.name for s in rows(ctx, Sync, workspace_id)] == ["Customers to CRM"]


def test_prune_deletes_in_reverse_dependency_order_and_keeps_what_files_refer_to(
    ctx: AppContext, workspace_id: str, files: Path, env: dict[str, str], tmp_path: Path
) -> None:
    apply_files(ctx, workspace_id, files, env)
    # Only the models file is left, and it names the source the files no longer declare.
    only_models = tmp_path / "only-models.yml"
    only_models.write_text((files / "models.yml").read_text())

    plan = plan_of(ctx, workspace_id, only_models, env, prune=True)
    assert [(a.op, a.kind, a.name) for a in plan.actions if a.op != "unchanged"] == [
        ("delete", "sync", "Pro export"),  # downstream of "Customers to CRM": goes first
        ("delete", "sync", "Customers to CRM"),
        ("delete", "destination", "crm-db"),
        ("delete", "destination", "export"),
        ("unmanaged", "source", "warehouse"),
    ]
    apply_files(ctx, workspace_id, only_models, env, prune=True)
    assert rows(ctx, Sync, workspace_id) == [] and rows(ctx, Destination, workspace_id) == []
    assert [s.name for s in rows(ctx, Source, workspace_id)] == ["warehouse"]


def test_files_may_refer_to_objects_made_in_the_ui(
    ctx: AppContext, workspace_id: str, env: dict[str, str], tmp_path: Path
) -> None:
    with ctx.sessions() as session:
        create_source(
            session,
            secrets=ctx.secrets,
            workspace_id=workspace_id,
            name="admin-made",
            type="duckdb",
            config={"path": env["WAREHOUSE"]},
        )
    path = write(
        tmp_path,
        "models.yml",
        """
        models:
          - name: orders
            source: admin-made
            sql: SELECT * FROM orders
            primary_key: order_id
        """,
    )
    plan = plan_of(ctx, workspace_id, path, env, prune=True)
    assert ops(plan) == {("model", "orders"): "create", ("source", "admin-made"): "unmanaged"}
    apply_files(ctx, workspace_id, path, env, prune=True)
    assert [m.name for m in rows(ctx, Model, workspace_id)] == ["orders"]


def test_a_reference_to_nothing_names_the_file_and_the_object(
    ctx: AppContext, workspace_id: str, env: dict[str, str], tmp_path: Path
) -> None:
    path = write(
        tmp_path / "cfg",
        "models.yml",
        """
        models:
          - name: orders
            source: warehous
            sql: SELECT * FROM orders
            primary_key: order_id
        """,
    )
    with pytest.raises(ConfigError) as err:
        plan_of(ctx, workspace_id, path.parent, env)
    assert err.value.problems == [
        f"{path}:2: model 'orders' refers to source 'warehous', which is neither declared in "
        "the files nor in the workspace"
    ]


def test_service_validation_errors_carry_file_name_and_field(
    ctx: AppContext, workspace_id: str, files: Path, env: dict[str, str]
) -> None:
    text = (files / "syncs.yml").read_text()
    (files / "syncs.yml").write_text(
        text.replace("source_column: first_name", "source_column: nope")
    )
    with pytest.raises(ApplyError) as err:
        apply_files(ctx, workspace_id, files, env)
    (problem,) = err.value.problems
    assert problem.startswith(f"{files / 'syncs.yml'}:2: cannot create sync 'Customers to CRM': ")
    assert "field_mapping.1.source_column: source_column 'nope' is not a column" in problem
    # What came before the failure is done, and a fixed file picks up from there.
    kinds = [a.kind for a in err.value.done]
    assert kinds == ["source", "model", "model", "destination", "destination"]
    (files / "syncs.yml").write_text(text)
    done = apply_files(ctx, workspace_id, files, env)
    assert [a.name for a in done] == ["Customers to CRM", "Pro export"]


def test_unknown_workspace_is_an_error(ctx: AppContext, files: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="workspace 00000000-0000-0000-0000-000000000000 not"):
        plan_of(ctx, "00000000-0000-0000-0000-000000000000", files, env)


def test_ambiguous_store_names_are_refused(
    ctx: AppContext, workspace_id: str, files: Path, env: dict[str, str]
) -> None:
    for _ in range(2):
        with ctx.sessions() as session:
            create_source(
                session,
                secrets=ctx.secrets,
                workspace_id=workspace_id,
                name="warehouse",
                type="duckdb",
                config={"path": env["WAREHOUSE"]},
            )
    with pytest.raises(ConfigError, match="the workspace has 2 sources named 'warehouse'"):
        plan_of(ctx, workspace_id, files, env)


def test_paused_is_managed_only_when_written(
    ctx: AppContext, workspace_id: str, files: Path, env: dict[str, str]
) -> None:
    apply_files(ctx, workspace_id, files, env)
    text = (files / "syncs.yml").read_text()
    paused = text.replace("    sync_mode: mirror\n", "    sync_mode: mirror\n    paused: true\n")
    (files / "syncs.yml").write_text(paused)
    plan = plan_of(ctx, workspace_id, files, env)
    assert [(c.field, c.before, c.after) for c in action(plan, "sync", "Pro export").changes] == [
        ("status", "active", "paused")
    ]
    apply_files(ctx, workspace_id, files, env)
    assert {s.name: s.status for s in rows(ctx, Sync, workspace_id)} == {
        "Customers to CRM": "active",
        "Pro export": "paused",
    }
    (files / "syncs.yml").write_text(text)  # no longer says: the status stays as it is
    assert not plan_of(ctx, workspace_id, files, env).has_changes


def test_a_changed_mapping_item_is_shown_and_applied_by_index(
    ctx: AppContext, workspace_id: str, files: Path, env: dict[str, str]
) -> None:
    apply_files(ctx, workspace_id, files, env)
    text = (files / "syncs.yml").read_text()
    edited = text.replace(
        "      - {source_column: first_name, destination_field: first_name}\n",
        "      - {source_column: first_name, destination_field: given_name}\n"
        "      - {constant_value: web, destination_field: lead_source}\n",
    )
    (files / "syncs.yml").write_text(edited)
    plan = plan_of(ctx, workspace_id, files, env)
    changes = action(plan, "sync", "Customers to CRM").changes
    assert [(c.field, c.before, c.after) for c in changes] == [
        (
            "field_mapping[1]",
            {"source_column": "first_name", "destination_field": "first_name"},
            {"source_column": "first_name", "destination_field": "given_name"},
        ),
        ("field_mapping[2]", None, {"constant_value": "web", "destination_field": "lead_source"}),
    ]
    apply_files(ctx, workspace_id, files, env)
    synced = next(s for s in rows(ctx, Sync, workspace_id) if s.name == "Customers to CRM")
    assert [m["destination_field"] for m in synced.field_mapping] == [
        "email",
        "given_name",
        "lead_source",
    ]
    assert not plan_of(ctx, workspace_id, files, env).has_changes


def test_upstream_syncs_are_created_first_and_cycles_refused(
    ctx: AppContext, workspace_id: str, files: Path, env: dict[str, str]
) -> None:
    text = (files / "syncs.yml").read_text()
    first, second = text.split("  - name: Pro export")
    (files / "syncs.yml").write_text("syncs:\n  - name: Pro export" + second + first[7:])
    plan = plan_of(ctx, workspace_id, files, env)
    assert [a.name for a in plan.actions if a.kind == "sync"] == [
        "Customers to CRM",
        "Pro export",
    ]
    apply_files(ctx, workspace_id, files, env)

    looped = (
        (files / "syncs.yml")
        .read_text()
        .replace("    schedule:", "    trigger_after: [Pro export]\n    schedule:")
    )
    (files / "syncs.yml").write_text(looped)
    with pytest.raises(ConfigError, match="trigger_after forms a cycle: "):
        plan_of(ctx, workspace_id, files, env)
