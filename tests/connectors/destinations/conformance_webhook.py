"""Conformance adapter of the webhook destination: a local receiver applying the batches."""

from __future__ import annotations

from typing import Any

import pytest
from conformance import Adapter, State

from syncline.emulators.receiver import WebhookReceiver


class WebhookAdapter(Adapter):
    """A ``WebhookReceiver`` that reports per-record results (so "not found" is known).

    The receiver is a JSON document store: a field a record never received reads as null,
    which is how the state pads records (``skip_nulls`` leaves null fields out of the JSON).
    """

    name = "webhook"

    def __init__(self, receiver: WebhookReceiver, **config: Any) -> None:
        super().__init__()
        self.receiver = receiver
        self.extra = config

    def config(self) -> dict[str, Any]:
        return {
            "url": self.receiver.url,
            "results_path": "results",
            "batch_size": 2,  # several requests per batch, sent concurrently
            "concurrency": 3,
            "backoff_initial_seconds": 0.01,
            **self.extra,
        }

    def state(self) -> State:
        state = self.receiver.state
        names = {name for record in state.values() for name in record}
        return {k: {n: record.get(n) for n in sorted(names)} for k, record in state.items()}


def webhook_adapter(request: pytest.FixtureRequest) -> WebhookAdapter:
    """A receiver for one test (stopped at its end), signed requests and bearer auth."""
    receiver = WebhookReceiver(auth=("bearer", "conformance-token"), hmac_secret="conf-secret")
    receiver.start()
    request.addfinalizer(receiver.stop)
    return WebhookAdapter(
        receiver,
        auth={"type": "bearer", "token": "conformance-token"},
        hmac_secret="conf-secret",
    )
