"""Build the dbt project of docs/dbt.md with the real dbt (dbt-core + dbt-duckdb).

dbt is not a dependency of Syncline (it only reads dbt's manifest), and dbt-core pins
packages the project's dev tools need newer (pathspec, hence mypy), so the tests run dbt in
an isolated environment that ``uv`` builds from PyPI and caches. If a dbt is installed in
the test environment itself, that one is used instead. DuckDB is pinned to the version
Syncline uses, so both read the same file format.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from tests.config.doc_examples import blocks, write_files

DBT_REQUIREMENTS = ("dbt-core>=1.10,<1.12", "dbt-duckdb>=1.9,<1.12")


def _unavailable(reason: str) -> None:
    """Skip when dbt cannot be had here, except in CI where that is a failure."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI=true: dbt must be available)")
    pytest.skip(reason)


def dbt_command() -> list[str]:
    """The command line that runs dbt."""
    if importlib.util.find_spec("dbt") and importlib.util.find_spec("dbt.adapters.duckdb"):
        return [sys.executable, "-c", "from dbt.cli.main import cli; cli()"]
    uv = shutil.which("uv")
    if uv is None:
        _unavailable("neither dbt nor uv (to install dbt in an isolated environment) is here")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    withs = [
        a for req in (*DBT_REQUIREMENTS, f"duckdb=={duckdb.__version__}") for a in ("--with", req)
    ]
    return [str(uv), "run", "--isolated", "--no-project", "--python", python, *withs, "dbt"]


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(DBT_SEND_ANONYMOUS_USAGE_STATS="false", DBT_VERSION_CHECK="false", **extra)
    return env


def run_dbt(project: Path, *args: str, env: dict[str, str]) -> str:
    """Run dbt in ``project``; its output. Fails the test when dbt itself fails."""
    command = dbt_command()
    probe = subprocess.run(
        [*command, "--version"], capture_output=True, text=True, env=_env(env), timeout=900
    )
    if probe.returncode != 0:
        _unavailable(f"dbt could not be installed or started: {probe.stderr[-2000:]}")
    done = subprocess.run(
        [*command, *args, "--profiles-dir", ".", "--project-dir", "."],
        cwd=project,
        capture_output=True,
        text=True,
        env=_env(env),
        timeout=600,
    )
    if done.returncode != 0:
        pytest.fail(f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done.stdout


@dataclass(frozen=True)
class Shop:
    """The doc's example after ``dbt build``: its directory, warehouse and manifest."""

    root: Path
    warehouse: Path
    manifest: Path


def build_shop(root: Path) -> Shop:
    """Write the files of docs/dbt.md under ``root`` and run ``dbt build`` on them."""
    files, _ = blocks("dbt.md")
    write_files(files, root)
    warehouse = root / "warehouse.duckdb"
    run_dbt(root / "shop", "build", env={"WAREHOUSE_PATH": str(warehouse)})
    return Shop(root, warehouse, root / "shop" / "target" / "manifest.json")
