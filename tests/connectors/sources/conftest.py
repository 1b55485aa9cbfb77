"""The ``harness`` fixture: every source in turn, over a fresh, empty database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from source_harness import (
    Harness,
    duckdb_harness,
    mysql_harness,
    postgres_harness,
    sqlite_harness,
)


@pytest.fixture(
    params=[
        "duckdb",
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("postgres-cursor", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """Each source in turn, over a fresh, empty database.

    PostgreSQL runs twice: through ADBC (the fast path its common types take) and through the
    server-side cursor (the path for every other type).
    """
    name = request.param
    if name == "duckdb":
        h = duckdb_harness(tmp_path)
    elif name == "sqlite":
        h = sqlite_harness(tmp_path)
    elif name.startswith("postgres"):
        url = request.getfixturevalue("pg_database")
        h = postgres_harness(url, adbc=name == "postgres")
    else:
        h = mysql_harness(request.getfixturevalue("mysql_database"))
    try:
        yield h
    finally:
        for src in h.opened:
            src.close()
