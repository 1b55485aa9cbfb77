"""The ``adapter`` fixture: every destination in turn, over a fresh, empty target."""

from __future__ import annotations

from pathlib import Path

import pytest
from conformance import Adapter, FileAdapter, PostgresAdapter


@pytest.fixture(
    params=[
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
        "webhook",
        "salesforce",
        "salesforce-bulk",
        "hubspot",
        "file-jsonl",
        "file-csv",
        "file-parquet",
    ]
)
def adapter(request: pytest.FixtureRequest, tmp_path: Path) -> Adapter:
    """Each destination in turn; a new destination adds one branch here and one adapter."""
    name: str = request.param
    if name == "postgres":
        return PostgresAdapter(request.getfixturevalue("pg_database"))
    if name == "mysql":
        from conformance_mysql import MySQLAdapter

        return MySQLAdapter(request.getfixturevalue("mysql_database"))
    if name == "webhook":
        from conformance_webhook import webhook_adapter

        return webhook_adapter(request)
    if name.startswith(("salesforce", "hubspot")):
        from conformance_saas import saas_adapter

        return saas_adapter(request, name)
    return FileAdapter(tmp_path / "out", name.removeprefix("file-"))
