"""A small run of bench/chaos.py in CI: API, two schedulers and three workers on PostgreSQL,
workers SIGKILLed every few seconds while runs are triggered, cancelled and retried through the
API; every destination must end equal to its model with no record applied twice."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.e2e


def _chaos() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"
    spec = importlib.util.spec_from_file_location("syncline_bench_chaos", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_workers_killed_at_random_lose_and_duplicate_nothing(pg_server: str) -> None:
    report = _chaos().run_chaos(
        runs=30,
        workers=3,
        schedulers=2,
        kill_every=3.0,
        n_syncs=6,
        cron_syncs=0,
        min_minutes=0.0,
        seed=20261123,
    )
    assert report["ok"], json.dumps(report, indent=2, default=str)
    assert report["api_triggered_runs"] >= 30
    assert report["workers_killed"] >= 3
