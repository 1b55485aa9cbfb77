"""The engine on fakes of its ports: plans by mode, the delete guard, control and outcomes.

No metadata store, no warehouse, no executor: if one of these needs a migrated database, the
engine has grown a dependency it should not have.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from syncline.connectors.base import DestinationAuthError, DestinationError, SourceError
from syncline.domain.enums import Operation, ReasonCode, ResultClass, RunStatus
from syncline.domain.runs import ShardRef
from syncline.engine.ports import ExecutionLost, WorkerStopping
from tests.engine.fakes import Bench, FakeControl


def _keys(*ids: int) -> list[str]:
    return [str(i) for i in ids]


def test_upsert_sends_everything_once_then_only_changes(tmp_path: Path) -> None:
    b = Bench(tmp_path)
    outcome, control = b.run()
    assert (outcome.status, outcome.result_class, outcome.reason_code) == (
        RunStatus.COMPLETED,
        ResultClass.SUCCESS,
        ReasonCode.OK.value,
    )
    assert outcome.rows_synced == 10 and outcome.rows_failed == 0
    assert sorted(b.destination.sent(Operation.UPSERT), key=int) == _keys(*range(1, 11))
    assert b.destination.held["3"] == {"id": 3, "email": "u3@x.test", "n": 3}
    assert b.destination.finished == [True]
    assert outcome.summary and outcome.summary["phase"] == "done"
    assert outcome.summary["batches"] == 4  # batch_size 3 over 10 rows
    # once before extracting, once before each batch; the commit is checked separately
    assert control.batches_checked == 5 and control.commits_checked == 1
    assert not list((tmp_path / "work").iterdir())  # the run's scratch space is gone

    b.rows[0]["email"] = "changed@x.test"
    b.rows.append({"id": 11, "email": "new@x.test", "n": 11})
    b.destination.writes.clear()
    outcome, _ = b.run()
    assert sorted(b.destination.sent(Operation.UPSERT)) == _keys(1, 11)
    assert outcome.rows_synced == 2
    assert outcome.summary and outcome.summary["unchanged"] == 9


def test_insert_creates_only_new_records(tmp_path: Path) -> None:
    b = Bench(tmp_path, mode="insert")
    b.run()
    b.rows[0]["email"] = "changed@x.test"
    b.rows.append({"id": 11, "email": "new@x.test", "n": 11})
    b.destination.writes.clear()
    outcome, _ = b.run()
    assert b.destination.sent(Operation.INSERT) == _keys(11)
    assert b.destination.sent(Operation.UPSERT) == []
    assert b.destination.held["1"]["email"] == "u1@x.test"
    assert outcome.result_class == ResultClass.SUCCESS


def test_mirror_deletes_removed_keys_last(tmp_path: Path) -> None:
    b = Bench(tmp_path, mode="mirror")
    b.run()
    del b.rows[:2]
    b.rows[0]["n"] = 99
    b.destination.writes.clear()
    outcome, _ = b.run()
    assert [op for op, _ in b.destination.writes] == [Operation.UPSERT, Operation.DELETE]
    assert b.destination.sent(Operation.DELETE) == _keys(1, 2)
    assert set(b.destination.held) == set(_keys(*range(3, 11)))
    assert outcome.summary and outcome.summary["removed"] == 2


def test_delete_guard_refuses_before_writing_anything(tmp_path: Path) -> None:
    b = Bench(tmp_path, mode="mirror")
    b.run()
    del b.rows[:6]  # 60% of the snapshot, over the default 50%
    b.rows[0]["n"] = 99  # a change that must not be sent either
    b.destination.writes.clear()
    outcome, _ = b.run()
    assert (outcome.status, outcome.reason_code) == (RunStatus.FAILED, "delete_guard")
    assert "6 of 10 records (60.0%)" in outcome.error_message
    assert b.destination.writes == [] and len(b.destination.held) == 10

    b.rows.clear()  # a model that returns nothing would delete everything
    outcome, _ = b.run()
    assert outcome.reason_code == "delete_guard" and "zero rows" in outcome.error_message

    b.sync_fields["config"] = {**b.sync_fields["config"], "allow_mass_delete": True}
    outcome, _ = b.run()
    assert outcome.status == RunStatus.COMPLETED and b.destination.held == {}


def test_a_cancel_seen_before_a_batch_ends_the_run_cancelled(tmp_path: Path) -> None:
    b = Bench(tmp_path)
    outcome, control = b.run(control=FakeControl(stop_at=3))
    assert (outcome.status, outcome.result_class, outcome.reason_code) == (
        RunStatus.CANCELLED,
        ResultClass.CANCELLED,
        ReasonCode.CANCELLED_BY_USER.value,
    )
    assert outcome.error_message == "cancelled by user: enough"
    assert outcome.rows_synced == 3  # one batch went out; its records stay committed
    assert control.commits_checked == 0 and b.destination.finished == [False]
    # the next run resumes from the snapshot: only the seven unsent records go
    b.destination.writes.clear()
    outcome, _ = b.run()
    assert len(b.destination.sent(Operation.UPSERT)) == 7 and outcome.rows_synced == 7


@pytest.mark.parametrize("exc", [ExecutionLost(), WorkerStopping()])
def test_losing_the_run_is_not_an_outcome(tmp_path: Path, exc: Exception) -> None:
    b = Bench(tmp_path)
    with pytest.raises(type(exc)):
        b.run(control=FakeControl(stop_at=2, stop_with=lambda: exc))
    assert b.destination.writes == []
    # a lost run must not compact or move the mark either
    b2 = Bench(tmp_path / "b2", mode="append", high_water_mark="n")
    with pytest.raises(type(exc)):
        b2.run(control=FakeControl(lose_at_commit=exc))
    assert b2.state == {} and len(b2.destination.held) == 10


def test_append_saves_the_high_water_mark_and_resumes_past_it(tmp_path: Path) -> None:
    b = Bench(tmp_path, mode="append", high_water_mark="n")
    _, control = b.run()
    assert control.saved == [{"high_water_mark": 10}]
    b.rows.append({"id": 11, "email": "new@x.test", "n": 11})
    b.rows[0]["email"] = "changed@x.test"  # below the mark: not sent again
    b.destination.writes.clear()
    _, control = b.run()
    assert b.destination.sent(Operation.INSERT) == _keys(11)
    assert control.saved == [{"high_water_mark": 11}]
    _, control = b.run()
    assert control.saved == []  # the mark did not move: nothing to save


def test_append_with_a_mark_appends_every_row_past_it_whatever_its_key(tmp_path: Path) -> None:
    """Seed 001: the mark, not the key diff, says what is new (an updated key is appended)."""
    b = Bench(tmp_path, mode="append", high_water_mark="n")
    b.run()
    b.destination.writes.clear()
    b.rows[2]["n"] = 12  # key 3 moved past the mark: a new record to append
    b.rows.append({"id": 11, "email": "new@x.test", "n": 11})
    b.rows[0]["email"] = "changed@x.test"  # changed but below the mark: not sent
    outcome, control = b.run()
    assert sorted(b.destination.sent(Operation.INSERT), key=int) == _keys(3, 11)
    assert control.saved == [{"high_water_mark": 12}]
    assert outcome.result_class == ResultClass.SUCCESS


def test_a_mark_on_a_timezone_aware_column_is_saved_and_used(tmp_path: Path) -> None:
    """A TIMESTAMPTZ mark is stored as ISO text and compared again (no pytz needed)."""
    utc = dt.UTC
    b = Bench(tmp_path, mode="append", high_water_mark="at")
    for row in b.rows:
        row["at"] = dt.datetime(2024, 1, 1, tzinfo=utc) + dt.timedelta(hours=row["id"])
    outcome, control = b.run()
    assert outcome.status == RunStatus.COMPLETED, outcome.error_message
    (saved,) = control.saved
    assert dt.datetime.fromisoformat(saved["high_water_mark"]) == dt.datetime(
        2024, 1, 1, 10, tzinfo=utc
    )
    b.rows[0]["at"] = dt.datetime(2024, 1, 2, tzinfo=utc)
    b.destination.writes.clear()
    b.run()
    assert b.destination.sent(Operation.INSERT) == _keys(1)


@pytest.mark.parametrize(
    ("field_order", "expected"),
    [("alphabetical_column_name", ["email", "id", "n"]), (None, ["n", "id", "email"])],
)
def test_field_order_orders_the_fields_sent(
    tmp_path: Path, field_order: str | None, expected: list[str]
) -> None:
    mapping = [{"source_column": c, "destination_field": c} for c in ("n", "id", "email")]
    b = Bench(tmp_path, field_mapping=mapping, field_order=field_order)
    b.run()
    assert b.destination.run.fields == expected
    assert b.destination.batch_columns == expected


def test_the_mark_stops_below_a_rejected_record(tmp_path: Path) -> None:
    b = Bench(tmp_path, mode="append", high_water_mark="n")
    b.destination.reject = {"7"}
    outcome, control = b.run()
    assert control.saved == [{"high_water_mark": 6}]
    assert outcome.result_class == ResultClass.PARTIAL


def test_rejected_records_reach_the_sink_and_make_the_run_partial(tmp_path: Path) -> None:
    b = Bench(tmp_path)
    b.rows.append({"id": None, "email": "nokey@x.test", "n": 0})
    b.destination.reject = {"4"}
    outcome, _ = b.run()
    assert (outcome.status, outcome.result_class, outcome.reason_code) == (
        RunStatus.COMPLETED,
        ResultClass.PARTIAL,
        ReasonCode.RECORDS_REJECTED.value,
    )
    assert outcome.rows_synced == 9 and outcome.rows_failed == 2
    by_class = {row[2]: row for row, _ in b.sink.rows}
    assert by_class["invalid_field"][:2] == ("4", "upsert")
    assert by_class["invalid_field"][4] == {"id": 4, "email": "u4@x.test", "n": 4}
    assert by_class["null_primary_key"][0] is None
    assert by_class["null_primary_key"][1] == "reject"
    assert {status for _, status in b.sink.rows} == {"failed"}


def _fails(b: Bench, exc: Exception) -> None:
    def fail() -> Exception:
        return exc

    b.destination.fail = fail


@pytest.mark.parametrize(
    ("setup", "reason", "message"),
    [
        (lambda b: _fails(b, DestinationError("503 from API")), "destination_error", "503"),
        (lambda b: _fails(b, DestinationAuthError("bad token")), "destination_auth", "bad token"),
        (
            lambda b: setattr(b, "source_fail", SourceError("no such table t")),
            "source_error",
            "no such table",
        ),
        (
            lambda b: b.sync_fields.update(
                field_mapping=[{"source_column": "nope", "destination_field": "x"}]
            ),
            "config_error",
            "configuration error: ",
        ),
        (
            lambda b: setattr(b, "destination_type", "not-installed"),
            "config_error",
            "configuration error: ",
        ),
        (lambda b: setattr(b, "missing", True), "config_error", "run run-1 does not exist"),
        (
            lambda b: _fails(b, RuntimeError("a bug")),
            "internal_error",
            "internal error: RuntimeError: a bug",
        ),
    ],
)
def test_errors_map_to_outcomes(tmp_path: Path, setup: object, reason: str, message: str) -> None:
    b = Bench(tmp_path)
    setup(b)  # type: ignore[operator]
    outcome, _ = b.run()
    assert (outcome.status, outcome.result_class) == (RunStatus.FAILED, ResultClass.FAILURE)
    assert outcome.reason_code == reason
    assert message in outcome.error_message
    assert not (tmp_path / "work").exists() or not list((tmp_path / "work").iterdir())


def test_a_retryable_batch_failure_is_retried(tmp_path: Path) -> None:
    b = Bench(tmp_path)
    calls = {"n": 0}

    def flaky() -> Exception | None:
        calls["n"] += 1
        return DestinationError("timeout", retryable=True) if calls["n"] == 1 else None

    write = b.destination.write

    def first_fails(batch):  # type: ignore[no-untyped-def]
        exc = flaky()
        if exc is not None:
            raise exc
        return write(batch)

    b.destination.write = first_fails  # type: ignore[method-assign]
    outcome, _ = b.run()
    assert outcome.result_class == ResultClass.SUCCESS and outcome.rows_synced == 10


def test_shards_split_the_keys_and_leave_compaction_to_the_finaliser(tmp_path: Path) -> None:
    b = Bench(tmp_path)
    first, _ = b.run(shard=ShardRef("sh-a", 0, 2))
    a = set(b.destination.sent(Operation.UPSERT))
    second, _ = b.run(shard=ShardRef("sh-b", 1, 2))
    both = set(b.destination.sent(Operation.UPSERT))
    assert a and a < both and both == set(_keys(*range(1, 11)))
    assert first.rows_synced + second.rows_synced == 10
    assert b.destination.run.part == "s2of2"
    assert all(seg.kind == "delta" for seg in b.snapshots.segments("sync-1"))


def test_a_mirror_shard_guards_deletes_over_the_whole_model(tmp_path: Path) -> None:
    b = Bench(tmp_path, mode="mirror")
    b.run()
    del b.rows[:6]  # 60% of the model: refused in every shard, whichever keys it holds
    b.destination.writes.clear()
    for index in range(2):
        outcome, _ = b.run(shard=ShardRef(f"sh-{index}", index, 2))
        assert outcome.reason_code == "delete_guard", outcome
    assert b.destination.writes == []
