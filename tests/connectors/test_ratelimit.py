"""The rolling-window rate budget: slots free as the oldest request ages out, not a whole
interval later; the vendor's counts and Retry-After are honoured; waits end on a stop."""

from __future__ import annotations

import threading
import time

import pytest

from syncline.connectors._ratelimit import AccountLimiter, LocalWindows, account_key
from syncline.connectors.base import Interrupted, RunInfo, SyncMode
from syncline.domain.rate_windows import Limit


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
