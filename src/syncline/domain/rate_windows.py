"""The rule of a rolling-window rate budget (a sliding-window log), shared by its backends.

Pure functions over a list of request times: the in-process backend
(``connectors._ratelimit.LocalWindows``) and the metadata store's (``store.rate_windows``)
apply the same decisions, so they cannot drift apart.

A slot is granted *held*: its stamp is put ``hold`` seconds in the future (the client's
request timeout), so it cannot age out while the request is in flight, whoever looks. The
client then hands in an :class:`Answer` with its next decision (one transaction per request
on a shared backend), which moves the stamp back to the moment the answer arrived. A vendor
counts a request somewhere between sending and answering, so ageing it out from the answer
is never early; ageing it out from the send would be early whenever the next request reaches
the vendor faster than the previous one did (see docs/destinations/hubspot.md).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Answer", "Grant", "Limit", "answer", "decide", "fill", "prune", "resettle"]


@dataclass(frozen=True)
class Limit:
    """``requests`` per rolling ``window`` seconds."""

    requests: int
    window: float


@dataclass(frozen=True)
class Grant:
    """The answer of ``take``: a slot (``stamp``, the backend's clock) or a ``wait`` in s."""

    stamp: float | None = None
    wait: float = 0.0

    @property
    def granted(self) -> bool:
        return self.stamp is not None


@dataclass(frozen=True)
class Answer:
    """What a client learnt from one request, reported with its next decision.

    ``age``: seconds from the answer's arrival to the moment the report was sent (measured
    on the client's monotonic clock), so the backend puts the stamp at ``its now - age``:
    never before the answer arrived, whatever the backend's clock, because its now is read
    after the age was measured. ``used``/``limit``: what the vendor's headers said.
    """

    stamp: float
    age: float = 0.0
    used: int | None = None
    limit: Limit | None = None


def prune(stamps: list[float], now: float, window: float) -> list[float]:
    """The stamps still inside the window ending at ``now`` (held ones too), oldest first."""
    return sorted(s for s in stamps if now - s < window)


def decide(
    stamps: list[float], now: float, limit: Limit, blocked_until: float, hold: float = 0.0
) -> tuple[list[float], Grant]:
    """The pure rule both backends apply: the log after the decision, and the decision.

    A granted stamp is ``now + hold`` (held while in flight). When the slot that frees first
    is still held by a request in flight, its answer will bring it forward: look again after
    the window's mean spacing instead of sleeping out the hold.
    """
    live = prune(stamps, now, limit.window)
    if blocked_until > now:
        return live, Grant(wait=blocked_until - now)
    if len(live) >= limit.requests:
        # The slot that frees first: when the (len - limit + 1)-th oldest stamp ages out.
        oldest = live[len(live) - limit.requests]
        wait = max(0.001, oldest + limit.window - now)
        if oldest > now:
            wait = min(wait, max(0.001, limit.window / limit.requests))
        return live, Grant(wait=wait)
    stamp = now + hold
    live.append(stamp)
    return sorted(live), Grant(stamp=stamp)


def fill(stamps: list[float], now: float, used: int) -> list[float]:
    """The log with phantom stamps at ``now`` so it holds at least ``used`` requests."""
    missing = used - len(stamps)
    return stamps + [now] * missing if missing > 0 else stamps


def resettle(stamps: list[float], stamp: float, now: float) -> list[float]:
    """The log with ``stamp`` moved to ``now`` (added if it already aged out)."""
    out = list(stamps)
    if stamp in out:
        out.remove(stamp)
    out.append(now)
    return sorted(out)


def answer(
    stamps: list[float], known: Limit | None, report: Answer, now: float
) -> tuple[list[float], Limit | None]:
    """The log and the learned limit after ``report``: its stamp moved to when its answer
    arrived, and at least the requests the vendor counted held in the window."""
    out = resettle(stamps, report.stamp, now - max(0.0, report.age))
    learned = report.limit or known
    if report.used is not None and learned is not None:
        out = fill(prune(out, now, learned.window), now, report.used)
    return out, learned
