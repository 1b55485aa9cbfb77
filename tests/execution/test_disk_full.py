"""A full disk in the data directory fails the run visibly (issue 12): the run ends
``failed`` / ``disk_full`` (recorded as soon as there is space again, never left
``running``), and ``/healthz`` says ``degraded`` with the reason meanwhile."""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.bootstrap import build_context
from syncline.emulators.receiver import WebhookReceiver
from syncline.engine.snapshot.files import FileSnapshotStore
from syncline.execution import work
from syncline.execution.embedded import EmbeddedExecutor
from syncline.observability import health
from syncline.settings import Settings
from tests.engine.conftest import Harness, _harness
from tests.execution.test_failures import _run, _trigger, _webhook_sync


@pytest.fixture(autouse=True)
def _clean_health() -> Iterator[None]:
    health.note_write_ok()
    yield
    health.note_write_ok()


def test_a_snapshot_write_without_space_fails_the_run_disk_full(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(FileSnapshotStore, "append", full)
    with WebhookReceiver() as rx:
        sync_id = _webhook_sync(harness, rx.url, 20)
        _, stored = harness.run(sync_id)
    assert stored.status == "failed" and stored.result_reason_code == "disk_full", (
        stored.result_reason_code,
        stored.error_message,
    )
    assert "full" in (stored.error_message or "")


def test_an_outcome_is_recorded_once_there_is_space_and_health_says_degraded_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(work, "DISK_FULL_RETRY_SECONDS", 0.05)
    seen: list[str | None] = []

    def write() -> bool:
        seen.append(health.data_dir_problem(tmp_path, 0))
        if len(seen) < 3:
            raise sqlite3.OperationalError("database or disk is full")
        return True

    assert work.record_when_possible(write, what="the outcome of run r1", should_stop=lambda: False)
    assert seen[0] is None and seen[1] and seen[2] and "no space" in seen[1]
    assert health.data_dir_problem(tmp_path, 0) is None  # cleared by the successful write


def test_other_failures_to_record_are_not_retried() -> None:
    def write() -> bool:
        raise sqlite3.OperationalError("no such table: sync_runs")

    with pytest.raises(sqlite3.OperationalError):
        work.record_when_possible(write, what="x", should_stop=lambda: False)


def test_healthz_is_degraded_below_the_free_space_threshold(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", min_free_disk_mb=1 << 30)
    settings.ensure_data_dir()
    from syncline.store.db import upgrade

    upgrade(settings.resolved_database_url())
    ctx = build_context(settings)
    try:
        resp = TestClient(create_app(ctx)).get("/healthz")
    finally:
        ctx.dispose()
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "degraded" and "MB free" in body["detail"], body


@contextlib.contextmanager
def _tiny_disk(path: Path, size: str) -> Iterator[Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.decode()[:200]}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb") as fh, contextlib.suppress(OSError):
        while True:
            fh.write(b"\0" * (1 << 16))
            fh.flush()
    return filler


def test_a_real_full_disk_fails_the_run_and_it_is_recorded_when_space_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real tmpfs filled up while the run loads: the snapshot commit and the store's writes
    fail with ENOSPC; the run is not left ``running`` once space returns."""
    monkeypatch.setattr(work, "DISK_FULL_RETRY_SECONDS", 0.2)
    with _tiny_disk(tmp_path / "disk", "24m") as disk:
        harnesses = _harness(disk, None)
        h = next(harnesses)
        h.ctx.settings.min_free_disk_mb = 0  # degraded only by the failed write, not the size
        try:
            with WebhookReceiver() as rx:
                rx.inject(None, delay=0.2, times=10_000)
                sync_id = _webhook_sync(h, rx.url, 100, batch_size=10, concurrency=1)
                run_id = _trigger(h, sync_id)
                ex = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
                ex.start()
                try:
                    deadline = time.monotonic() + 30
                    while not rx.requests:
                        assert time.monotonic() < deadline, "the run never started loading"
                        time.sleep(0.02)
                    filler = _fill(disk)
                    api = TestClient(create_app(h.ctx))
                    deadline = time.monotonic() + 30
                    while api.get("/healthz").json()["status"] != "degraded":
                        assert time.monotonic() < deadline, "healthz never said degraded"
                        time.sleep(0.1)
                    degraded = api.get("/healthz").json()
                    assert _run(h, run_id).status == "running"  # nothing could be written
                    filler.unlink()
                    deadline = time.monotonic() + 15
                    while (run := _run(h, run_id)).status == "running":
                        assert time.monotonic() < deadline, "the outcome was never recorded"
                        time.sleep(0.1)
                    healthy = api.get("/healthz").json()
                finally:
                    ex.stop()
        finally:
            with contextlib.suppress(StopIteration):
                next(harnesses)
    assert "no space" in degraded["detail"], degraded
    assert run.status == "failed" and run.result_reason_code == "disk_full", (
        run.result_reason_code,
        run.error_message,
    )
    assert healthy == {"status": "ok"}
