"""The run's DuckDB gets the memory the operator gave runs (``SYNCLINE_RUN_MEMORY_MB``).

A diff that fits in memory is several times faster than one that spills (10M rows: 1.15 s
against 1.85 s at the old fixed 1,300 MB, docs/benchmarks.md), so the limit is a setting.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import duckdb

from syncline.engine.extract import extract
from syncline.settings import Settings
from tests.engine.fakes import Bench


def _limit_of(memory_mb: int) -> Any:
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{memory_mb}MB'")
    return con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]


def test_the_run_duckdb_takes_its_memory_limit_from_the_env(tmp_path: Path) -> None:
    b = Bench(tmp_path)
    env = dataclasses.replace(b.read_env(), run_memory_mb=300)
    closers: list[Any] = []
    differ = extract(
        env,
        model=b.model(),
        source_row=b.source_row(),
        work_dir=tmp_path / "work" / "r1",
        closers=closers,
    )
    try:
        got = differ.con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        assert got == _limit_of(300)
        assert differ.counts.model_rows == 10
    finally:
        for close in reversed(closers):
            close()


def test_runs_get_two_gigabytes_unless_told_otherwise(monkeypatch: Any) -> None:
    assert Settings().run_memory_mb == 2048
    monkeypatch.setenv("SYNCLINE_RUN_MEMORY_MB", "512")
    assert Settings().run_memory_mb == 512
