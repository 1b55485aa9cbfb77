"""Alert rules fire on run outcomes (in the run's transaction) and reach a local receiver."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from syncline.alerts.worker import deliver_pending, run_checks
from syncline.domain.enums import RunStatus
from syncline.runs.transitions import end
from syncline.store.alert_tables import AlertEvent
from syncline.store.tables import SyncRun, utcnow
from tests.alerts.conftest import (
    Receiver,
    add_channel,
    end_run,
    events,
    make_sync,
    one_run,
    start_run,
)
from tests.fixtures.harness import Harness

FAIL = "FailureAlertConfiguration"


def test_first_time_alerts_once_over_two_failures_then_one_recovery(
    harness: Harness, receiver: Receiver
) -> None:
    h = harness
    add_channel(h, "webhook", {"url": receiver.url, "hmac_secret": "s3cret"})
    sync_id = make_sync(h, [{"type": FAIL, "send_for": "first_time"}])
    one_run(h, sync_id, failed=True)
    one_run(h, sync_id, failed=True)
    assert deliver_pending(h.ctx, wait=0) == 1
    one_run(h, sync_id)
    one_run(h, sync_id)
    assert deliver_pending(h.ctx, wait=0) == 1
    kinds = [(b["type"], b["kind"]) for b in receiver.bodies()]
    assert kinds == [(FAIL, "alert"), (FAIL, "recovery")]
    headers, body = receiver.posts[0]
    assert headers["X-Syncline-Signature"].startswith("sha256=")
    assert body["run_url"].endswith(f"/runs/{body['run_id']}")
    assert "destination said no" in body["message"]
    assert all(e.status == "delivered" and e.delivered_at for e in events(h))


def test_every_time_alerts_each_failure(harness: Harness, receiver: Receiver) -> None:
    h = harness
    add_channel(h, "webhook", {"url": receiver.url})
    sync_id = make_sync(h, [{"type": FAIL, "send_for": "every_time"}])
    for _ in range(3):
        one_run(h, sync_id, failed=True)
    assert deliver_pending(h.ctx, wait=0) == 3
    assert [b["kind"] for b in receiver.bodies()] == ["alert"] * 3


def test_invalid_record_percent_over_threshold(harness: Harness, receiver: Receiver) -> None:
    h = harness
    add_channel(h, "webhook", {"url": receiver.url})
    rule = {"type": "InvalidRecordPercentAlertConfiguration", "threshold": 20}
    sync_id = make_sync(h, [rule])
    one_run(h, sync_id, rows_synced=90, rows_failed=10)  # 10 %: under
    assert events(h) == []
    one_run(h, sync_id, rows_synced=50, rows_failed=50)  # 50 %: over
    deliver_pending(h.ctx, wait=0)
    (body,) = receiver.bodies()
    assert body["type"] == rule["type"] and "50.0%" in body["message"]
    assert body["rejected_url"].endswith("/records?status=failed")


def test_full_sync_and_record_count_deviation(harness: Harness, receiver: Receiver) -> None:
    h = harness
    add_channel(h, "webhook", {"url": receiver.url})
    rules = [
        {"type": "FullSyncTriggerAlertConfiguration", "send_for": "every_time"},
        {"type": "RecordCountDeviationAlertConfiguration", "threshold": 30},
    ]
    sync_id = make_sync(h, rules)
    one_run(h, sync_id, summary={"model_rows": 100})
    one_run(h, sync_id, summary={"model_rows": 110})  # +10 %
    one_run(h, sync_id, summary={"model_rows": 200}, run_mode="full")  # +82 %, full
    deliver_pending(h.ctx, wait=0)
    assert sorted(b["type"] for b in receiver.bodies()) == [r["type"] for r in rules]


def test_status_change_sends_failing_then_recovery(harness: Harness, receiver: Receiver) -> None:
    h = harness
    add_channel(h, "webhook", {"url": receiver.url})
    sync_id = make_sync(h, [{"type": "StatusAlertConfiguration"}])
    one_run(h, sync_id)
    one_run(h, sync_id, failed=True)
    one_run(h, sync_id, failed=True)
    one_run(h, sync_id)
    deliver_pending(h.ctx, wait=0)
    assert [b["kind"] for b in receiver.bodies()] == ["alert", "recovery"]


def test_runtime_fires_while_still_running(harness: Harness, receiver: Receiver) -> None:
    h = harness
    add_channel(h, "webhook", {"url": receiver.url})
    sync_id = make_sync(h, [{"type": "RuntimeAlertConfiguration", "threshold": 5}])
    run_id = start_run(h, sync_id)
    assert run_checks(h.ctx) == 0  # just started
    with h.ctx.sessions.begin() as s:
        s.execute(
            sa.update(SyncRun)
            .where(SyncRun.id == run_id)
            .values(started_at=utcnow() - timedelta(minutes=6))
        )
    assert run_checks(h.ctx) == 1
    assert run_checks(h.ctx) == 0  # once per run
    deliver_pending(h.ctx, wait=0)
    with h.ctx.sessions() as s:
        assert s.get(SyncRun, run_id).status == "running"  # type: ignore[union-attr]
    (body,) = receiver.bodies()
    assert body["run_id"] == run_id and "running" in body["message"]
    end_run(h, run_id)
    deliver_pending(h.ctx, wait=0)
    assert len(receiver.bodies()) == 1  # the end does not repeat it


def test_freshness_sla_breach(harness: Harness, receiver: Receiver) -> None:
    h = harness
    add_channel(h, "webhook", {"url": receiver.url})
    sync_id = make_sync(h, [], freshness_sla_seconds=60)
    assert run_checks(h.ctx) == 0
    h.update_sync(sync_id, created_at=utcnow() - timedelta(minutes=5))
    assert run_checks(h.ctx) == 1
    assert run_checks(h.ctx) == 0
    one_run(h, sync_id)  # fresh again: a recovery
    deliver_pending(h.ctx, wait=0)
    assert [b["kind"] for b in receiver.bodies()] == ["alert", "recovery"]


def test_failing_channel_is_retried_and_recorded_run_unaffected(
    harness: Harness, receiver: Receiver
) -> None:
    h = harness
    receiver.status = 500
    add_channel(h, "webhook", {"url": receiver.url})
    sync_id = make_sync(h, [{"type": FAIL}])
    run_id = one_run(h, sync_id, failed=True)
    assert deliver_pending(h.ctx, wait=0) == 0
    (event,) = events(h)
    assert event.status == "pending" and event.attempts == 1
    assert "HTTP 500" in event.last_error and event.delivered_at is None
    assert len(receiver.posts) == 3  # retried with backoff within the pass
    assert event.next_attempt_at is not None and event.next_attempt_at > utcnow()
    with h.ctx.sessions() as s:
        assert s.get(SyncRun, run_id).status == "failed"  # type: ignore[union-attr]
    receiver.status = 200  # the channel comes back; the row is due again
    with h.ctx.sessions.begin() as s:
        s.execute(sa.update(AlertEvent).values(next_attempt_at=utcnow()))
    assert deliver_pending(h.ctx, wait=0) == 1
    (event,) = events(h)
    assert event.status == "delivered" and event.attempts == 2


def test_rolled_back_transition_writes_no_alert(harness: Harness) -> None:
    h = harness
    sync_id = make_sync(h, [{"type": FAIL}])
    run_id = start_run(h, sync_id)
    from syncline.domain.enums import ResultClass
    from syncline.domain.runs import RunOutcome

    outcome = RunOutcome(RunStatus.FAILED, ResultClass.FAILURE, "boom")
    with pytest.raises(RuntimeError), h.ctx.sessions.begin() as s:
        assert end(s, SyncRun, run_id, outcome)
        assert len(list(s.scalars(sa.select(AlertEvent)))) == 1  # written with the UPDATE
        raise RuntimeError("the transaction fails after the transition")
    assert events(h) == []
    end_run(h, run_id, failed=True)
    (event,) = events(h)
    assert event.status == "undeliverable"  # no channel: listed, never lost


def test_rule_channel_ids_pick_channels(harness: Harness, receiver: Receiver) -> None:
    h = harness
    add_channel(h, "webhook", {"url": receiver.url}, name="a")
    other = add_channel(h, "webhook", {"url": receiver.url}, name="b")
    sync_id = make_sync(h, [{"type": FAIL, "channel_ids": [other]}])
    one_run(h, sync_id, failed=True)
    assert [e.channel_id for e in events(h)] == [other]


def test_a_broken_rule_never_fails_the_run(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = harness
    sync_id = make_sync(h, [{"type": FAIL}])

    def broken(*args: object) -> None:
        raise RuntimeError("rule bug")

    monkeypatch.setattr("syncline.alerts.rules.evaluate_end", broken)
    run_id = one_run(h, sync_id, failed=True)
    with h.ctx.sessions() as s:
        assert s.get(SyncRun, run_id).status == "failed"  # type: ignore[union-attr]
    assert events(h) == []
