"""HubSpot destination against the emulator: limits, rate limits, errors, conflicts.

The shared suite (``test_destination_conformance.py``) covers the modes; these tests cover
chunking to 100, the rate-limit headers and 429s, per-input errors (207 and whole-request
failures), create conflicts and what happens when an answer is lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pyarrow as pa
import pytest
from conformance_saas import HS_ID, HS_OBJECT, HS_PROPERTIES, hubspot_config

from syncline.connectors.base import (
    BatchResult,
    ChangeBatch,
    DestinationAuthError,
    DestinationError,
    Operation,
    RunInfo,
    SyncMode,
)
from syncline.connectors.destinations.hubspot.destination import HubSpotDestination
from syncline.connectors.registry import open_destination
from syncline.emulators.hubspot_emulator import CONTACT_PROPERTIES, HsProperty, HubSpotEmulator

BATCH = f"/crm/v3/objects/{HS_OBJECT}/batch/"


def emulator(**options: Any) -> HubSpotEmulator:
    contacts = [*CONTACT_PROPERTIES, HsProperty(HS_ID, unique=True)]
    return HubSpotEmulator({HS_OBJECT: HS_PROPERTIES, "contacts": contacts}, **options)


@pytest.fixture
def hs() -> Iterator[HubSpotEmulator]:
    with emulator() as running:
        yield running


def open_hs(hs: HubSpotEmulator, **extra: Any) -> HubSpotDestination:
    dest = open_destination("hubspot", hubspot_config(hs, **extra))
    assert isinstance(dest, HubSpotDestination)
    return dest


def begin(dest: HubSpotDestination, fields: list[str] | None = None) -> HubSpotDestination:
    dest.begin(RunInfo("s1", "r1", SyncMode.MIRROR, "id", fields or ["id", "email", "score"]))
    return dest


def people(ids: range | list[int]) -> pa.Table:
    ids = list(ids)
    return pa.table({"id": ids, "email": [f"p{i}@x.io" for i in ids], "score": ids})


def write(dest: HubSpotDestination, op: Operation, table: pa.Table, **kw: Any) -> BatchResult:
    keys = [str(k) for k in table.column("id").to_pylist()]
    return dest.write(ChangeBatch(op, table, keys, "id", **kw))


def stored(hs: HubSpotEmulator, object_type: str = HS_OBJECT) -> list[str]:
    return sorted(str(o["properties"][HS_ID]) for o in hs.objects(object_type))


def test_batches_are_sent_100_inputs_a_request(hs: HubSpotEmulator) -> None:
    dest = begin(open_hs(hs))
    assert write(dest, Operation.UPSERT, people(range(1, 251))).errors == []
    assert hs.chunk_sizes(BATCH + "upsert") == [100, 100, 50]
    assert stored(hs) == sorted(str(i) for i in range(1, 251))
    assert write(dest, Operation.DELETE, people(range(1, 251)).select(["id"])).errors == []
    assert hs.chunk_sizes(BATCH + "read") == [100, 100, 50]
    assert hs.chunk_sizes(BATCH + "archive") == [100, 100, 50]
    assert stored(hs) == [] and len(hs.archived(HS_OBJECT)) == 250


def test_each_request_is_reported_as_sent_before_the_batch_returns(hs: HubSpotEmulator) -> None:
    reported: list[int] = []
    dest = open_hs(hs)
    fields = ["id", "email", "score"]
    dest.begin(RunInfo("s1", "r1", SyncMode.UPSERT, "id", fields, on_sent=reported.append))
    assert write(dest, Operation.UPSERT, people(range(1, 251))).errors == []
    assert reported == [100, 100, 50]  # the engine's live "N of M sent", request by request


def test_the_emulator_refuses_more_than_100_inputs(hs: HubSpotEmulator) -> None:
    inputs = [{"idProperty": HS_ID, "id": str(i), "properties": {}} for i in range(101)]
    response = httpx.post(
        hs.url + BATCH + "upsert",
        json={"inputs": inputs},
        headers={"Authorization": f"Bearer {hs.token}"},
    )
    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert hs.objects(HS_OBJECT) == []


def test_a_429_with_retry_after_mid_run_is_waited_out(hs: HubSpotEmulator) -> None:
    dest = begin(open_hs(hs))
    hs.inject("rate_limit", after=1, match=BATCH, retry_after=1)
    started = time.monotonic()
    assert write(dest, Operation.UPSERT, people(range(1, 251))).errors == []
    assert time.monotonic() - started >= 1.0
    assert [c.status for c in hs.calls if BATCH in c.path] == [200, 429, 200, 200]
    assert len(hs.objects(HS_OBJECT)) == 250 and stored(hs) == sorted(str(i) for i in range(1, 251))


def test_a_429_without_retry_after_is_retried_without_a_whole_interval_wait() -> None:
    # The headers still show quota: the old client slept the whole 2 s interval anyway.
    with emulator(rate_interval_ms=2000) as hs:
        dest = begin(open_hs(hs))
        hs.inject("rate_limit", match=BATCH)
        started = time.monotonic()
        assert write(dest, Operation.UPSERT, people(range(1, 11))).errors == []
        assert time.monotonic() - started < 1.5
        assert [c.status for c in hs.calls if BATCH in c.path] == [429, 200]
        assert stored(hs) == sorted(str(i) for i in range(1, 11))


def test_a_full_rolling_window_waits_only_for_its_oldest_request() -> None:
    with emulator(rate_limit=3, rate_interval_ms=2000) as hs:
        dest = begin(open_hs(hs))  # request 1 at t0
        time.sleep(1.2)
        started = time.monotonic()
        # Requests 2 and 3 at t0 + 1.2 fill the window; request 4 goes when request 1 ages out
        # (t0 + 2.0), not a whole interval after the window filled (t0 + 3.2).
        assert write(dest, Operation.UPSERT, people(range(1, 301))).errors == []
        elapsed = time.monotonic() - started
        assert 0.6 < elapsed < 1.6, elapsed
        assert hs.rate_limited == 0 and len(stored(hs)) == 300


def test_the_rate_limit_headers_are_respected_before_a_429() -> None:
    with emulator(rate_limit=3, rate_interval_ms=300) as hs:
        dest = begin(open_hs(hs))  # 1 request (properties)
        started = time.monotonic()
        assert write(dest, Operation.UPSERT, people(range(1, 701))).errors == []  # 7 requests
        assert hs.rate_limited == 0  # paced by X-HubSpot-RateLimit-Remaining, never refused
        assert time.monotonic() - started >= 0.6
        assert len(stored(hs)) == 700


def test_the_daily_limit_stops_the_run(hs: HubSpotEmulator) -> None:
    dest = begin(open_hs(hs))
    hs.inject("daily_limit", match=BATCH)
    with pytest.raises(DestinationError, match="daily") as caught:
        write(dest, Operation.UPSERT, people([1]))
    assert not caught.value.retryable


def test_server_errors_then_success(hs: HubSpotEmulator) -> None:
    dest = begin(open_hs(hs))
    hs.inject("status", status=502, times=2, match=BATCH)
    assert write(dest, Operation.UPSERT, people([1, 2, 3])).errors == []
    assert stored(hs) == ["1", "2", "3"]


def test_a_passing_503_is_retried_after_a_short_pause_not_the_backoff(
    hs: HubSpotEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    dest = begin(open_hs(hs, retry_backoff_seconds=1.0))
    hs.inject("status", status=503, times=2, match=BATCH)
    with caplog.at_level(logging.WARNING, logger="syncline.retry"):
        assert write(dest, Operation.UPSERT, people([1, 2, 3])).errors == []
    waits = [
        r.getMessage().rsplit(" ", 1)[-1]
        for r in caplog.records
        if "next attempt" in r.getMessage()
    ]
    assert waits == ["0.1s", "2.0s"]  # a storm still backs off as before
    assert [c.status for c in hs.calls if BATCH in c.path] == [503, 503, 200]
    assert stored(hs) == ["1", "2", "3"]


def test_persistent_server_errors_hand_over_to_the_engine(hs: HubSpotEmulator) -> None:
    dest = begin(open_hs(hs, max_retries=2))
    hs.inject("status", status=503, times=5, match=BATCH)
    with pytest.raises(DestinationError) as caught:
        write(dest, Operation.UPSERT, people([1]))
    assert caught.value.retryable


@pytest.mark.parametrize("multi_status", [True, False], ids=["207", "whole-request"])
def test_validation_errors_reject_exactly_those_records(multi_status: bool) -> None:
    with emulator(multi_status=multi_status) as hs:
        hs.reject("contacts", HS_ID, ["7"], "Contacts from that source are blocked")
        dest = open_hs(hs, object_type="contacts", id_property=HS_ID)
        dest.begin(RunInfo("s1", "r1", SyncMode.UPSERT, "id", ["id", "email", "lifecyclestage"]))
        table = pa.table(
            {
                "id": [1, 2, 3, 4, 7],
                "email": ["ada@x.io", "not-an-email", "marie@x.io", "x@x.io", "emmy@x.io"],
                "lifecyclestage": ["lead", "lead", "customer", "astronaut", "lead"],
            }
        )
        result = write(dest, Operation.UPSERT, table)
        messages = {e.index: e.message for e in result.errors}
        assert sorted(messages) == [1, 3, 4]
        assert (
            "INVALID_EMAIL" in messages[1]
            and "Email address not-an-email is invalid" in messages[1]
        )
        assert messages[1].startswith("VALIDATION_ERROR: Property values were not valid")
        assert "INVALID_OPTION" in messages[3]
        assert "Contacts from that source are blocked" in messages[4]
        assert stored(hs, "contacts") == ["1", "3"]


def test_insert_acknowledges_present_keys_and_rejects_other_conflicts(hs: HubSpotEmulator) -> None:
    hs.seed("contacts", [{HS_ID: "1", "email": "ada@x.io"}, {HS_ID: "2", "email": "bob@x.io"}])
    dest = open_hs(hs, object_type="contacts", id_property=HS_ID)
    dest.begin(RunInfo("s1", "r1", SyncMode.INSERT, "id", ["id", "email"]))
    table = pa.table({"id": [1, 3, 4], "email": ["CHANGED@x.io", "bob@x.io", "new@x.io"]})
    result = write(dest, Operation.INSERT, table)
    [error] = result.errors  # 3 collides with contact 2 on email: it is not present
    assert error.index == 1 and "Contact already exists. Existing ID" in error.message
    assert hs.by_property("contacts", HS_ID)["1"]["email"] == "ada@x.io"  # untouched
    assert stored(hs, "contacts") == ["1", "2", "4"]


def test_insert_after_a_lost_answer_is_acknowledged_once(hs: HubSpotEmulator) -> None:
    dest = begin(open_hs(hs, timeout_seconds=0.3))
    hs.inject("slow", delay=1.0, match=BATCH + "create")
    assert write(dest, Operation.INSERT, people([1, 2, 3])).errors == []
    assert stored(hs) == ["1", "2", "3"]
    assert [c.path.rsplit("/", 1)[1] for c in hs.calls if BATCH in c.path] == [
        "create",  # applied, answer lost
        "create",  # resent: every input conflicts on its own key
        "read",  # ... which exists: acknowledged
    ]


def test_updates_of_unknown_ids_are_not_found_even_when_dropped_silently() -> None:
    with emulator(missing_on_update="silent") as hs:
        dest = begin(open_hs(hs))
        write(dest, Operation.UPSERT, people([1, 2]))
        result = write(dest, Operation.UPDATE, people([1, 5, 2]))
        assert [(e.index, e.error_class) for e in result.errors] == [(1, "not_found")]
        assert stored(hs) == ["1", "2"]


def test_values_are_sent_as_hubspot_strings(hs: HubSpotEmulator) -> None:
    table = pa.table(
        {
            "id": [1],
            "price": pa.array([Decimal("1234567890.12")], pa.decimal128(12, 2)),
            "ratio": [0.1],
            "name": [""],
            "active": [True],
            "born": pa.array([date(1999, 12, 31)]),
            "seen_at": pa.array([datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC)]),
            "attrs": pa.array([{"plan": "pro", "seats": 3}]),
        }
    )
    dest = begin(open_hs(hs), table.column_names)
    assert write(dest, Operation.UPSERT, table).errors == []
    [obj] = hs.objects(HS_OBJECT)
    props = obj["properties"]
    assert props["price"] == "1234567890.12" and props["ratio"] == "0.1"
    assert "name" not in props  # an empty string clears a HubSpot property
    assert props["active"] == "true" and props["born"] == "1999-12-31"
    assert props["seen_at"] == "2024-02-29T23:59:59.123Z"
    assert props["attrs"] == '{"plan": "pro", "seats": 3}'


def test_objects_come_from_the_properties_api(hs: HubSpotEmulator) -> None:
    [obj] = open_hs(hs).objects()
    fields = {f.name: f for f in obj.fields}
    assert obj.name == HS_OBJECT and fields[HS_ID].is_key and not fields["email"].is_key
    assert fields["score"].type == "number" and fields["seen_at"].type == "datetime"


def test_begin_checks_the_mapping(hs: HubSpotEmulator) -> None:
    with pytest.raises(DestinationError, match="no properties nickname"):
        begin(open_hs(hs), ["id", "nickname"])
    with pytest.raises(DestinationError, match="read-only"):
        begin(open_hs(hs), ["id", "hs_object_id"])
    dest = open_hs(hs, id_property="email")
    assert "does not have unique values" in dest.check().message
    with pytest.raises(DestinationError, match="unique"):
        begin(dest)


def test_auth_failures(hs: HubSpotEmulator) -> None:
    dest = open_hs(hs, access_token="pat-na1-wrong")
    check = dest.check()
    assert not check.ok and "INVALID_AUTHENTICATION" in check.message
    with pytest.raises(DestinationAuthError):
        begin(dest)


def test_contacts_keyed_by_email(hs: HubSpotEmulator) -> None:
    dest = open_hs(hs, object_type="contacts", id_property="email")
    assert dest.check().ok  # email needs no hasUniqueValue: HubSpot keeps it unique
    dest.begin(RunInfo("s1", "r1", SyncMode.MIRROR, "email", ["email", "firstname"]))
    table = pa.table({"email": ["Ada@X.io", "bob@x.io"], "firstname": ["Ada", "Bob"]})
    keys = table.column("email").to_pylist()
    assert dest.write(ChangeBatch(Operation.UPSERT, table, keys, "email")).errors == []
    assert dest.write(ChangeBatch(Operation.UPSERT, table, keys, "email")).errors == []
    assert sorted(hs.by_property("contacts", "email")) == ["ada@x.io", "bob@x.io"]
    gone = table.select(["email"]).slice(0, 1)  # HubSpot stores e-mails lower-cased
    assert dest.write(ChangeBatch(Operation.DELETE, gone, ["Ada@X.io"], "email")).errors == []
    assert sorted(hs.by_property("contacts", "email")) == ["bob@x.io"]


def test_check_reports_an_unreachable_api_at_once(hs: HubSpotEmulator) -> None:
    started = time.monotonic()
    check = open_hs(hs, base_url="http://127.0.0.1:9").check()
    assert not check.ok and "failed" in check.message
    assert time.monotonic() - started < 2
