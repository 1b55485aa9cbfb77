"""The rule of a rolling-window rate budget (a sliding-window log), shared by its backends.

Pure functions over a list of request times: the in-process backend
(``connectors._ratelimit.LocalWindows``) and the metadata store's (``store.rate_windows``)
apply the same decisions, so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Grant", "Limit", "decide", "fill", "prune", "resettle"]


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


def prune(stamps: list[float], now: float, window: float) -> list[float]:
    """The stamps still inside the window ending at ``now``, oldest first."""
    return sorted(s for s in stamps if now - s < window)


def decide(
    stamps: list[float], now: float, limit: Limit, blocked_until: float
) -> tuple[list[float], Grant]:
    """The pure rule both backends apply: the log after the decision, and the decision."""
    live = prune(stamps, now, limit.window)
    if blocked_until > now:
        return live, Grant(wait=blocked_until - now)
    if len(live) >= limit.requests:
        # The slot that frees first: when the (len - limit + 1)-th oldest stamp ages out.
        oldest = live[len(live) - limit.requests]
        return live, Grant(wait=max(0.001, oldest + limit.window - now))
    live.append(now)
    return live, Grant(stamp=now)


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
