"""One rolling-window rate budget per destination account, shared by every sync that writes it.

A SaaS vendor counts requests per account (HubSpot: per private app token) in a rolling window
(``X-HubSpot-RateLimit-Max`` requests per ``-Interval-Milliseconds``). Two syncs to the same
account, in one process or in several workers, must together stay under that limit, and a
full window frees a slot as soon as its oldest request ages out, not a whole interval later.

The budget is a sliding-window log: the times of the requests of the last window, per key.
``take`` grants a slot when fewer than ``limit`` requests are in the window (and no
``Retry-After`` block is in force), else says how long until the oldest one ages out. A
granted stamp is moved to the moment the answer arrived (``settle``): the vendor counted the
request somewhere between sending and answering, so ageing it out from the answer is never
early. ``observe`` syncs the log with what the vendor reports it counted (requests made by
clients that do not share this budget) and learns the limit; ``block`` honours Retry-After.

Backends: :class:`LocalWindows` (in-process, threads) is the default; the composition root
installs the metadata store's (a row per key locked with ``SELECT ... FOR UPDATE`` on
PostgreSQL) with :func:`configure`, so workers in different processes share one budget.
Connectors cannot import the store: they only see the :class:`RateWindows` protocol.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from syncline.domain.rate_windows import Grant, Limit, decide, fill, prune, resettle

__all__ = [
    "AccountLimiter",
    "Grant",
    "Limit",
    "LocalWindows",
    "RateWindows",
    "account_key",
    "configure",
    "windows",
]


class RateWindows(Protocol):
    """Per-key sliding-window logs; every method is atomic per key across its users."""

    def take(self, key: str, default: Limit) -> Grant:
        """A slot now, or how long until one frees (the learned limit wins over ``default``)."""
        ...

    def settle(self, key: str, stamp: float) -> None:
        """Move a granted stamp to now (the answer arrived)."""
        ...

    def observe(self, key: str, used: int | None, limit: Limit | None) -> None:
        """The vendor counted ``used`` requests in the window and enforces ``limit``."""
        ...

    def answered(self, key: str, stamp: float, used: int | None, limit: Limit | None) -> None:
        """``settle`` and ``observe`` at once (one round trip for a shared backend)."""
        ...

    def block(self, key: str, seconds: float) -> None:
        """No request for ``seconds`` from now (``Retry-After``)."""
        ...


@dataclass
class _Window:
    stamps: list[float] = field(default_factory=list)
    limit: Limit | None = None
    blocked_until: float = 0.0


class LocalWindows:
    """The in-process backend: one log per key, guarded by a lock (threads of one worker)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}

    def _get(self, key: str) -> _Window:
        return self._windows.setdefault(key, _Window())

    def take(self, key: str, default: Limit) -> Grant:
        with self._lock:
            w, now = self._get(key), self._clock()
            w.stamps, grant = decide(w.stamps, now, w.limit or default, w.blocked_until)
            return grant

    def settle(self, key: str, stamp: float) -> None:
        with self._lock:
            w = self._get(key)
            w.stamps = resettle(w.stamps, stamp, self._clock())

    def observe(self, key: str, used: int | None, limit: Limit | None) -> None:
        with self._lock:
            w, now = self._get(key), self._clock()
            if limit is not None:
                w.limit = limit
            if used is not None:
                window = (w.limit or limit or Limit(1, 0.0)).window
                w.stamps = fill(prune(w.stamps, now, window), now, used)

    def answered(self, key: str, stamp: float, used: int | None, limit: Limit | None) -> None:
        self.settle(key, stamp)
        self.observe(key, used, limit)

    def block(self, key: str, seconds: float) -> None:
        with self._lock:
            w = self._get(key)
            w.blocked_until = max(w.blocked_until, self._clock() + seconds)


_lock = threading.Lock()
_backend: list[RateWindows] = [LocalWindows()]


def configure(backend: RateWindows) -> None:
    """Install the process's backend (the composition root; PostgreSQL-backed for workers);
    the one it replaces gives back what it holds (a database connection)."""
    with _lock:
        old, _backend[0] = _backend[0], backend
    close = getattr(old, "close", None)
    if old is not backend and callable(close):
        close()


def windows() -> RateWindows:
    """The process's backend."""
    with _lock:
        return _backend[0]


def account_key(vendor: str, base_url: str, credential: str) -> str:
    """A stable key for one destination account that does not reveal the credential."""
    digest = hashlib.sha256(f"{base_url.rstrip('/')}\0{credential}".encode()).hexdigest()
    return f"{vendor}:{digest[:32]}"


class AccountLimiter:
    """One client's view of its account's budget: waits for a slot, reports what it learns.

    ``wait`` sleeps; a run hands in ``RunInfo.wait`` so a cancel interrupts the wait at once.
    """

    def __init__(
        self,
        key: str,
        default: Limit,
        *,
        backend: RateWindows | None = None,
        wait: Callable[[float], None] = time.sleep,
        max_wait: float = 60.0,
    ) -> None:
        self.key = key
        self.default = default
        self.backend = backend or windows()
        self.wait = wait
        self.max_wait = max_wait
        self.waited_seconds = 0.0

    def acquire(self) -> float:
        """Block until the account has a free slot; returns the slot's stamp for ``settle``."""
        while True:
            grant = self.backend.take(self.key, self.default)
            if grant.stamp is not None:
                return grant.stamp
            pause = min(grant.wait, self.max_wait)
            self.waited_seconds += pause
            self.wait(pause)

    def settle(self, stamp: float) -> None:
        self.backend.settle(self.key, stamp)

    def observe(self, used: int | None, limit: Limit | None) -> None:
        self.backend.observe(self.key, used, limit)

    def answered(self, stamp: float, used: int | None, limit: Limit | None) -> None:
        self.backend.answered(self.key, stamp, used, limit)

    def block(self, seconds: float) -> None:
        self.backend.block(self.key, seconds)
