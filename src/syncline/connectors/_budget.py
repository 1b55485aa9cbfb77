"""One retry budget per run, shared by the engine and the destination's HTTP client.

Retries used to nest (a webhook retried each request 6 times, the engine retried the whole
batch 5 times), so a dead endpoint kept a run busy for minutes. Now every layer that wants to
wait and try again asks the same budget first: a batch may spend at most ``batch_seconds``
retrying (counted from its first failure), a run at most ``run_seconds`` in all. A layer that
is refused gives up at once with the last error, so the failure surfaces within the budget.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("syncline.retry")

#: Documented defaults (docs/operations.md): a batch retries for at most 45 s, a run 10 min.
DEFAULT_BATCH_SECONDS = 45.0
DEFAULT_RUN_SECONDS = 600.0


@dataclass
class RetryBudget:
    """How much more time a run may spend retrying; thread-safe (requests run concurrently).

    With load lanes several batches are in flight at once: each lane writes through its own
    :meth:`lane` budget, which keeps its own batch clock (one batch starting must not reset
    another's) and spends the one run total of the budget it came from.
    """

    batch_seconds: float = DEFAULT_BATCH_SECONDS
    run_seconds: float = DEFAULT_RUN_SECONDS
    _batch_first_failure: float | None = field(default=None, repr=False)
    _run_spent: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _root: RetryBudget | None = field(default=None, repr=False, compare=False)

    def lane(self) -> RetryBudget:
        """A budget with its own batch clock that spends this budget's run total (and reads
        its limits, also when they are set later)."""
        return RetryBudget(_root=self._root or self)

    @property
    def _run(self) -> RetryBudget:
        return self._root or self

    def start_batch(self) -> None:
        """A new batch starts with the whole batch budget (the run's total carries on)."""
        with self._run._lock:
            self._batch_first_failure = None

    def remaining(self) -> float:
        """Seconds of retrying left for the current batch (and run), from now."""
        run = self._run
        with run._lock:
            now = time.monotonic()
            first = self._batch_first_failure if self._batch_first_failure is not None else now
            batch_left = run.batch_seconds - (now - first)
            return max(0.0, min(batch_left, run.run_seconds - run._run_spent))

    def allow(self, wait: float, *, what: str, reason: str, attempt: int) -> bool:
        """Whether a retry after ``wait`` seconds fits; logs the retry (or the refusal)."""
        run = self._run
        with run._lock:
            now = time.monotonic()
            if self._batch_first_failure is None:
                self._batch_first_failure = now
            batch_left = run.batch_seconds - (now - self._batch_first_failure)
            run_left = run.run_seconds - run._run_spent
            ok = wait <= min(batch_left, run_left)
            if ok:
                run._run_spent += wait
        if ok:
            log.warning(
                "retrying %s (attempt %d failed: %s); next attempt in %.1fs",
                *(what, attempt, reason, wait),
            )
        else:
            log.warning(
                "giving up on %s after attempt %d (%s): retry budget spent", what, attempt, reason
            )
        return ok


def planned_wait(state: object, compute: Callable[[object], float]) -> float:
    """The wait before the next attempt, computed once per attempt: tenacity asks for the wait
    and for the stop decision separately (in an order that changed between versions), and a
    jittered wait must be the same number both times."""
    attempt = getattr(state, "attempt_number", 0)
    cached = getattr(state, "syncline_wait", None)
    if cached is not None and cached[0] == attempt:
        return float(cached[1])
    wait = float(compute(state))
    state.syncline_wait = (attempt, wait)  # type: ignore[attr-defined]
    return wait
