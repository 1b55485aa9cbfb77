"""Honest outcomes and health (issue 12), through the real engine and the stored runs:
``last_synced_at`` / ``last_success_at`` move only for runs that succeeded or were partial
within the threshold, and the API, the compatibility API and the dashboard show the same
health, from ``domain.health.sync_health``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncline.api.compat.views import sync_statuses
from syncline.api.schemas.syncs import SyncOut
from syncline.emulators.receiver import WebhookReceiver
from syncline.services.health import sync_healths
from syncline.store.tables import Sync
from syncline.ui import views
from tests.engine.conftest import Harness

pytestmark = pytest.mark.timeout(60)

MAPPING = [
    {"source_column": "id", "destination_field": "id"},
    {"source_column": "v", "destination_field": "v"},
]


@pytest.fixture
def rx() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def _views(h: Harness, sync_id: str) -> tuple[Sync, str, str, str, str]:
    """The sync row, and its health as the service, API, compat API and dashboard show it."""
    with h.ctx.sessions() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None
        health = sync_healths(s, [sync])[sync_id].value
        api = SyncOut.of(sync, health=sync_healths(s, [sync])[sync_id]).health.value
        compat = sync_statuses(s, [sync])[sync_id]
        ui = views.health(s, sync)
        s.expunge(sync)
        return sync, health, api, compat, ui


def test_timestamps_move_only_for_good_runs_and_every_view_agrees(
    harness: Harness, rx: WebhookReceiver
) -> None:
    h = harness
    h.sql("CREATE TABLE t AS SELECT i AS id, 'v' || i AS v FROM range(10) t(i)")
    sync_id = h.make_sync(
        model_sql="SELECT * FROM t",
        primary_key="id",
        destination_type="webhook",
        destination_config={"url": rx.url, "results_path": "results"},
        mapping=MAPPING,
        config={"max_rejected_pct": 50},
    )
    sync, *seen = _views(h, sync_id)
    assert seen == ["ready"] * 4 and sync.last_synced_at is None

    rx.reject_keys({str(i): "no" for i in range(10)})
    outcome, _ = h.run(sync_id)
    assert (outcome.status, outcome.reason_code) == ("failed", "all_records_rejected")
    sync, *seen = _views(h, sync_id)
    assert seen == ["failing"] * 4
    assert sync.last_synced_at is None and sync.last_success_at is None

    rx.clear_faults()
    rx.reject_keys({"1": "no", "2": "no"})  # 20% of what is sent: within the 50% threshold
    outcome, _ = h.run(sync_id)
    assert (outcome.status, outcome.result_class) == ("completed", "partial")
    sync, *seen = _views(h, sync_id)
    assert seen[:2] == ["warning", "warning"] and seen[3] == "warning"
    assert seen[2] == "up to date"  # seed 002's vocabulary has no "warning"
    partial_at = sync.last_synced_at
    assert partial_at is not None and sync.last_success_at == partial_at

    rx.clear_faults()
    h.sql("CREATE OR REPLACE TABLE t AS SELECT i AS id, 'w' || i AS v FROM range(10) t(i)")
    rx.reject_keys({str(i): "no" for i in range(10)})
    h.update_sync(sync_id, config={"max_rejected_pct": 50})
    outcome, _ = h.run(sync_id)
    assert outcome.status == "failed"
    sync, *seen = _views(h, sync_id)
    assert seen == ["failing"] * 4 and sync.last_synced_at == partial_at  # did not move

    rx.clear_faults()
    outcome, _ = h.run(sync_id)
    assert (outcome.status, outcome.result_class) == ("completed", "success")
    sync, *seen = _views(h, sync_id)
    assert seen == ["up to date"] * 4
    assert sync.last_synced_at is not None and sync.last_synced_at > partial_at
