"""What the engine stores from a run (its message, rejected records' messages) is redacted:
a vendor may echo a header value or token it was sent back in an error body."""

from __future__ import annotations

from collections.abc import Iterable

from syncline.engine.ports import RecordRow
from syncline.execution.engine_env import RedactingSink
from syncline.security.redact import remember

SECRET = "vendor-key-5f2b9c1d7e"


class Collect:
    def __init__(self) -> None:
        self.rows: list[RecordRow] = []

    def write(self, rows: Iterable[RecordRow], *, status: str = "failed") -> int:
        got = list(rows)
        self.rows.extend(got)
        return len(got)


def test_rejected_record_messages_are_redacted_before_they_are_stored() -> None:
    remember([SECRET])  # as the secret box does when it decrypts a destination config
    sink = Collect()
    echoed = f"400 invalid header X-Vendor-Key: {SECRET}"
    assert RedactingSink(sink).write([("1", "upsert", "validation", echoed, {"id": 1})]) == 1
    [(key, op, error_class, message, payload)] = sink.rows
    assert SECRET not in message and "X-Vendor-Key" in message
    assert (key, op, error_class, payload) == ("1", "upsert", "validation", {"id": 1})
