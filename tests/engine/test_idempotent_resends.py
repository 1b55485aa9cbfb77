"""A retry run resends what the receiver applied but never acknowledged under the same
per-record and per-request idempotency keys (issue 12, at-least-once made harmless)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from syncline.emulators.receiver import Received, WebhookReceiver
from tests.engine.conftest import Harness

pytestmark = pytest.mark.timeout(60)

MAPPING = [
    {"source_column": "id", "destination_field": "id"},
    {"source_column": "v", "destination_field": "v"},
]


class _LostAnswers(WebhookReceiver):
    """Applies every request, then answers 503 while ``lose`` is set: the answer is lost."""

    lose = False

    def _handle(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        status, extra, body = super()._handle(request)
        if self.lose and request.method == "POST":
            return 503, {}, b'{"error": "answer lost"}'
        return status, extra, body


@pytest.fixture
def lossy() -> Iterator[_LostAnswers]:
    with _LostAnswers() as rx:
        yield rx


def test_a_retry_run_resends_applied_records_under_their_keys(
    harness: Harness, lossy: _LostAnswers
) -> None:
    """The receiver applied run 1's records but its answers were lost: run 1 commits nothing,
    run 2 sends them again with the same keys, and the receiver applies none of them twice."""
    harness.sql("CREATE TABLE t AS SELECT i AS id, 'v' || i AS v FROM range(6) t(i)")
    config: dict[str, Any] = {
        "url": lossy.url,
        "results_path": "results",
        "batch_size": 3,
        "max_retries": 0,
    }
    sync_id = harness.make_sync(
        model_sql="SELECT * FROM t",
        primary_key="id",
        destination_type="webhook",
        destination_config=config,
        mapping=MAPPING,
        config={"max_retries": 1},
    )
    lossy.lose = True
    first, _ = harness.run(sync_id)
    assert first.rows_synced == 0
    lossy.lose = False
    second, _ = harness.run(sync_id)
    assert second.rows_synced == 6
    deliveries = lossy.deliveries
    assert len(deliveries) == 12  # every record delivered twice
    keys_per_record: dict[str, set[str | None]] = {}
    for record, key in deliveries:
        keys_per_record.setdefault(record, set()).add(key)
    assert all(len(keys) == 1 and None not in keys for keys in keys_per_record.values())
    requests = [r for r in lossy.requests if r.method == "POST"]
    first_keys = {r.headers["idempotency-key"] for r in requests[:2]}
    assert {r.headers["idempotency-key"] for r in requests[2:]} == first_keys
    assert [r.replayed for r in requests] == [False, False, True, True]
    assert sorted(lossy.state) == [str(i) for i in range(6)]
