"""Outcomes and their combination across shards: pure, no store."""

from __future__ import annotations

from syncline.domain.enums import ResultClass, RunStatus
from syncline.domain.runs import (
    DiffClass,
    ShardResult,
    cancel_message,
    cancelled,
    combine_outcomes,
    completed,
    failure,
    run_heartbeat_timeout,
    shard_heartbeat_timeout,
)


def test_constructors_agree_on_status_class_and_reason() -> None:
    assert (completed(rows_synced=5).result_class, completed().reason_code) == (
        ResultClass.SUCCESS,
        "ok",
    )
    partial = completed(rows_synced=5, rows_failed=2)
    assert (partial.status, partial.result_class, partial.reason_code) == (
        RunStatus.COMPLETED,
        ResultClass.PARTIAL,
        "records_rejected",
    )
    failed = failure("destination_auth", "401")
    assert (failed.status, failed.result_class, failed.error_message) == (
        RunStatus.FAILED,
        ResultClass.FAILURE,
        "401",
    )
    stop = cancelled(cancel_message("wrong model"))
    assert (stop.status, stop.result_class, stop.reason_code) == (
        RunStatus.CANCELLED,
        ResultClass.CANCELLED,
        "cancelled_by_user",
    )
    assert stop.error_message == "cancelled by user: wrong model"


def test_cancel_message_and_heartbeat_timeouts() -> None:
    assert cancel_message(None) == cancel_message("") == "cancelled by user"
    assert cancel_message("x", unconfirmed=True) == (
        "cancelled by user: x (its worker stopped before confirming; committed batches stay)"
    )
    assert run_heartbeat_timeout(60).reason_code == "heartbeat_timeout"
    assert "for more than 60s" in run_heartbeat_timeout(60.0).error_message
    assert "3 times" in shard_heartbeat_timeout(3).error_message


def _shard(index: int, status: RunStatus, **kw: object) -> ShardResult:
    return ShardResult(index=index, status=status, **kw)  # type: ignore[arg-type]


def test_combine_sums_counts_and_keeps_the_longest_duration() -> None:
    out = combine_outcomes(
        [
            _shard(
                0,
                RunStatus.COMPLETED,
                rows_synced=10,
                summary={"added": 10, "duration_seconds": 2.0},
            ),
            _shard(
                1,
                RunStatus.COMPLETED,
                rows_synced=5,
                rows_failed=1,
                summary={"added": 6, "duration_seconds": 3.5, "load": {"batches": 2}},
            ),
        ]
    )
    assert (out.status, out.result_class, out.rows_synced, out.rows_failed) == (
        RunStatus.COMPLETED,
        ResultClass.PARTIAL,
        15,
        1,
    )
    assert out.summary is not None
    assert (out.summary["added"], out.summary["duration_seconds"]) == (16, 3.5)
    assert out.summary["load"] == {"batches": 2} and out.summary["phase"] == "done"
    assert [s["status"] for s in out.summary["shards"]] == ["completed", "completed"]


def test_worst_shard_status_wins() -> None:
    done = _shard(0, RunStatus.COMPLETED)
    stopped = _shard(1, RunStatus.CANCELLED, error_message="cancelled by user: x")
    broken = _shard(
        2, RunStatus.FAILED, result_reason_code="destination_error", error_message="boom"
    )
    failed = combine_outcomes([done, stopped, broken])
    assert (failed.status, failed.reason_code) == (RunStatus.FAILED, "destination_error")
    assert failed.error_message == "1 of 3 shards failed; shard 3/3: boom"
    cancelled_run = combine_outcomes([done, stopped])
    assert (cancelled_run.status, cancelled_run.error_message) == (
        RunStatus.CANCELLED,
        "cancelled by user: x",
    )
    assert combine_outcomes([done, _shard(1, RunStatus.FAILED)]).reason_code == "internal_error"


def test_diff_classes_are_the_summary_keys() -> None:
    assert [c.value for c in DiffClass] == ["added", "changed", "removed", "unchanged"]
