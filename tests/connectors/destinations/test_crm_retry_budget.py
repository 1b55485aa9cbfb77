"""HubSpot and Salesforce on the run's one retry budget (issue 12): a 503 storm fails within
the budget with every retry logged (reason and next wait), a cancel during a retry wait
stops within 2 s, and what retrying cannot fix fails on the first attempt. Real HTTP against
the vendor emulators."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from conformance_saas import (
    HS_OBJECT,
    HS_PROPERTIES,
    SF_FIELDS,
    SF_OBJECT,
    hubspot_config,
    salesforce_config,
)

from syncline.connectors._budget import RetryBudget
from syncline.connectors.base import (
    ChangeBatch,
    Destination,
    DestinationAuthError,
    DestinationError,
    Interrupted,
    Operation,
    RunInfo,
    SyncMode,
)
from syncline.connectors.registry import open_destination
from syncline.emulators.hubspot_emulator import HubSpotEmulator
from syncline.emulators.salesforce_emulator import CONTACT_FIELDS, SalesforceEmulator

FIELDS = ["id", "email", "score"]


@pytest.fixture(params=["hubspot", "salesforce"])
def crm(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any]]:
    if request.param == "hubspot":
        with HubSpotEmulator({HS_OBJECT: HS_PROPERTIES}) as hs:
            yield "hubspot", hs
    else:
        with SalesforceEmulator({SF_OBJECT: SF_FIELDS, "Contact": CONTACT_FIELDS}) as sf:
            yield "salesforce", sf


def _open(kind: str, emu: Any, **extra: Any) -> Destination:
    config = hubspot_config(emu, **extra) if kind == "hubspot" else salesforce_config(emu, **extra)
    return open_destination(kind, config)


def _run(budget_seconds: float = 45.0) -> RunInfo:
    return RunInfo(
        "s1",
        "r1",
        SyncMode.UPSERT,
        "id",
        FIELDS,
        budget=RetryBudget(batch_seconds=budget_seconds, run_seconds=budget_seconds),
    )


def _batch(ids: list[int]) -> ChangeBatch:
    table = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "email": [f"p{i}@x.io" for i in ids],
            "score": pa.array([float(i) for i in ids]),
        }
    )
    return ChangeBatch(Operation.UPSERT, table, [str(i) for i in ids], "id")


def _storm(kind: str, emu: Any) -> None:
    """Every write request answers 503 from now on."""
    match = "/crm/v3/objects/" if kind == "hubspot" else "/composite/sobjects"
    emu.inject("status", status=503, times=10_000, match=match)


def _writes(kind: str, emu: Any) -> int:
    match = "/crm/v3/objects/" if kind == "hubspot" else "/composite/sobjects"
    return sum(1 for c in emu.calls if match in c.path)


def test_a_503_storm_fails_within_the_run_budget_with_every_retry_logged(
    crm: tuple[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    kind, emu = crm
    # Left alone, 8 attempts with waits of 1, 2, 4, ... seconds would take two minutes.
    dest = _open(kind, emu, max_retries=8, retry_backoff_seconds=1.0)
    dest.begin(_run(budget_seconds=2.5))
    _storm(kind, emu)
    started = time.monotonic()
    with (
        caplog.at_level(logging.WARNING, logger="syncline.retry"),
        pytest.raises(DestinationError) as caught,
    ):
        dest.write(_batch([1, 2, 3]))
    took = time.monotonic() - started
    dest.close()
    assert took < 5, f"took {took:.1f}s"
    assert not caught.value.retryable  # the budget is spent: the engine must not go again
    assert "retry budget" in str(caught.value) and "503" in str(caught.value)
    retries = [r.getMessage() for r in caplog.records if "next attempt in" in r.getMessage()]
    assert retries and all("503" in m for m in retries), retries
    # HubSpot retries an answered 5xx after 0.1 s first, then backs off as Salesforce does.
    first = "0.1s" if kind == "hubspot" else "1.0s"
    assert f"next attempt in {first}" in retries[0]
    assert _writes(kind, emu) == len(retries) + 1


def test_a_cancel_during_a_retry_wait_stops_within_two_seconds(crm: tuple[str, Any]) -> None:
    kind, emu = crm
    dest = _open(kind, emu, max_retries=8, retry_backoff_seconds=5.0)
    run = _run()
    dest.begin(run)
    _storm(kind, emu)
    threading.Timer(0.5, run.stop.set).start()
    started = time.monotonic()
    with pytest.raises(Interrupted):
        dest.write(_batch([1, 2, 3]))
    took = time.monotonic() - started
    dest.close()
    assert took < 2, f"took {took:.2f}s"
    # HubSpot's first retry of a 5xx comes after 0.1 s; the 5 s backoff after it is cut short.
    assert _writes(kind, emu) == (2 if kind == "hubspot" else 1)


def test_a_refused_token_fails_on_the_first_attempt(crm: tuple[str, Any]) -> None:
    kind, emu = crm
    extra: dict[str, Any] = (
        {"access_token": "wrong"}
        if kind == "hubspot"
        else {"auth": {"client_id": emu.client_id, "client_secret": "wrong"}}
    )
    dest = _open(kind, emu, max_retries=8, retry_backoff_seconds=1.0, **extra)
    started = time.monotonic()
    with pytest.raises(DestinationAuthError):
        dest.begin(_run())
    dest.close()
    assert time.monotonic() - started < 1  # one retry would have waited 1 s


def test_an_unknown_object_fails_on_the_first_attempt(crm: tuple[str, Any]) -> None:
    kind, emu = crm
    extra = {"object_type": "nope"} if kind == "hubspot" else {"object": "Nope__c"}
    dest = _open(kind, emu, max_retries=8, retry_backoff_seconds=1.0, **extra)
    started = time.monotonic()
    with pytest.raises(DestinationError) as caught:
        dest.begin(_run())
    dest.close()
    assert not caught.value.retryable
    assert time.monotonic() - started < 1
