"""Slack-like and SMTP channels against local servers the test starts (aiosmtpd)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from syncline.alerts import service
from syncline.alerts.worker import deliver_pending
from tests.alerts.conftest import Receiver, add_channel, events, make_sync, one_run
from tests.fixtures.harness import Harness


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_slack_and_email_get_a_readable_message(
    harness: Harness, receiver: Receiver, smtp: tuple[Inbox, int]
) -> None:
    h = harness
    inbox, port = smtp
    add_channel(h, "slack", {"url": receiver.url}, name="slack")
    mail = {"host": "127.0.0.1", "port": port, "from_address": "s@x.test", "to": ["ops@x.test"]}
    add_channel(h, "email", mail, name="mail")
    sync_id = make_sync(h, [{"type": "FailureAlertConfiguration"}])
    run_id = one_run(h, sync_id, failed=True)
    assert deliver_pending(h.ctx, wait=0) == 2
    (slack,) = receiver.bodies()
    assert "failed" in slack["text"] and f"/runs/{run_id}" in slack["text"]
    assert "Rejected rows:" in slack["text"]
    (envelope,) = inbox.messages
    assert envelope.rcpt_tos == ["ops@x.test"]
    text = envelope.content.decode()
    assert "destination said no" in text and run_id in text
    assert all(e.status == "delivered" for e in events(h))


def test_test_action_sends_a_sample(harness: Harness, receiver: Receiver) -> None:
    h = harness
    cid = add_channel(h, "webhook", {"url": receiver.url})
    with h.ctx.sessions() as s:
        assert service.test_channel(s, h.ctx.secrets, h.workspace_id, cid) == ""
    (body,) = receiver.bodies()
    assert body["kind"] == "test"
