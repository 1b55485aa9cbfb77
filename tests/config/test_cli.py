"""The commands as a user runs them: exit codes, text and JSON output, the prompt, the schema."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from syncline.cli import app
from syncline.config.schema import schema_text
from syncline.settings import get_settings
from tests.config.helpers import write
from tests.config.stores import make_warehouse

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A workspace in a fresh SQLite store that the CLI finds through SYNCLINE_* variables."""
    monkeypatch.setenv("SYNCLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SYNCLINE_DATABASE_URL", raising=False)
    monkeypatch.delenv("SYNCLINE_SECRET_KEY", raising=False)
    monkeypatch.delenv("SYNCLINE_WORKSPACE", raising=False)
    get_settings.cache_clear()
    created = run("workspace", "create", "Cli", "--json")
    assert created.exit_code == 0, created.output
    yield json.loads(created.stdout)["id"]
    get_settings.cache_clear()


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WH_PATH", str(make_warehouse(tmp_path / "wh.duckdb")))
    monkeypatch.setenv("HOOK_TOKEN", "t0ken-value")
    return write(
        tmp_path / "cfg",
        "all.yml",
        """
        sources:
          - {name: wh, type: duckdb, config: {path: "${WH_PATH}"}}
        models:
          - {name: customers, source: wh, sql: SELECT * FROM customers, primary_key: customer_id}
        destinations:
          - name: hook
            type: webhook
            config:
              url: https://hooks.example.com/in
              headers: {Authorization: "${HOOK_TOKEN}"}
        """,
    ).parent


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_plan_exit_codes_follow_terraform(workspace: str, files: Path) -> None:
    plan = run("plan", "-f", str(files), "--workspace", workspace)
    assert plan.exit_code == 2, plan.output
    assert "  + model 'customers'  # " in plan.stdout
    assert "      config.headers.Authorization = (sensitive)" in plan.stdout
    assert "t0ken" not in plan.stdout
    assert plan.stdout.rstrip().endswith(
        "Plan: 3 to create, 0 to change, 0 to delete, 0 unchanged."
    )

    applied = run("apply", "-f", str(files), "--workspace", workspace, "--yes")
    assert applied.exit_code == 0, applied.output
    assert "Apply complete: 3 created, 0 changed, 0 deleted." in applied.stdout

    again = run("plan", "-f", str(files), "--workspace", workspace)
    assert again.exit_code == 0, again.output
    assert again.stdout.rstrip().endswith("No changes. The workspace matches the files.")
    noop = run("apply", "-f", str(files), "--workspace", workspace)  # no --yes needed
    assert noop.exit_code == 0 and "No changes" in noop.stdout


def test_apply_without_a_terminal_needs_yes(workspace: str, files: Path) -> None:
    result = run("apply", "-f", str(files), "--workspace", workspace)
    assert result.exit_code == 1
    assert "pass --yes" in result.stderr
    assert run("plan", "-f", str(files), "--workspace", workspace).exit_code == 2


def test_json_output_lists_the_actions(
    workspace: str, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCLINE_WORKSPACE", workspace)
    plan = run("plan", "-f", str(files), "--json")
    assert plan.exit_code == 2
    body = json.loads(plan.stdout)
    assert body["ok"] and body["changes"] and body["workspace_id"] == workspace
    assert [(a["op"], a["kind"], a["name"]) for a in body["actions"]] == [
        ("create", "source", "wh"),
        ("create", "model", "customers"),
        ("create", "destination", "hook"),
    ]
    secret = next(c for c in body["actions"][2]["changes"] if c["sensitive"])
    assert secret == {
        "field": "config.headers.Authorization",
        "before": None,
        "after": None,
        "sensitive": True,
    }

    applied = run("apply", "-f", str(files), "--json", "--yes")
    assert applied.exit_code == 0, applied.output
    done = json.loads(applied.stdout)["applied"]
    assert [a["name"] for a in done] == ["wh", "customers", "hook"] and all(a["id"] for a in done)
    assert json.loads(run("plan", "-f", str(files), "--json").stdout)["changes"] is False


def test_errors_exit_1_with_file_context(workspace: str, files: Path) -> None:
    bad = files / "all.yml"
    bad.write_text(bad.read_text().replace('"${HOOK_TOKEN}"', "Bearer abc"))
    result = run("plan", "-f", str(files), "--workspace", workspace)
    assert result.exit_code == 1
    assert f"error: {bad}:10: destinations[0] ('hook').config.headers.Authorization" in (
        result.stderr
    )
    as_json = run("plan", "-f", str(files), "--workspace", workspace, "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["problems"][0].startswith(f"{bad}:10: ")


def test_apply_failure_reports_the_object_and_what_was_done(workspace: str, files: Path) -> None:
    path = files / "all.yml"
    path.write_text(path.read_text().replace("primary_key: customer_id", "primary_key: nope"))
    result = run("apply", "-f", str(files), "--workspace", workspace, "--yes", "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    assert [a["name"] for a in body["applied"]] == ["wh"]
    assert body["problems"] == [
        f"{path}:4: cannot create model 'customers': primary_key: primary key 'nope' is not a "
        "column of the query; columns: customer_id, email, first_name, plan"
    ]


def test_unknown_workspace(workspace: str, files: Path) -> None:
    result = run("plan", "-f", str(files), "--workspace", "no-such-workspace")
    assert result.exit_code == 1 and "workspace no-such-workspace not found" in result.stderr


def test_the_published_schema_is_the_generated_one() -> None:
    published = (DOCS / "syncline-config.schema.json").read_text(encoding="utf-8")
    assert published == schema_text(), (
        "run: syncline config schema -o docs/syncline-config.schema.json"
    )
    printed = run("config", "schema")
    assert printed.exit_code == 0 and printed.stdout == published
