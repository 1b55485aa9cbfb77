"""Live progress on fakes of the engine's ports: phases in order, rows read, planned totals,
records sent inside a batch, throttled saves, and nothing saved once the outcome is built."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from syncline.connectors.base import BatchResult, ChangeBatch, DestinationError, Interrupted
from syncline.domain.enums import RunStatus
from syncline.domain.phases import PHASES
from syncline.engine import progress
from syncline.engine.progress import LiveProgress
from tests.engine.fakes import Bench, FakeControl, FakeDestination


def _phases(control: FakeControl) -> list[str]:
    out: list[str] = []
    for call in control.progress_calls:
        phase = call["summary"]["phase"]
        if not out or out[-1] != phase:
            out.append(phase)
    return out


def test_every_phase_is_saved_in_order_with_rows_read_planned_and_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.0)  # every change is due at once
    b = Bench(tmp_path)
    outcome, control = b.run()
    assert _phases(control) == ["extracting", "diffing", "loading", "committing"]
    first = control.progress_calls[0]["summary"]
    assert first["phase"] == "extracting" and first["sent_total"] == 0
    assert "planned_total" not in first  # not known before the diff
    loading = [c for c in control.progress_calls if c["summary"]["phase"] == "loading"]
    assert all(c["summary"]["rows_read"] == 10 for c in loading)
    assert all(c["summary"]["planned"] == {"upsert": 10} for c in loading)
    # batches of 3: what was acknowledged before batches 2, 3 and 4
    assert [c["rows_synced"] for c in loading] == [0, 3, 6, 9]
    assert [c["summary"]["sent_total"] for c in loading] == [0, 3, 6, 9]
    assert outcome.summary is not None
    assert outcome.summary["phase"] == "done"
    assert (outcome.summary["sent_total"], outcome.summary["planned_total"]) == (10, 10)
    assert set(PHASES) >= set(_phases(control))


def test_a_mirror_plans_its_deletes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.0)
    b = Bench(tmp_path, mode="mirror")
    b.run()
    del b.rows[:2]
    b.rows[0]["n"] = 99
    outcome, _ = b.run()
    assert outcome.summary is not None
    assert outcome.summary["planned"] == {"upsert": 1, "delete": 2}
    assert outcome.summary["sent_total"] == outcome.summary["planned_total"] == 3


def test_saves_are_throttled_not_per_batch(tmp_path: Path) -> None:
    b = Bench(tmp_path)
    b.rows = [{"id": i, "email": f"u{i}@x.test", "n": i} for i in range(1, 201)]
    b.sync_fields["config"] = {**b.sync_fields["config"], "batch_size": 1}
    outcome, control = b.run()
    assert outcome.status == RunStatus.COMPLETED and outcome.summary is not None
    assert outcome.summary["batches"] == 200
    # the four phase changes, plus at most one save per second of a run this short
    assert len(control.progress_calls) <= 4 + 1 + int(outcome.summary["duration_seconds"])


class SlowDestination(FakeDestination):
    """Answers a batch in requests of ``chunk`` records, ``pause`` seconds each, reporting
    each answered request like the webhook does; ``fail_first`` fails the first attempt
    after half the batch was answered."""

    def __init__(self, chunk: int, pause: float, fail_first: bool = False) -> None:
        super().__init__()
        self.chunk, self.pause, self.fail_first = chunk, pause, fail_first

    def write(self, batch: ChangeBatch) -> BatchResult:
        for start in range(0, len(batch), self.chunk):
            time.sleep(self.pause)
            self.run.report_sent(min(self.chunk, len(batch) - start))
            if self.fail_first and start + self.chunk >= len(batch) // 2:
                self.fail_first = False
                raise DestinationError("503 from API", retryable=True)
        return super().write(batch)


def test_records_sent_inside_a_batch_are_saved_while_it_is_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.1)
    b = Bench(tmp_path)
    b.sync_fields["config"] = {**b.sync_fields["config"], "batch_size": 10}  # one batch
    b.destination = SlowDestination(chunk=2, pause=0.15)
    outcome, control = b.run()
    assert outcome.status == RunStatus.COMPLETED
    inside = [
        c["summary"]["sent_total"]
        for c in control.progress_calls
        if c["summary"]["phase"] == "loading" and c["rows_synced"] == 0
    ]
    # saved by the reporter thread while write() was still working through the batch
    assert any(0 < n < 10 for n in inside), inside
    assert inside == sorted(inside)


def test_a_retried_batch_counts_its_records_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.05)
    b = Bench(tmp_path)
    b.sync_fields["config"] = {**b.sync_fields["config"], "batch_size": 10}
    b.destination = SlowDestination(chunk=2, pause=0.05, fail_first=True)
    outcome, control = b.run()
    assert outcome.status == RunStatus.COMPLETED and outcome.summary is not None
    assert outcome.summary["sent_total"] == 10
    assert max(c["summary"]["sent_total"] for c in control.progress_calls) <= 10


class _Recording(FakeControl):
    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.threads: set[str] = set()

    def progress(self, *, rows_synced: int, rows_failed: int, summary: dict[str, Any]) -> None:
        self.threads.add(threading.current_thread().name)
        super().progress(rows_synced=rows_synced, rows_failed=rows_failed, summary=summary)
        if self.fail:
            raise RuntimeError("database is locked")


def test_nothing_is_saved_after_the_run_returns_and_a_failing_save_is_harmless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.05)
    b = Bench(tmp_path)
    b.destination = SlowDestination(chunk=1, pause=0.02)
    control = _Recording(fail=True)
    outcome, _ = b.run(control=control)
    assert outcome.status == RunStatus.COMPLETED  # progress is best effort
    seen = len(control.progress_calls)
    time.sleep(0.3)
    assert len(control.progress_calls) == seen  # the reporter was stopped before returning
    assert "syncline-run-progress" in control.threads


def test_unchanged_counts_are_not_saved_again() -> None:
    control = FakeControl()
    live = LiveProgress(control, interval=0.0)
    live.phase("extracting")
    live.publish((0, 0, {}))  # a new base: saved
    live.phase("extracting")  # same phase, same counts: the version moved, saved once more
    n = len(control.progress_calls)
    live.start()
    time.sleep(0.2)
    live.close()
    assert len(control.progress_calls) == n  # the reporter found nothing new
    live.add_read(5)
    live.publish((0, 0, {"sent": {"upsert": 2}}))
    assert control.progress_calls[-1]["summary"]["sent_total"] == 2
    assert control.progress_calls[-1]["summary"]["rows_read"] == 5


def test_a_cancelled_batch_counts_only_what_was_committed_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ended run's ``sent_total`` is its ``sent``: an interrupted batch is not counted twice."""
    monkeypatch.setattr(progress, "INTERVAL_SECONDS", 0.0)

    class StopsMidBatch(FakeDestination):
        def write(self, batch: ChangeBatch) -> BatchResult:
            self.run.report_sent(4)
            raise Interrupted(acknowledged=[0, 1, 2, 3])

    b = Bench(tmp_path)
    b.sync_fields["config"] = {**b.sync_fields["config"], "batch_size": 10}
    b.destination = StopsMidBatch()
    outcome, _ = b.run()
    assert outcome.status == RunStatus.CANCELLED and outcome.summary is not None
    assert outcome.summary["sent"] == {"upsert": 4} and outcome.summary["sent_total"] == 4
