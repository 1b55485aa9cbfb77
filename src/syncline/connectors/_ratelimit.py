"""One rolling-window rate budget per destination account, shared by every sync that writes it.

A SaaS vendor counts requests per account (HubSpot: per private app token) in a rolling window
(``X-HubSpot-RateLimit-Max`` requests per ``-Interval-Milliseconds``). Two syncs to the same
account, in one process or in several workers, must together stay under that limit, and a
full window frees a slot as soon as its oldest request ages out, not a whole interval later.

The budget is a sliding-window log: the times of the requests of the last window, per key.
``take`` grants a slot when fewer than ``limit`` requests are in the window (and no
``Retry-After`` block is in force), else says how long until the oldest one ages out. A
granted stamp is *held* (``hold`` seconds ahead, the request's timeout) so no one can reuse
the slot while the request is in flight; the client's next ``take`` carries the request's
:class:`Answer`, which moves the stamp to the moment the answer arrived (the vendor counted
the request somewhere between sending and answering, so ageing it out from the answer is
never early) and syncs the log with what the vendor reports it counted (requests made by
clients that do not share this budget): one backend transaction per request. ``block``
honours Retry-After; ``answered`` reports a last answer when no request follows (``close``).

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

from syncline.domain.rate_windows import (
    Answer,
    Grant,
    Limit,
    answer,
    decide,
    fill,
    prune,
    resettle,
)

__all__ = [
    "AccountLimiter",
    "Answer",
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

    def take(
        self, key: str, default: Limit, report: Answer | None = None, hold: float = 0.0
    ) -> Grant:
        """Apply ``report`` (the client's previous answer), then a slot held ``hold`` s, or
        how long until one frees (the learned limit wins over ``default``); one transaction."""
        ...

    def settle(self, key: str, stamp: float) -> None:
        """Move a granted stamp to now (the answer arrived)."""
        ...

    def observe(self, key: str, used: int | None, limit: Limit | None) -> None:
        """The vendor counted ``used`` requests in the window and enforces ``limit``."""
        ...

    def answered(
        self, key: str, stamp: float, used: int | None, limit: Limit | None, age: float = 0.0
    ) -> None:
        """``settle`` (to ``age`` s ago) and ``observe`` at once (one round trip)."""
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

    def take(
        self, key: str, default: Limit, report: Answer | None = None, hold: float = 0.0
    ) -> Grant:
        with self._lock:
            w, now = self._get(key), self._clock()
            if report is not None:
                w.stamps, w.limit = answer(w.stamps, w.limit, report, now)
            w.stamps, grant = decide(w.stamps, now, w.limit or default, w.blocked_until, hold)
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

    def answered(
        self, key: str, stamp: float, used: int | None, limit: Limit | None, age: float = 0.0
    ) -> None:
        with self._lock:
            w, now = self._get(key), self._clock()
            w.stamps, w.limit = answer(w.stamps, w.limit, Answer(stamp, age, used, limit), now)

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

    One request at a time: ``acquire`` hands the backend the previous request's answer with
    the next decision (one transaction per request); ``flush`` reports the last one.
    ``wait`` sleeps; a run hands in ``RunInfo.wait`` so a cancel interrupts the wait at once.
    ``hold``: how long a granted slot stays taken if its answer is never reported (the
    request's timeout: a worker that dies mid-request frees its slot after it).
    """

    def __init__(
        self,
        key: str,
        default: Limit,
        *,
        backend: RateWindows | None = None,
        wait: Callable[[float], None] = time.sleep,
        max_wait: float = 60.0,
        hold: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self.default = default
        self.backend = backend or windows()
        self.wait = wait
        self.max_wait = max_wait
        self.hold = hold
        self.clock = clock
        self.waited_seconds = 0.0
        self._lock = threading.Lock()
        # The last answer not yet reported: (stamp, answered at on ``clock``, used, limit).
        self._pending: tuple[float, float, int | None, Limit | None] | None = None

    def _report(self) -> Answer | None:
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return None
        stamp, at, used, limit = pending
        return Answer(stamp, max(0.0, self.clock() - at), used, limit)

    def acquire(self) -> float:
        """Block until the account has a free slot; returns the slot's stamp for ``answered``."""
        while True:
            grant = self.backend.take(self.key, self.default, self._report(), self.hold)
            if grant.stamp is not None:
                return grant.stamp
            pause = min(grant.wait, self.max_wait)
            self.waited_seconds += pause
            self.wait(pause)

    def answered(
        self, stamp: float, used: int | None, limit: Limit | None, at: float | None = None
    ) -> None:
        """The answer to ``stamp``'s request arrived ``at`` (now by default); it is reported
        with the next ``acquire`` (or ``flush``). A request with no answer (timed out, lost
        connection) is reported the same way: it may have been counted all the same."""
        self.flush()  # two answers without a take between them: report the first now
        with self._lock:
            self._pending = (stamp, self.clock() if at is None else at, used, limit)

    def flush(self) -> None:
        """Report the last answer now (the client is done with the account for a while)."""
        report = self._report()
        if report is not None:
            self.backend.answered(self.key, report.stamp, report.used, report.limit, report.age)

    def settle(self, stamp: float) -> None:
        self.answered(stamp, None, None)

    def observe(self, used: int | None, limit: Limit | None) -> None:
        self.backend.observe(self.key, used, limit)

    def block(self, seconds: float) -> None:
        self.backend.block(self.key, seconds)
