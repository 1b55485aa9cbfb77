"""Rate limits at the API edge, counted in memory with the ``limits`` library.

Three windows (settings, ``limits`` notation such as ``"1200/minute"``):

* every request that presents credentials, per client IP (``rate_limit_per_ip``);
* every authenticated request, per token (``rate_limit_per_token``);
* failed authentications — bad API tokens and failed dashboard logins — per client IP
  (``rate_limit_auth_failures``). Once exceeded, that IP is refused *before* its token is
  checked, so guessing cannot continue until the window frees up.

Answers are 429 with ``Retry-After`` (seconds). The counters live in the process: several API
processes each count separately (docs/security.md).
"""

from __future__ import annotations

import math
import threading
import time

from fastapi import HTTPException, Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from syncline.settings import Settings


class _TrimmedMemoryStorage(MemoryStorage):
    """``limits``' memory storage, trimming expired entries once a second.

    The stock storage starts a new 10 ms ``threading.Timer`` whenever the previous one has
    finished, so at API rates nearly every request started a thread, on the event loop: a
    quarter of its time. The moving window checks each entry's timestamp itself; the timer
    only frees expired entries, which can wait a second.
    """

    TRIM_EVERY = 1.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the name-mangled private
        if not self.timer.is_alive():
            expire = self._MemoryStorage__expire_events  # type: ignore[attr-defined]
            self.timer = threading.Timer(self.TRIM_EVERY, expire)
            self.timer.daemon = True
            self.timer.start()


class RateLimits:
    """The limiter of one app, built from its settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.enabled = settings.rate_limit_enabled
        self._limiter = MovingWindowRateLimiter(_TrimmedMemoryStorage())
        self._ip = parse(settings.rate_limit_per_ip)
        self._token = parse(settings.rate_limit_per_token)
        self._failures = parse(settings.rate_limit_auth_failures)

    def _refuse(self, item: RateLimitItem, *keys: str, what: str) -> HTTPException:
        reset, _ = self._limiter.get_window_stats(item, *keys)
        retry = max(1, math.ceil(reset - time.time()))
        return HTTPException(
            status_code=429,
            detail=f"Too many {what}; retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )

    def hit_ip(self, ip: str) -> None:
        """Count one request from ``ip``; 429 past ``rate_limit_per_ip``."""
        if self.enabled and not self._limiter.hit(self._ip, "ip", ip):
            raise self._refuse(self._ip, "ip", ip, what="requests from this address")

    def hit_token(self, token_id: str) -> None:
        """Count one request of a token; 429 past ``rate_limit_per_token``."""
        if self.enabled and not self._limiter.hit(self._token, "token", token_id):
            raise self._refuse(self._token, "token", token_id, what="requests for this token")

    def check_failures(self, ip: str) -> None:
        """429 when ``ip`` has used up its failed authentications, without counting one."""
        if self.enabled and not self._limiter.test(self._failures, "fail", ip):
            raise self._refuse(self._failures, "fail", ip, what="failed authentications")

    def fail(self, ip: str) -> None:
        """Count one failed authentication from ``ip``."""
        if self.enabled:
            self._limiter.hit(self._failures, "fail", ip)


def rate_limits(request: Request) -> RateLimits:
    """The app's limiter, (re)built when the app's settings object changes."""
    state = request.app.state
    settings: Settings = state.ctx.settings
    current: RateLimits | None = getattr(state, "rate_limits", None)
    if current is None or current.settings is not settings:
        current = RateLimits(settings)
        state.rate_limits = current
    return current


def client_ip(request: Request) -> str:
    """The peer address (behind a proxy, run uvicorn with ``--proxy-headers``)."""
    return request.client.host if request.client is not None else "unknown"
