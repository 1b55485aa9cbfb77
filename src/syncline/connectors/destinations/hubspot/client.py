"""HubSpot CRM API plumbing: the private app token, rate limits, whole-request failures.

``HubSpotClient.request`` returns the status and JSON body of every answer a caller can act
on (2xx, 207 and the per-request 4xx of the batch endpoints) and turns the rest into:

* ``Transient`` (retried by ``connectors._http.retrying``): timeouts, connection loss, 5xx, 477
  (account migration, with ``Retry-After``) and 429 on the burst limits. The wait is the
  ``Retry-After`` header if sent, else the policy's window (``X-HubSpot-RateLimit-Interval-
  Milliseconds``; 10 s for TEN_SECONDLY_ROLLING, 1 s for SECONDLY).
* ``DestinationError`` (not retryable) for the DAILY limit: it resets at midnight in the
  account's time zone, so the run stops with a message that says so.
* ``DestinationAuthError`` for 401 (bad or revoked token) and 403 (missing scopes).

It also paces itself: when ``X-HubSpot-RateLimit-Remaining`` (or ``-Secondly-Remaining``)
reaches 0, the next request waits for the interval instead of earning a 429.

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
from syncline.connectors.base import DestinationAuthError, DestinationError

WINDOWS = {"TEN_SECONDLY_ROLLING": 10.0, "SECONDLY": 1.0}


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
        self._max_wait = max_wait
        self._sleep = sleep
        self._resume_at = 0.0
        self.throttled_seconds = 0.0

    def sleep_with(self, sleep: Callable[[float], None]) -> None:
        """Pause the pacer with ``sleep`` (a run's interruptible wait)."""
        self._sleep = sleep

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, json: Any = None) -> tuple[int, Any]:
        """One call; returns ``(status, body)`` for answers the caller interprets."""
        self._pace()
        try:
            response = self._http.request(method, self.base_url + path, json=json)
        except httpx.TimeoutException as exc:
            raise Transient(f"{method} {path} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Transient(f"{method} {path} failed: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise DestinationError(f"HubSpot base_url is not a valid URL: {exc}") from exc
        self._note_limits(response.headers)
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
            raise Transient(text, retry_after(response))
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
        if wait is None:
            wait = _interval(response.headers) or WINDOWS.get(policy, 10.0)
        return Transient(f"HubSpot rate limit {policy or '(429)'}: {text}", wait)

    def _note_limits(self, headers: httpx.Headers) -> None:
        now = time.monotonic()
        remaining = _int(headers.get("X-HubSpot-RateLimit-Remaining"))
        interval = _interval(headers)
        if remaining is not None and remaining <= 0 and interval:
            self._resume_at = max(self._resume_at, now + interval)
        if _int(headers.get("X-HubSpot-RateLimit-Secondly-Remaining")) == 0:
            self._resume_at = max(self._resume_at, now + 1.0)

    def _pace(self) -> None:
        wait = self._resume_at - time.monotonic()
        if wait > 0:
            wait = min(wait, self._max_wait)
            self.throttled_seconds += wait
            self._sleep(wait)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _interval(headers: httpx.Headers) -> float | None:
    ms = _int(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
    return ms / 1000 if ms else None
