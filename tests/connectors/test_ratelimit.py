"""The rolling-window rate budget: slots free as the oldest request ages out, not a whole
interval later; the vendor's counts and Retry-After are honoured; waits end on a stop."""

from __future__ import annotations

import threading
import time

import pytest

from syncline.connectors._ratelimit import AccountLimiter, LocalWindows, account_key
from syncline.connectors.base import Interrupted, RunInfo, SyncMode
from syncline.domain.rate_windows import Answer, Grant, Limit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_full_window_frees_a_slot_when_its_oldest_request_ages_out() -> None:
    clock, limit = Clock(), Limit(3, 10.0)
    windows = LocalWindows(clock)
    for step in (0.0, 1.0, 2.0):
        clock.now = 100.0 + step
        assert windows.take("k", limit).granted
    clock.now = 105.0
    refused = windows.take("k", limit)
    assert not refused.granted and refused.wait == pytest.approx(5.0)  # not 10 s from now
    clock.now = 110.0  # the request of t=100 aged out; t=101 and t=102 still count
    assert windows.take("k", limit).granted
    refused = windows.take("k", limit)
    assert refused.wait == pytest.approx(1.0)  # t=101 ages out at 111
    assert windows.take("other", limit).granted  # another account has its own budget


def test_settle_ages_a_request_from_its_answer() -> None:
    clock, limit = Clock(), Limit(1, 10.0)
    windows = LocalWindows(clock)
    grant = windows.take("k", limit)
    assert grant.stamp is not None
    clock.now = 102.0  # the answer came 2 s later: the vendor may have counted it then
    windows.settle("k", grant.stamp)
    clock.now = 110.5
    assert windows.take("k", limit).wait == pytest.approx(1.5)


def test_the_vendors_headers_set_the_limit_and_add_what_others_spent() -> None:
    clock = Clock()
    windows = LocalWindows(clock)
    windows.observe("k", used=None, limit=Limit(2, 1.0))  # X-HubSpot-RateLimit-Max/-Interval
    default = Limit(100, 10.0)
    assert windows.take("k", default).granted
    assert windows.take("k", default).granted
    assert not windows.take("k", default).granted  # the learned limit wins over the default
    windows.observe("j", used=5, limit=Limit(5, 1.0))  # another client spent the window
    assert windows.take("j", default).wait == pytest.approx(1.0)


def test_retry_after_blocks_the_account_for_exactly_that_long() -> None:
    clock = Clock()
    windows = LocalWindows(clock)
    windows.block("k", 2.5)
    assert windows.take("k", Limit(100, 10.0)).wait == pytest.approx(2.5)
    clock.now += 2.5
    assert windows.take("k", Limit(100, 10.0)).granted


def test_a_stop_interrupts_the_wait_for_a_slot_at_once() -> None:
    windows = LocalWindows()
    run = RunInfo("s", "r", SyncMode.UPSERT, "id", ["id"])
    limiter = AccountLimiter("k", Limit(1, 30.0), backend=windows, wait=run.wait)
    limiter.acquire()
    threading.Timer(0.2, run.stop.set).start()
    started = time.monotonic()
    with pytest.raises(Interrupted):
        limiter.acquire()  # would wait 30 s
    assert time.monotonic() - started < 2.0


def test_account_keys_name_the_account_without_the_token() -> None:
    key = account_key("hubspot", "https://api.hubapi.com/", "pat-na1-secret")
    assert key == account_key("hubspot", "https://api.hubapi.com", "pat-na1-secret")
    assert "secret" not in key and key != account_key("hubspot", "https://x", "pat-na1-secret")


def test_a_slot_stays_taken_while_its_request_is_in_flight() -> None:
    clock, limit = Clock(), Limit(1, 10.0)
    windows = LocalWindows(clock)
    grant = windows.take("k", limit, hold=5.0)  # the request's timeout
    assert grant.stamp == pytest.approx(105.0)
    clock.now = 101.0
    # Held by a request in flight: look again after the window's mean spacing, not 14 s.
    assert windows.take("k", limit).wait == pytest.approx(10.0)
    clock.now = 112.0  # 10 s after it was granted, but its answer was never reported
    assert not windows.take("k", limit).granted
    clock.now = 115.0  # a client that died mid-request frees the slot after the hold
    assert windows.take("k", limit).granted


class CountingWindows(LocalWindows):
    """Counts the backend's transactions (each method call is one on PostgreSQL)."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.calls: list[str] = []

    def take(
        self, key: str, default: Limit, report: Answer | None = None, hold: float = 0.0
    ) -> Grant:
        self.calls.append("take")
        return super().take(key, default, report, hold)

    def answered(
        self, key: str, stamp: float, used: int | None, limit: Limit | None, age: float = 0.0
    ) -> None:
        self.calls.append("answered")
        super().answered(key, stamp, used, limit, age)


def test_the_answer_is_reported_with_the_next_decision_one_transaction_a_request() -> None:
    clock = Clock()
    windows = CountingWindows(clock)
    limiter = AccountLimiter("k", Limit(2, 10.0), backend=windows, hold=30.0, clock=clock)
    first = limiter.acquire()  # t=100, held until 130 while in flight
    clock.now = 100.2
    limiter.answered(first, used=None, limit=None)  # the answer arrived at 100.2
    clock.now = 100.5  # the next request's decision, 0.3 s later, carries that answer
    second = limiter.acquire()
    assert windows.calls == ["take", "take"]  # not take, answered, take
    clock.now = 110.1
    # The first request ages out from its answer (100.2): not from its grant (100.0), which
    # could be before HubSpot counted it, nor from when the answer was reported (100.5).
    assert windows.take("k", Limit(2, 10.0)).wait == pytest.approx(0.1)
    limiter.answered(second, used=None, limit=None)
    limiter.flush()  # the last request's answer, when no request follows (the client closes)
    assert windows.calls[-1] == "answered"


def test_the_answer_moves_the_stamp_to_its_arrival_whatever_the_backend_clock() -> None:
    clock = Clock()
    windows = LocalWindows(clock)
    stamp = windows.take("k", Limit(1, 10.0), hold=30.0).stamp
    assert stamp is not None
    clock.now = 103.0  # reported 1 s after the answer arrived
    refused = windows.take("k", Limit(1, 10.0), Answer(stamp, age=1.0, used=1, limit=None))
    assert refused.wait == pytest.approx(9.0)  # ages out at 102 + 10
