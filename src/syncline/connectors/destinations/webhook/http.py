"""How the webhook destination talks HTTP: concurrency, rate limit, retries, per-record results.

Requests run on an asyncio loop owned by the destination (in its own thread, so ``write`` can
be called from any thread, even one that runs another event loop), over one ``httpx``
connection pool. ``aiolimiter`` spaces requests out to ``requests_per_second``; ``tenacity``
retries connection errors, timeouts, 408, 429 and 5xx with exponential backoff and jitter,
waiting at least what a ``Retry-After`` header asks, but only while the run's one
``RetryBudget`` allows it (no second layer of retries multiplies these). Every wait wakes
at once when the run is asked to stop (``RunInfo.stop``), raising ``Interrupted``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
from aiolimiter import AsyncLimiter
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    wait_exponential_jitter,
)

from syncline.connectors._budget import RetryBudget, planned_wait
from syncline.connectors._http import quote_body, transport_detail
from syncline.connectors._netguard_http import guarded_async_client
from syncline.connectors.base import DestinationAuthError, Interrupted, RunInfo
from syncline.connectors.destinations.webhook.results import item_errors

T = TypeVar("T")
_RETRY_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Request:
    """One HTTP request of a batch: rows ``[start, start + len(keys))``."""

    start: int
    keys: list[str]
    method: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Outcome:
    """What became of one request: errors by offset in the request, and whether it was acked."""

    errors: dict[int, tuple[str, str]] = field(default_factory=dict)  # offset -> (msg, class)
    answered: bool = True  # False: retries exhausted, nothing is known about these records


@dataclass(frozen=True)
class Policy:
    """The sending knobs from the config."""

    url: str
    concurrency: int
    requests_per_second: float | None
    timeout_seconds: float
    max_retries: int
    backoff_initial: float
    backoff_max: float
    max_retry_after: float
    results_path: str | None
    results_list: str


class Stopped(Interrupted):
    """The run was asked to stop mid-batch; ``answered`` are the outcomes of the requests
    (by position) that the receiver answered before that."""

    def __init__(self, answered: dict[int, Outcome]) -> None:
        super().__init__()
        self.answered = answered


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the server's requested wait, if any."""

    def __init__(self, message: str, error_class: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.retry_after = retry_after


def snippet(response: httpx.Response) -> str:
    """The receiver's answer as errors quote it: truncated, tokens blanked (``quote_body``)."""
    return quote_body(response.text)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class Sender:
    """Sends the requests of one batch at a time, on a private event loop thread."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.name = "syncline-webhook"
        self._thread.start()
        self._client: httpx.AsyncClient | None = None
        self._stop = threading.Event()
        self._budget = RetryBudget()
        self._run: RunInfo | None = None
        self._limiter: AsyncLimiter | None = None
        self._expo = wait_exponential_jitter(
            multiplier=policy.backoff_initial, max=policy.backoff_max, jitter=policy.backoff_initial
        )

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def send(self, requests: list[Request], run: RunInfo | None = None) -> list[Outcome]:
        """Every request's outcome, in order, retrying within ``run``'s budget.

        Raises:
            DestinationAuthError: the server refused our credentials (401/403); the other
                requests in flight are cancelled.
            Interrupted: the run was asked to stop (checked before every request and during
                every retry wait); requests already answered were applied by the receiver.
        """
        self._stop = run.stop if run is not None else threading.Event()
        self._budget = run.budget if run is not None else RetryBudget()
        self._run = run
        return self.run(self._send_all(requests))

    def head(self, headers: dict[str, str]) -> httpx.Response:
        """One HEAD request without retries (a connection test)."""
        return self.run(self._head(headers))

    def close(self) -> None:
        if self._client is not None:
            self.run(self._client.aclose())
            self._client = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    # -- on the loop -------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            p = self._policy
            # Every connection goes through the network guard (checked at connect time).
            self._client = guarded_async_client(
                timeout=httpx.Timeout(p.timeout_seconds),
                limits=httpx.Limits(max_connections=p.concurrency),
                follow_redirects=False,
                destination_type="webhook",
            )
            if p.requests_per_second:
                # One slot refilled every 1/rps seconds: requests are evenly spaced, so no
                # one-second window ever sees more than the configured rate (+1 at its edge).
                self._limiter = AsyncLimiter(1, 1.0 / p.requests_per_second)
        return self._client

    async def _head(self, headers: dict[str, str]) -> httpx.Response:
        return await self._http().head(self._policy.url, headers=headers)

    async def _send_all(self, requests: list[Request]) -> list[Outcome]:
        self._http()
        gate = asyncio.Semaphore(self._policy.concurrency)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._send_one(r, gate)) for r in requests]
        except BaseExceptionGroup as group_error:
            # The first failure cancelled the rest; it is the one worth reporting.
            first = group_error.exceptions[0]
            if isinstance(first, Interrupted):
                # What was answered before the stop was applied by the receiver: say so.
                raise Stopped(
                    {
                        n: t.result()
                        for n, t in enumerate(tasks)
                        if t.done() and not t.cancelled() and t.exception() is None
                    }
                ) from None
            raise first from None
        return [t.result() for t in tasks]

    def _next_wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = getattr(exc, "retry_after", None)
        if asked is not None:
            return min(float(asked), self._policy.max_retry_after)
        return float(self._expo(state))

    def _stop_retrying(self, state: RetryCallState) -> bool:
        """Stop after ``max_retries``, or when the run's budget cannot pay the next wait."""
        if state.attempt_number > self._policy.max_retries:
            return True
        wait = planned_wait(state, self._next_wait)  # type: ignore[arg-type]
        exc = state.outcome.exception() if state.outcome else None
        what = f"{self._policy.url} request"
        return not self._budget.allow(
            wait, what=what, reason=str(exc), attempt=state.attempt_number
        )

    def _wait(self, state: RetryCallState) -> float:
        return planned_wait(state, self._next_wait)  # type: ignore[arg-type]

    async def _sleep(self, seconds: float) -> None:
        """A retry wait that ends at once when the run is asked to stop."""
        deadline = self._loop.time() + seconds
        while True:
            if self._stop.is_set():
                raise Interrupted("the run was asked to stop")
            left = deadline - self._loop.time()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.1))

    async def _send_one(self, request: Request, gate: asyncio.Semaphore) -> Outcome:
        retrying = AsyncRetrying(
            stop=self._stop_retrying,
            wait=self._wait,
            sleep=self._sleep,
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        response: httpx.Response | None = None
        async with gate:
            try:
                async for attempt in retrying:
                    with attempt:
                        response = await self._attempt(request)
            except _Transient as exc:
                tries = retrying.statistics.get("attempt_number", 1)
                message = f"{exc} (gave up after {tries} attempt{'s' * (tries > 1)})"
                errors = {i: (message, exc.error_class) for i in range(len(request.keys))}
                return Outcome(errors, answered=False)
        assert response is not None
        outcome = self._outcome(request, response)
        if self._run is not None:  # live progress between requests, not only per batch
            self._run.report_sent(len(request.keys))
        return outcome

    async def _attempt(self, request: Request) -> httpx.Response:
        if self._stop.is_set():
            raise Interrupted("the run was asked to stop")
        if self._limiter is not None:
            await self._limiter.acquire()
        url = httpx.URL(self._policy.url)
        where = f"{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        try:
            response = await self._http().request(
                request.method, self._policy.url, content=request.body, headers=request.headers
            )
        except httpx.TimeoutException as exc:
            raise _Transient(
                f"request to {where} timed out ({type(exc).__name__})", "timeout"
            ) from exc
        except httpx.TransportError as exc:
            detail = transport_detail(exc)
            raise _Transient(f"connection failed to {where}: {detail}", "connection_error") from exc
        status = response.status_code
        if status in (401, 403):
            raise DestinationAuthError(
                f"{self._policy.url} refused the credentials: HTTP {status}: {snippet(response)}"
            )
        if status in _RETRY_STATUSES or status >= 500:
            wait = retry_after_seconds(response.headers.get("retry-after"))
            raise _Transient(f"HTTP {status}: {snippet(response)}", "http_error", wait)
        return response

    def _outcome(self, request: Request, response: httpx.Response) -> Outcome:
        status = response.status_code
        n = len(request.keys)
        if not 200 <= status < 300:
            message = f"HTTP {status}: {snippet(response)}"
            return Outcome({i: (message, "rejected") for i in range(n)})
        path = self._policy.results_path
        if not path:
            return Outcome()
        try:
            payload = response.json()
        except ValueError:
            return Outcome()  # no per-item results: the request's status applies to all
        return Outcome(item_errors(payload, path, request.keys, self._policy.results_list))
