"""A serving process freezes its start-up heap, so full GC passes do not stall requests.

After start-up an API process tracks ~250,000 objects (routes, pydantic and SQLAlchemy
machinery); every full collection walked all of them, ~180 ms on the project's VM with no
request answered meanwhile (docs/benchmarks.md, section 6c). ``syncline serve`` (one process
or ``--api-workers``) freezes them once start-up is done, and considers a full pass every
100th generation-1 pass; later objects are collected as usual.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from syncline.api import asgi
from syncline.api.heap import FULL_PASS_EVERY, frozen_startup_heap
from syncline.settings import get_settings
from syncline.store.db import upgrade

cli = importlib.import_module("syncline.cli.main")  # the package exports a ``main`` function


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SYNCLINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SYNCLINE_SECRET_KEY", "heap-test")
    monkeypatch.setenv("SYNCLINE_TOKEN_PEPPER", "heap-pepper")
    monkeypatch.delenv("SYNCLINE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url())
    yield
    get_settings.cache_clear()
    gc.unfreeze()


def test_the_hook_freezes_what_start_up_left_and_unfreezes_at_shutdown(env: None) -> None:
    assert gc.get_freeze_count() == 0
    before = gc.get_threshold()
    with frozen_startup_heap(None):  # type: ignore[arg-type]
        frozen = gc.get_freeze_count()
        assert frozen > 10_000
        assert gc.get_threshold() == (before[0], before[1], FULL_PASS_EVERY)
        garbage: list[Any] = []
        garbage.append(garbage)  # a cycle made while serving is still collected
        del garbage
        assert gc.collect() >= 1
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_an_api_worker_freezes_its_heap_once_started(env: None) -> None:
    with TestClient(asgi.build()) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() > 10_000
    assert gc.get_freeze_count() == 0


def test_serve_in_one_process_freezes_its_heap_once_started(
    env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []

    def run(app: Any, **kw: Any) -> None:  # stands in for uvicorn: start the app, ask, stop
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200
            seen.append(gc.get_freeze_count())

    monkeypatch.setattr("uvicorn.run", run)
    result = CliRunner().invoke(cli.app, ["serve", "--no-workers", "--log-level", "warning"])
    assert result.exit_code == 0, result.output
    assert seen and seen[0] > 10_000
