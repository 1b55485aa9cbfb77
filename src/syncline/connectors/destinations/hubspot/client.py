"""HubSpot CRM API plumbing: the private app token, rate limits, whole-request failures.

``HubSpotClient.request`` returns the status and JSON body of every answer a caller can act
on (2xx, 207 and the per-request 4xx of the batch endpoints) and turns the rest into:

* ``Transient`` (retried by ``connectors._http.retrying``): timeouts, connection loss, 5xx, 477
  (account migration, with ``Retry-After``) and 429 on the burst limits.
* ``DestinationError`` (not retryable) for the DAILY limit: it resets at midnight in the
  account's time zone, so the run stops with a message that says so.
* ``DestinationAuthError`` for 401 (bad or revoked token) and 403 (missing scopes).

It paces itself through the account's shared rolling-window budget (``connectors._ratelimit``,
keyed by base URL and token, so every sync on the account, in any worker, draws from one
budget): a request waits only until the oldest request of the window ages out. The
``X-HubSpot-RateLimit-Max`` / ``-Interval-Milliseconds`` headers set the budget's limit and
``-Remaining`` adds the requests the account counted that the budget did not (other clients).
A 429 with ``Retry-After`` blocks the budget for exactly that long; one without it is retried
through the budget (which waits for a free slot when the headers show none left), not after a
whole interval. A refused request keeps its slot: HubSpot does not document that a 429 goes
uncounted. A 5xx without ``Retry-After`` is retried after ``RetryPolicy.quick_retry_seconds``
first (then the usual backoff), also through the budget and the run's retry budget. The
waits go through ``wait`` (``RunInfo.wait`` in a run: a stop interrupts).

Docs:
* Private app tokens: https://developers.hubspot.com/docs/api/private-apps
* Rate limits and headers: https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details
* Error handling (207, 429, 477, 502/504): https://developers.hubspot.com/docs/api/error-handling
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from syncline.connectors._http import Transient, quote_body, retry_after
from syncline.connectors._netguard_http import guarded_client
from syncline.connectors._ratelimit import AccountLimiter, Limit, account_key
from syncline.connectors.base import DestinationAuthError, DestinationError

WINDOWS = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}
#: Until the first answer's headers tell: private apps on the base tiers, 100 per 10 s.
DEFAULT_LIMIT = Limit(100, 10.0)


def message_of(body: Any, status: int) -> str:
    """The human part of a HubSpot error body (``{"status", "message", "category"}``)."""
    if isinstance(body, dict):
        category = body.get("category") or body.get("errorType")
        text = quote_body(str(body.get("message") or f"HTTP {status}"))
        return f"{category}: {text}" if category else text
    return f"HTTP {status}"


class HubSpotClient:
    """Authenticated, self-pacing requests to ``https://api.hubapi.com``."""

    def __init__(
        self,
        *,
        base_url: str,
        token: str,
        timeout: float,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = guarded_client(
            timeout=timeout,
            destination_type="hubspot",
            headers={"Authorization": f"Bearer {token}"},
        )
        # A slot stays taken while its request may be in flight (the timeout), whoever looks.
        self.limiter = AccountLimiter(
            account_key("hubspot", base_url, token),
            DEFAULT_LIMIT,
            wait=sleep,
            max_wait=max_wait,
            hold=timeout,
        )

    @property
    def throttled_seconds(self) -> float:
        """Seconds spent waiting for the rate budget."""
        return self.limiter.waited_seconds

    def close(self) -> None:
        try:
            self.limiter.flush()  # the last request's answer frees its slot for the others
        finally:
            self._http.close()

    def request(self, method: str, path: str, *, json: Any = None) -> tuple[int, Any]:
        """One call; returns ``(status, body)`` for answers the caller interprets."""
        stamp, answered = self.limiter.acquire(), False
        try:
            response = self._http.request(method, self.base_url + path, json=json)
            answered_at, answered = time.monotonic(), True
        except httpx.TimeoutException as exc:
            raise Transient(f"{method} {path} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Transient(f"{method} {path} failed: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise DestinationError(f"HubSpot base_url is not a valid URL: {exc}") from exc
        finally:
            if not answered:
                self.limiter.settle(stamp)  # it may have been counted all the same
        self._note_limits(response.headers, stamp, answered_at)
        status = response.status_code
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = {"message": quote_body(response.text)}
        if status == 401:
            raise DestinationAuthError(
                f"HubSpot refused the access token: {message_of(body, status)}"
            )
        if status == 403:
            raise DestinationAuthError(
                f"HubSpot denied {method} {path} (check the private app's scopes): "
                f"{message_of(body, status)}"
            )
        if status == 429:
            raise self._rate_limited(response, body)
        if status == 477 or status >= 500:
            text = f"{method} {path}: HTTP {status}: {message_of(body, status)}"
            # The server answered: a passing fault is retried after a short pause, through
            # the budget; a storm still backs off (``RetryPolicy.quick_retry_seconds``).
            raise Transient(text, retry_after(response), quick=True)
        return status, body

    def _rate_limited(self, response: httpx.Response, body: Any) -> Exception:
        policy = str((body or {}).get("policyName", "")).upper() if isinstance(body, dict) else ""
        text = message_of(body, 429)
        if "DAILY" in policy:
            return DestinationError(
                f"HubSpot daily API limit reached ({text}); it resets at midnight in the "
                "account's time zone"
            )
        wait = retry_after(response)
        if wait is not None:
            self.limiter.block(wait)  # exactly as long as asked, for every sync on the account
        elif _int(response.headers.get("X-HubSpot-RateLimit-Remaining")) is None:
            self.limiter.block(_interval(response.headers) or WINDOWS.get(policy, 10.0))
        # else: the headers synced the budget; the retry waits there for a free slot only.
        return Transient(f"HubSpot rate limit {policy or '(429)'}: {text}", 0.0)

    def _note_limits(self, headers: httpx.Headers, stamp: float, at: float) -> None:
        """Age the request from its answer (``at``); sync the budget with what HubSpot
        counted. Reported with the next request's decision (one budget transaction each)."""
        remaining = _int(headers.get("X-HubSpot-RateLimit-Remaining"))
        most = _int(headers.get("X-HubSpot-RateLimit-Max"))
        interval = _interval(headers)
        limit = Limit(most, interval) if most and interval else None
        used = most - remaining if most is not None and remaining is not None else None
        self.limiter.answered(stamp, used, limit, at)
        if _int(headers.get("X-HubSpot-RateLimit-Secondly-Remaining")) == 0:
            self.limiter.block(1.0)  # the per-second burst limit resets each second


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _interval(headers: httpx.Headers) -> float | None:
    ms = _int(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
    return ms / 1000 if ms else None
