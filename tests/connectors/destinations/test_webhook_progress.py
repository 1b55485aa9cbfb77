"""The webhook reports each answered request to the engine's live progress, mid-batch."""

from __future__ import annotations

import pyarrow as pa
import pytest

from syncline.connectors.base import ChangeBatch, Operation, RunInfo, SyncMode
from syncline.connectors.destinations.webhook.destination import (
    WebhookDestination,
    WebhookDestinationConfig,
)
from syncline.emulators.receiver import WebhookReceiver

pytestmark = pytest.mark.timeout(30)


def _batch(n: int) -> ChangeBatch:
    ids = list(range(n))
    table = pa.table({"id": ids, "email": [f"u{i}@x.io" for i in ids]})
    return ChangeBatch(Operation.UPSERT, table, [str(i) for i in ids], "id")


def test_each_answered_request_is_reported_and_a_given_up_one_is_not() -> None:
    reported: list[int] = []
    with WebhookReceiver() as rx:
        config = {"url": rx.url, "batch_size": 10, "concurrency": 1, "max_retries": 0}
        dest = WebhookDestination(WebhookDestinationConfig.model_validate(config))
        run = RunInfo("s", "r", SyncMode.UPSERT, "id", ["id", "email"], on_sent=reported.append)
        dest.begin(run)
        try:
            assert dest.write(_batch(35)).errors == []
            assert reported == [10, 10, 10, 5]  # request by request, before write() returned
            reported.clear()
            rx.inject(422, times=1)  # a rejected request was answered: its records count
            rx.inject(503, times=1)  # one that gave up was not: its records are unsent
            result = dest.write(_batch(25))
            assert len(result.errors) == 20
            assert sorted(reported) == [5, 10]
        finally:
            dest.close()
