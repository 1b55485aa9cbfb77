"""docs/dbt.md, run as written with the CLI: its commands, and the output it shows."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from syncline.cli import app
from syncline.context import AppContext
from syncline.services.sources import create_source
from syncline.settings import get_settings
from tests.config.doc_examples import blocks, exports, normalise
from tests.dbt.project import Shop


@pytest.fixture
def cli_env(ctx: AppContext, workspace_id: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI on the test's store (either backend) and workspace."""
    monkeypatch.setenv("SYNCLINE_DATA_DIR", str(ctx.settings.data_dir))
    monkeypatch.setenv("SYNCLINE_DATABASE_URL", ctx.settings.resolved_database_url())
    monkeypatch.setenv("SYNCLINE_WORKSPACE", workspace_id)
    monkeypatch.delenv("SYNCLINE_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def syncline(line: str) -> Result:
    args = shlex.split(line)
    assert args[0] == "syncline"
    return CliRunner().invoke(app, args[1:])


def test_the_doc_commands_print_what_the_doc_shows(
    cli_env: None,
    shop: Shop,
    warehouse: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, named = blocks("dbt.md")
    assert "WAREHOUSE_PATH" in exports(named["commands"])
    monkeypatch.setenv("WAREHOUSE_PATH", str(warehouse))  # this test's copy of what dbt built
    monkeypatch.chdir(shop.root)
    commands = [c for c in named["commands"].splitlines() if c.startswith("syncline ")]
    assert [c.split()[1] for c in commands] == ["apply", "dbt"]

    applied = syncline(commands[0])
    assert applied.exit_code == 0, applied.output
    imported = syncline(commands[1])
    assert imported.exit_code == 0, imported.output
    assert normalise(imported.stdout) == normalise(named["import"])

    selected = syncline(named["select"].strip())
    assert selected.exit_code == 0, selected.output
    assert normalise(selected.stdout) == normalise(named["select-output"])

    again = syncline(commands[1])
    assert "Import: 0 created, 0 updated, 2 unchanged, 1 skipped, 0 failed." in again.stdout


def test_json_output_and_exit_code_1_when_a_model_fails(
    cli_env: None, ctx: AppContext, workspace_id: str, shop: Shop, warehouse: Path, tmp_path: Path
) -> None:
    with ctx.sessions() as session:
        create_source(
            session,
            secrets=ctx.secrets,
            workspace_id=workspace_id,
            name="warehouse",
            type="duckdb",
            config={"path": str(warehouse)},
        )
    manifest = json.loads(shop.manifest.read_text())
    manifest["nodes"]["model.shop.orders"]["relation_name"] = '"warehouse"."main"."gone"'
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))

    result = syncline(f"syncline dbt import --manifest {path} --source warehouse --json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert body["ok"] is False and body["warnings"] == []
    assert {m["name"]: m["op"] for m in body["models"]} == {
        "customers": "create",
        "orders": "error",
        "page_views": "skip",
    }
    assert next(m["model_id"] for m in body["models"] if m["name"] == "customers")

    unknown = syncline(f"syncline dbt import --manifest {path} --source nope --json")
    assert unknown.exit_code == 1
    assert json.loads(unknown.stdout)["problems"] == [
        "no source named 'nope' in the workspace; sources: warehouse"
    ]
