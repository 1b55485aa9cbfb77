"""``/metrics`` is scraped and compared with the runs that really happened."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from syncline.api.app import create_app
from syncline.emulators.receiver import WebhookReceiver
from syncline.store.tables import SyncRun
from tests.fixtures.harness import Harness

MAPPING = [
    {"source_column": "id", "destination_field": "id"},
    {"source_column": "v", "destination_field": "v"},
]
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: TestClient, **headers: str) -> Samples:
    resp = client.get("/metrics", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(resp.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_follow_the_runs(harness: Harness) -> None:
    h = harness
    h.sql("CREATE OR REPLACE TABLE t AS SELECT i AS id, 'v' || i AS v FROM range(30) t(i)")
    client = TestClient(create_app(h.ctx))
    before = scrape(client)
    with WebhookReceiver() as rx:
        ok = h.make_sync(
            model_sql="SELECT * FROM t",
            primary_key="id",
            destination_type="webhook",
            destination_config={"url": rx.url, "results_path": "results", "batch_size": 10},
            mapping=MAPPING,
            config={"batch_size": 10},
        )
        outcome, _ = h.run(ok)
        assert outcome.status == "completed"
    broken = h.make_sync(
        model_sql="SELECT * FROM missing_table",
        primary_key="id",
        destination_type="webhook",
        destination_config={"url": "http://127.0.0.1:9/hook"},
        mapping=MAPPING,
    )
    failed, _ = h.run(broken)
    assert failed.status == "failed"
    after = scrape(client)

    assert delta(after, before, "syncline_runs_total", status="running", result_class="") == 2
    assert (
        delta(after, before, "syncline_runs_total", status="completed", result_class="success") == 1
    )
    assert delta(after, before, "syncline_runs_total", status="failed", result_class="failure") == 1
    assert delta(after, before, "syncline_records_total", outcome="sent", error_class="") == 30
    assert (
        delta(after, before, "syncline_records_total", outcome="acknowledged", error_class="") == 30
    )
    assert delta(after, before, "syncline_run_duration_seconds_count", status="completed") == 1
    # three batches of ten, each one measured request to the webhook
    assert (
        delta(
            after, before, "syncline_destination_request_seconds_count", destination_type="webhook"
        )
        == 3
    )

    with h.ctx.sessions.begin() as s:
        s.add(SyncRun(sync_id=ok, workspace_id=h.workspace_id))
    gauges = scrape(client)
    assert gauges[("syncline_queue_depth", (("status", "pending"),))] == 1
    assert gauges[("syncline_queue_depth", (("status", "running"),))] == 0
    assert gauges[("syncline_oldest_pending_run_age_seconds", ())] >= 0


def test_destination_errors_counted_by_class(harness: Harness) -> None:
    from syncline.connectors._metrics import observe

    client = TestClient(create_app(harness.ctx))
    before = scrape(client)
    observe("hubspot", 0.1, 429)
    observe("hubspot", 0.1, 503)
    observe("hubspot", 0.1, 200)
    after = scrape(client)
    labels = {"destination_type": "hubspot"}
    assert (
        delta(
            after, before, "syncline_destination_request_errors_total", **labels, code_class="429"
        )
        == 1
    )
    assert (
        delta(
            after, before, "syncline_destination_request_errors_total", **labels, code_class="5xx"
        )
        == 1
    )
    assert delta(after, before, "syncline_destination_request_seconds_count", **labels) == 3


def test_metrics_token_when_set(harness: Harness) -> None:
    harness.ctx.settings.metrics_token = "scrape-secret"
    client = TestClient(create_app(harness.ctx))
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    scrape(client, Authorization="Bearer scrape-secret")
