"""The API's in-memory rate limiter does not start a thread per request."""

from __future__ import annotations

import threading

import pytest

from syncline.api.ratelimit import RateLimits
from syncline.settings import Settings


def test_counting_requests_does_not_start_a_thread_each(monkeypatch: pytest.MonkeyPatch) -> None:
    # limits' MemoryStorage started a 10 ms expiry Timer whenever the last had finished: at
    # API rates one thread start per request or two, a quarter of the event loop's time.
    limits = RateLimits(Settings(rate_limit_per_ip="100000/minute"))
    started: list[threading.Timer] = []
    real_start = threading.Timer.start

    def start(self: threading.Timer) -> None:
        started.append(self)
        real_start(self)

    monkeypatch.setattr(threading.Timer, "start", start)
    for i in range(30):
        limits.hit_ip("10.0.0.1")
        if i % 10 == 0:
            threading.Event().wait(0.02)  # let a 10 ms timer finish
    assert len(started) <= 1


def test_the_moving_window_still_refuses_past_the_limit() -> None:
    limits = RateLimits(Settings(rate_limit_per_ip="3/minute"))
    for _ in range(3):
        limits.hit_ip("10.0.0.2")
    with pytest.raises(Exception) as refused:
        limits.hit_ip("10.0.0.2")
    assert getattr(refused.value, "status_code", None) == 429
    limits.hit_ip("10.0.0.3")  # another address has its own window
