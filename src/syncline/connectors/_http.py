"""Retries shared by the SaaS destinations (Salesforce, HubSpot): what is transient, how long
to wait, and how many times to re-run an idempotent step before the engine takes over.

A step is re-run whole (a lookup and the write that depends on it, a read-then-archive), so
it must be safe to run twice: a timed-out request may have been applied by the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpx

from syncline.connectors.base import DestinationError

__all__ = ["RetryPolicy", "Transient", "retry_after", "retrying"]

T = TypeVar("T")


class Transient(Exception):
    """A failure that waiting may cure; ``wait`` is the server's hint in seconds, if any."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


@dataclass(frozen=True)
class RetryPolicy:
    """How long one idempotent step may be retried before the engine takes over."""

    attempts: int = 5
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 60.0


def retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds (only the delta-seconds form is used by CRMs)."""
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def retrying(
    step: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run an idempotent step, waiting and re-running it on ``Transient`` failures.

    The step must be safe to run twice (an upsert by key, a lookup followed by a create of
    what is still absent): a timed-out request may have been applied by the server.

    Raises:
        DestinationError: retryable, once the attempts are spent, so the engine's own
            backoff takes over with the whole batch.
    """
    for attempt in range(1, policy.attempts + 1):
        try:
            return step()
        except Transient as exc:
            if attempt >= policy.attempts:
                raise DestinationError(
                    f"{what}: {exc} (gave up after {attempt} attempts)", retryable=True
                ) from exc
            delay = (
                exc.wait if exc.wait is not None else policy.backoff_seconds * 2 ** (attempt - 1)
            )
            sleep(min(delay, policy.max_wait_seconds))
    raise AssertionError("unreachable")  # pragma: no cover
