"""The metrics the first scrape test leaves out, each fed by the real thing it counts.

Rejected records by error class and 429/5xx answers from a real run against a local receiver;
scheduler lag from a real tick; alert deliveries sent and failed; the oldest pending run's age;
and counters of several processes summed by one ``/metrics`` (multiprocess mode).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from syncline.alerts.worker import deliver_pending
from syncline.api.app import create_app
from syncline.emulators.receiver import WebhookReceiver
from syncline.observability.metrics import render
from syncline.scheduler.tick import tick
from syncline.store.tables import SyncRun, utcnow
from tests.alerts.conftest import Receiver, add_channel, make_sync, one_run, receiver  # noqa: F401
from tests.fixtures.harness import Harness
from tests.observability.test_metrics import MAPPING, delta, scrape


def test_rejected_by_error_class_and_throttling_from_a_real_run(harness: Harness) -> None:
    h = harness
    h.sql("CREATE OR REPLACE TABLE t AS SELECT i AS id, 'v' || i AS v FROM range(20) t(i)")
    client = TestClient(create_app(h.ctx))
    before = scrape(client)
    with WebhookReceiver() as rx:
        rx.inject(429, retry_after="0")
        rx.inject(503)
        rx.reject_keys({"4": "email is invalid", "9": "email is invalid"})
        sync_id = h.make_sync(
            model_sql="SELECT * FROM t",
            primary_key="id",
            destination_type="webhook",
            destination_config={"url": rx.url, "results_path": "results"},
            mapping=MAPPING,
        )
        outcome, run = h.run(sync_id)
    assert outcome.status == "completed" and run.rows_failed == 2
    after = scrape(client)
    by_class = dict((run.summary or {}).get("destination_rejected") or {})
    assert sum(by_class.values()) == 2
    for error_class, n in by_class.items():
        name, labels = "syncline_records_total", {"outcome": "rejected", "error_class": error_class}
        assert delta(after, before, name, **labels) == n
    errors = "syncline_destination_request_errors_total"
    webhook = {"destination_type": "webhook"}
    assert delta(after, before, errors, **webhook, code_class="429") == 1
    assert delta(after, before, errors, **webhook, code_class="5xx") == 1
    # the two refused requests and the one that went through, each timed
    assert delta(after, before, "syncline_destination_request_seconds_count", **webhook) == 3


def test_scheduler_lag_from_a_real_tick(harness: Harness) -> None:
    h = harness
    client = TestClient(create_app(h.ctx))
    now = utcnow()
    h.make_sync(
        model_sql="SELECT 1 AS id",
        primary_key="id",
        destination_type="webhook",
        destination_config={"url": "http://127.0.0.1:9/hook"},
        mapping=[{"source_column": "id", "destination_field": "id"}],
        schedule="*/5 * * * *",
        next_run_at=now - timedelta(seconds=90),
    )
    assert len(tick(h.ctx, now=now)) == 1
    lag = scrape(client)[("syncline_scheduler_lag_seconds", ())]
    assert lag == pytest.approx(90, abs=1)


def test_alert_deliveries_sent_and_failed(harness: Harness, receiver: Receiver) -> None:  # noqa: F811
    h = harness
    client = TestClient(create_app(h.ctx))
    add_channel(h, "webhook", {"url": receiver.url}, name="up")
    add_channel(h, "webhook", {"url": "http://127.0.0.1:9/closed"}, name="down")
    sync_id = make_sync(h, [{"type": "FailureAlertConfiguration"}])
    before = scrape(client)
    one_run(h, sync_id, failed=True)
    assert deliver_pending(h.ctx, wait=0) == 1
    after = scrape(client)
    name = "syncline_alerts_total"
    assert delta(after, before, name, channel_type="webhook", outcome="sent") == 1
    assert delta(after, before, name, channel_type="webhook", outcome="failed") == 1


def test_oldest_pending_run_age(harness: Harness) -> None:
    h = harness
    client = TestClient(create_app(h.ctx))
    sync_id = make_sync(h, [])
    with h.ctx.sessions.begin() as s:
        s.add(
            SyncRun(
                sync_id=sync_id,
                workspace_id=h.workspace_id,
                created_at=utcnow() - timedelta(seconds=120),
            )
        )
    age = scrape(client)[("syncline_oldest_pending_run_age_seconds", ())]
    assert 120 <= age < 180


CHILD = textwrap.dedent(
    """
    from syncline.observability import metrics
    metrics.RUNS.labels("completed", "success").inc()
    metrics.alert_delivered("slack", ok=False)
    """
)


def test_counters_of_several_processes_are_summed(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under PROMETHEUS_MULTIPROC_DIR, /metrics adds up what every process counted."""
    shared = tmp_path / "prom"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared), "PATH": "/usr/bin:/bin"}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, timeout=120)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    text, _ = render(harness.ctx.sessions)
    got = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text.decode())
        for s in family.samples
    }
    runs = ("syncline_runs_total", (("result_class", "success"), ("status", "completed")))
    alerts = ("syncline_alerts_total", (("channel_type", "slack"), ("outcome", "failed")))
    assert got[runs] == 2 and got[alerts] == 2
    assert ("syncline_queue_depth", (("status", "pending"),)) in got  # the store gauges too
