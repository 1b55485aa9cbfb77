"""At-least-once made harmless (issue 12): every record sent to a webhook carries an
idempotency key derived from the sync, the record's key and its row hash, and every request a
key derived from its records, so a resumed attempt or a retry run that sends the same record
again sends the same keys and the receiver can tell the duplicate."""

from __future__ import annotations

import pyarrow as pa
import pytest

from syncline.connectors.base import ChangeBatch, Operation, RunInfo, SyncMode
from syncline.connectors.destinations.webhook.destination import (
    WebhookDestination,
    WebhookDestinationConfig,
)
from syncline.emulators.receiver import Received, WebhookReceiver

pytestmark = pytest.mark.timeout(60)


def _batch(ids: list[int], hashes: list[int], *, seq: int) -> ChangeBatch:
    table = pa.table({"id": ids, "v": [f"v{i}" for i in ids]})
    return ChangeBatch(
        Operation.UPSERT,
        table,
        [str(i) for i in ids],
        "id",
        seq=seq,
        row_hashes=pa.array(hashes, pa.uint64()),
    )


def _send(url: str, run: RunInfo, batch: ChangeBatch) -> None:
    config = WebhookDestinationConfig.model_validate(
        {"url": url, "batch_size": 2, "results_path": "results"}
    )
    dest = WebhookDestination(config)
    dest.begin(run)
    try:
        assert dest.write(batch).errors == []
    finally:
        dest.close()


def _keys(requests: list[Received]) -> list[tuple[str, list[str]]]:
    return [(r.headers["idempotency-key"], r.json()["idempotency_keys"]) for r in requests]


def test_two_attempts_sending_the_same_records_send_the_same_keys() -> None:
    first = RunInfo("sync-1", "run-1", SyncMode.UPSERT, "id", ["id", "v"])
    # The resumed attempt: another run id, another execution, batch numbers restarted.
    second = RunInfo("sync-1", "run-2", SyncMode.UPSERT, "id", ["id", "v"], execution="e2")
    with WebhookReceiver() as rx:
        _send(rx.url, first, _batch([1, 2, 3], [11, 12, 13], seq=4))
        _send(rx.url, second, _batch([1, 2, 3], [11, 12, 13], seq=1))
        sent = _keys(rx.requests)
    assert len(sent) == 4  # two requests per attempt
    by_attempt = sorted(sent[:2]), sorted(sent[2:])
    assert by_attempt[0] == by_attempt[1]  # per-request and per-record keys identical
    record_keys = [k for _, keys in sent[:2] for k in keys]
    assert len(set(record_keys)) == 3  # one per record
    assert all(len(k) == 32 for k in record_keys)


def test_a_changed_record_or_another_sync_gets_a_new_key() -> None:
    run = RunInfo("sync-1", "run-1", SyncMode.UPSERT, "id", ["id", "v"])
    other = RunInfo("sync-2", "run-1", SyncMode.UPSERT, "id", ["id", "v"])
    with WebhookReceiver() as rx:
        _send(rx.url, run, _batch([1], [11], seq=1))
        _send(rx.url, run, _batch([1], [99], seq=1))  # the row changed: a new change
        _send(rx.url, other, _batch([1], [11], seq=1))
        sent = _keys(rx.requests)
        state = rx.state
    assert len({keys[0] for _, keys in sent}) == 3
    assert len({request for request, _ in sent}) == 3
    assert state == {"1": {"id": 1, "v": "v1"}}
