"""A run whose records were all rejected is a failure, not a green run (issue 12)."""

from __future__ import annotations

from pathlib import Path

from syncline.domain.enums import ReasonCode, ResultClass, RunStatus
from tests.engine.fakes import Bench


def test_a_run_whose_every_record_was_rejected_fails(tmp_path: Path) -> None:
    b = Bench(tmp_path)
    b.destination.reject = {str(i) for i in range(1, 11)}
    outcome, _ = b.run()
    assert (outcome.status, outcome.result_class, outcome.reason_code) == (
        RunStatus.FAILED,
        ResultClass.FAILURE,
        ReasonCode.ALL_RECORDS_REJECTED.value,
    )
    assert outcome.rows_synced == 0 and outcome.rows_failed == 10
    assert "10 of 10" in outcome.error_message


def test_max_rejected_pct_fails_a_run_over_the_threshold(tmp_path: Path) -> None:
    b = Bench(tmp_path)
    b.sync_fields["config"] = {**b.sync_fields["config"], "max_rejected_pct": 20}
    b.destination.reject = {"1", "2", "3"}
    outcome, _ = b.run()
    assert outcome.status == RunStatus.FAILED
    assert outcome.reason_code == ReasonCode.TOO_MANY_REJECTED.value
    assert "3 of 10" in outcome.error_message and "20" in outcome.error_message


def test_rejections_within_the_threshold_stay_partial(tmp_path: Path) -> None:
    b = Bench(tmp_path)
    b.sync_fields["config"] = {**b.sync_fields["config"], "max_rejected_pct": 50}
    b.destination.reject = {"1", "2", "3"}
    outcome, _ = b.run()
    assert (outcome.status, outcome.result_class) == (RunStatus.COMPLETED, ResultClass.PARTIAL)


def test_nothing_to_send_is_a_success(tmp_path: Path) -> None:
    b = Bench(tmp_path)
    b.run()
    outcome, _ = b.run()
    assert (outcome.status, outcome.result_class) == (RunStatus.COMPLETED, ResultClass.SUCCESS)


def test_the_same_few_rejects_on_a_rerun_stay_partial(tmp_path: Path) -> None:
    """A rerun resends only the records rejected last time; if they are rejected again the run
    is as partial as the first one was (the rest of the model is in the destination), not a
    failure: the verdict must not flip with nothing changed (it made a CLI test flaky)."""
    b = Bench(tmp_path)
    b.destination.reject = {"1", "2", "3"}
    first, _ = b.run()
    again, _ = b.run()
    assert (first.status, first.result_class) == (RunStatus.COMPLETED, ResultClass.PARTIAL)
    assert (again.status, again.result_class) == (RunStatus.COMPLETED, ResultClass.PARTIAL)
    assert again.rows_failed == 3


def test_max_rejected_pct_counts_the_rows_already_in_step(tmp_path: Path) -> None:
    b = Bench(tmp_path)
    b.sync_fields["config"] = {**b.sync_fields["config"], "max_rejected_pct": 50}
    b.destination.reject = {"1", "2", "3"}
    b.run()
    again, _ = b.run()
    assert (again.status, again.result_class) == (RunStatus.COMPLETED, ResultClass.PARTIAL)
