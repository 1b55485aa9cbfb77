"""Webhook destination against the local receiver: retries, auth, signatures, results, pacing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from pydantic import ValidationError

from syncline.connectors.base import (
    BatchResult,
    ChangeBatch,
    DestinationAuthError,
    DestinationError,
    Operation,
    RunInfo,
    SyncMode,
)
from syncline.connectors.destinations.webhook.destination import (
    WebhookDestination,
    WebhookDestinationConfig,
)
from syncline.connectors.destinations.webhook.http import retry_after_seconds
from syncline.connectors.destinations.webhook.payload import records_of
from syncline.connectors.destinations.webhook.results import item_errors
from syncline.emulators.receiver import WebhookReceiver

pytestmark = pytest.mark.timeout(30)

FAST = {"backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.05, "results_path": "results"}


@pytest.fixture
def rx() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def open_dest() -> Iterator[Any]:
    opened: list[WebhookDestination] = []

    def make(url: str, **config: Any) -> WebhookDestination:
        dest = WebhookDestination(WebhookDestinationConfig.model_validate({"url": url, **config}))
        dest.begin(RunInfo("sync-1", "run-1", SyncMode.UPSERT, "id", ["id", "email"]))
        opened.append(dest)
        return dest

    yield make
    for dest in opened:
        dest.close()


def people(n: int, start: int = 0) -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table({"id": pa.array(ids, pa.int64()), "email": [f"u{i}@x.io" for i in ids]})


def send(dest: WebhookDestination, table: pa.Table, op: Operation = Operation.UPSERT) -> Any:
    keys = [str(k) for k in table.column("id").to_pylist()]
    return dest.write(ChangeBatch(op, table, keys, "id", seq=7))


def assert_complete(result: BatchResult, rx: WebhookReceiver, table: pa.Table) -> None:
    """Every record is either acknowledged and held by the receiver, or reported once."""
    indexes = [e.index for e in result.errors]
    assert indexes == sorted(set(indexes)), "an index reported twice or out of order"
    ids = table.column("id").to_pylist()
    acked = {str(ids[i]) for i in range(len(ids)) if i not in set(indexes)}
    assert acked <= set(rx.state)


def test_429_waits_at_least_retry_after(rx: WebhookReceiver, open_dest: Any) -> None:
    rx.inject(429, retry_after="1", times=1)
    dest = open_dest(rx.url, **FAST)
    started = time.monotonic()
    result = send(dest, people(3))
    assert result.errors == []
    first, second = rx.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0  # the header's seconds, not the 10 ms backoff
    assert time.monotonic() - started >= 1.0


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("2.5") == 2.5 and retry_after_seconds("soon") is None


def test_5xx_then_success(rx: WebhookReceiver, open_dest: Any) -> None:
    rx.inject(503, times=2)
    result = send(open_dest(rx.url, **FAST), people(4))
    assert result.errors == [] and sorted(rx.state) == ["0", "1", "2", "3"]
    assert [r.status for r in rx.requests] == [503, 503, 200]


def test_a_timeout_is_retried_and_not_applied_twice(rx: WebhookReceiver, open_dest: Any) -> None:
    rx.inject(None, delay=1.0)  # slow, then processed anyway, like a real server
    result = send(open_dest(rx.url, timeout_seconds=0.3, **FAST), people(2))
    assert result.errors == []
    time.sleep(0.9)  # let the slow request finish on the server
    keys = {r.headers["idempotency-key"] for r in rx.requests}
    assert len(rx.requests) == 2 and len(keys) == 1  # one request, sent twice
    assert sorted(r.replayed for r in rx.requests) == [False, True]  # applied once
    assert sorted(rx.state) == ["0", "1"]


def test_exhausted_retries_reject_only_that_request(rx: WebhookReceiver, open_dest: Any) -> None:
    rx.inject(500, times=2)  # the first request's two attempts (concurrency 1: in order)
    dest = open_dest(rx.url, batch_size=2, concurrency=1, max_retries=1, **FAST)
    result = send(dest, people(5))
    assert [(e.index, e.error_class) for e in result.errors] == [
        (0, "http_error"),
        (1, "http_error"),
    ]
    assert "HTTP 500" in result.errors[0].message and "2 attempts" in result.errors[0].message
    assert sorted(rx.state) == ["2", "3", "4"]


def test_when_nothing_is_acknowledged_the_batch_is_retryable(
    rx: WebhookReceiver, open_dest: Any
) -> None:
    rx.inject(None, delay=0.5, times=4)
    dest = open_dest(rx.url, timeout_seconds=0.1, max_retries=1, **FAST)
    with pytest.raises(DestinationError, match="timed out") as info:
        send(dest, people(3))
    assert info.value.retryable


def test_unreachable_endpoint_is_retryable(open_dest: Any) -> None:
    dest = open_dest("http://127.0.0.1:1/hook", max_retries=1, **FAST)
    with pytest.raises(DestinationError, match="connection failed") as info:
        send(dest, people(1))
    assert info.value.retryable
    assert not dest.check().ok


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_auth_errors(rx: WebhookReceiver, open_dest: Any, status: int) -> None:
    rx.inject(status)
    with pytest.raises(DestinationAuthError, match=f"HTTP {status}"):
        send(open_dest(rx.url, **FAST), people(2))


@pytest.mark.parametrize(
    ("auth", "config"),
    [
        (("bearer", "t0k"), {"type": "bearer", "token": "t0k"}),
        (("basic", "ann", "pw"), {"type": "basic", "username": "ann", "password": "pw"}),
        (("api_key", "X-Key", "k1"), {"type": "api_key", "header": "X-Key", "value": "k1"}),
    ],
    ids=["bearer", "basic", "api_key"],
)
def test_auth_schemes(open_dest: Any, auth: tuple[str, ...], config: dict[str, str]) -> None:
    with WebhookReceiver(auth=auth) as rx:
        assert send(open_dest(rx.url, auth=config, **FAST), people(2)).errors == []
        assert open_dest(rx.url, auth=config).check().ok
        wrong = {**config, **{k: "nope" for k in ("token", "password", "value") if k in config}}
        with pytest.raises(DestinationAuthError):
            send(open_dest(rx.url, auth=wrong, **FAST), people(1))
        check = open_dest(rx.url, auth=wrong).check()
        assert not check.ok and "refused the credentials" in check.message


def test_hmac_signature_of_the_exact_body(open_dest: Any) -> None:
    with WebhookReceiver(hmac_secret="s3cret", signature_header="X-Sig") as rx:
        dest = open_dest(rx.url, hmac_secret="s3cret", signature_header="X-Sig", **FAST)
        assert send(dest, people(3)).errors == []
        [request] = rx.requests
        digest = hmac.new(b"s3cret", request.body, hashlib.sha256).hexdigest()
        assert request.headers["x-sig"] == f"sha256={digest}"
        with pytest.raises(DestinationAuthError, match="bad signature"):
            send(open_dest(rx.url, hmac_secret="other", signature_header="X-Sig"), people(1))


def test_per_record_errors_are_mapped_and_the_rest_acked(
    rx: WebhookReceiver, open_dest: Any
) -> None:
    rx.reject_keys({"3": "email is invalid", "11": "blocked"})
    table = people(12)
    result = send(open_dest(rx.url, batch_size=5, **FAST), table)
    assert [(e.index, e.message, e.error_class) for e in result.errors] == [
        (3, "email is invalid", "rejected"),
        (11, "blocked", "rejected"),
    ]
    assert sorted(rx.state, key=int) == [str(i) for i in range(12) if i not in (3, 11)]


def test_a_4xx_rejects_the_records_of_that_request(rx: WebhookReceiver, open_dest: Any) -> None:
    rx.inject(422, body='{"error": "schema mismatch"}')
    dest = open_dest(rx.url, batch_size=2, concurrency=1, **FAST)
    result = send(dest, people(4))
    assert [e.index for e in result.errors] == [0, 1]
    assert result.errors[0].message == 'HTTP 422: {"error": "schema mismatch"}'
    assert sorted(rx.state) == ["2", "3"]


def test_concurrent_requests_map_results_to_the_right_indexes(
    rx: WebhookReceiver, open_dest: Any
) -> None:
    rx.inject(None, delay=0.3, times=8)  # slow requests overlap only if sent concurrently
    rejected = {str(k): f"no {k}" for k in (0, 7, 19, 33, 48)}
    rx.reject_keys(rejected)
    table = people(50)
    result = send(open_dest(rx.url, batch_size=5, concurrency=8, **FAST), table)
    # Concurrent, not one after the other: requests arrived while the first (slow) one was
    # still being answered. Judged from arrival times, not a wall-clock bound a loaded CI
    # machine can miss (it did: 1.27 s against 1.2 s).
    arrivals = sorted(r.at for r in rx.requests)
    assert sum(1 for t in arrivals if t - arrivals[0] < 0.3) >= 2
    assert [(e.index, e.message) for e in result.errors] == [
        (int(k), m) for k, m in rejected.items()
    ]
    assert_complete(result, rx, table)
    assert len(rx.state) == 45 and len(rx.requests) == 10


def test_requests_per_second_is_respected(rx: WebhookReceiver, open_dest: Any) -> None:
    rate = 20
    dest = open_dest(rx.url, batch_size=1, concurrency=8, requests_per_second=rate, **FAST)
    assert send(dest, people(30)).errors == []
    arrivals = sorted(r.at for r in rx.requests)
    assert len(arrivals) == 30
    busiest = max(sum(1 for t in arrivals if a <= t < a + 1.0) for a in arrivals)
    assert busiest <= rate + 1
    assert arrivals[-1] - arrivals[0] >= (30 - 1) / rate * 0.9


def test_sandboxed_template_cannot_reach_attributes(rx: WebhookReceiver, open_dest: Any) -> None:
    with pytest.raises(ValidationError, match="not allowed"):
        WebhookDestinationConfig(url=rx.url, payload_template="{{ records.__class__.__mro__ }}")
    with pytest.raises(ValidationError, match="not allowed"):
        WebhookDestinationConfig(url=rx.url, payload_template="{{ records.append(1) }}")
    # Only reachable with real data: caught when the batch is rendered, before any request.
    sneaky = "{% if records|length > 1 %}{{ ''.__class__.__base__ }}{% endif %}[]"
    dest = open_dest(rx.url, payload_template=sneaky, **FAST)
    with pytest.raises(DestinationError, match="not allowed") as info:
        send(dest, people(2))
    assert not info.value.retryable and rx.requests == []


def test_template_shapes_the_body(rx: WebhookReceiver, open_dest: Any) -> None:
    template = (
        '{"type": "{{ operation }}", "run": "{{ run_id }}", "seq": {{ batch_seq }}, '
        '"records": {{ records | tojson }}}'
    )
    assert send(open_dest(rx.url, payload_template=template, **FAST), people(2)).errors == []
    body = rx.requests[0].json()
    assert (body["type"], body["run"], body["seq"]) == ("upsert", "run-1", 7)
    assert sorted(rx.state) == ["0", "1"]
    dest = open_dest(rx.url, payload_template="not json {{ run_id }}")
    with pytest.raises(DestinationError, match="did not produce JSON"):
        send(dest, people(1))


def test_headers_methods_and_idempotency_keys(rx: WebhookReceiver, open_dest: Any) -> None:
    dest = open_dest(rx.url, batch_size=2, headers={"X-Team": "data"}, **FAST)
    send(dest, people(3))
    send(dest, people(3).select(["id"]).cast(pa.schema([("id", pa.string())])), Operation.DELETE)
    methods = [(r.method, r.headers["x-syncline-operation"]) for r in rx.requests]
    assert sorted(methods) == [("DELETE", "delete")] * 2 + [("POST", "upsert")] * 2
    assert len({r.headers["idempotency-key"] for r in rx.requests}) == 4
    assert all(r.headers["x-team"] == "data" for r in rx.requests)
    assert rx.state == {}
    patch = open_dest(rx.url, methods={"update": "PATCH"}, **FAST)
    send(patch, people(1), Operation.UPDATE)
    assert rx.requests[-1].method == "PATCH"


def test_json_values_are_safe() -> None:
    table = pa.table(
        {
            "at": pa.array([datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)], pa.timestamp("us", "UTC")),
            "day": pa.array([date(2024, 1, 2)]),
            "price": pa.array([Decimal("0.10")], pa.decimal128(5, 2)),
            "raw": pa.array([b"\x00\xff"]),
            "ratio": pa.array([float("nan")]),
            "took": pa.array([timedelta(seconds=90)], pa.duration("s")),
            "tags": pa.array([[("a", 1)]], pa.map_(pa.string(), pa.int64())),
            "gone": pa.array([None], pa.string()),
        }
    )
    [row] = records_of(table, skip_nulls=False)
    assert row == {
        "at": "2024-01-02T03:04:05+00:00",
        "day": "2024-01-02",
        "price": "0.10",
        "raw": base64.b64encode(b"\x00\xff").decode(),
        "ratio": "NaN",
        "took": "PT90S",
        "tags": {"a": 1},
        "gone": None,
    }
    assert "gone" not in records_of(table, skip_nulls=True)[0]


def test_results_convention() -> None:
    keys = ["a", "b", "c"]
    payload = {"data": {"items": [{"key": "c", "success": False, "message": "nope"}]}}
    assert item_errors(payload, "data.items", keys, "errors") == {2: ("nope", "rejected")}
    assert item_errors(payload, "data.items", keys, "all") == {
        0: ("the response has no result for this record", "no_result"),
        1: ("the response has no result for this record", "no_result"),
        2: ("nope", "rejected"),
    }
    positional = {"results": [{"status": "ok"}, {"status": 404}, {"error": {"message": "bad"}}]}
    assert item_errors(positional, "results", keys, "all") == {
        1: ("status 404", "not_found"),
        2: ("bad", "rejected"),
    }
    assert item_errors({"other": 1}, "results", keys, "all") == {}  # no list: status applies
