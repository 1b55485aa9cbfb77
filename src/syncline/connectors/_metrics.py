"""Destination HTTP metrics: request latency and throttled / server-error answers by type.

Kept in ``connectors`` (which may import only itself and ``domain``) so a connector's client
measures its own requests; the process-wide ``/metrics`` exposes these objects with the rest.
"""

from __future__ import annotations

import time

import httpx
from prometheus_client import Counter, Histogram

REQUEST_SECONDS = Histogram(
    "syncline_destination_request_seconds",
    "Latency of one HTTP request to a destination.",
    ["destination_type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
REQUEST_ERRORS = Counter(
    "syncline_destination_request_errors",
    "Destination HTTP answers that were throttled (429) or server errors (5xx).",
    ["destination_type", "code_class"],
)


def observe(destination_type: str, seconds: float, status_code: int | None) -> None:
    """Record one request; ``status_code`` None for a transport failure (no answer)."""
    REQUEST_SECONDS.labels(destination_type).observe(seconds)
    if status_code == 429:
        REQUEST_ERRORS.labels(destination_type, "429").inc()
    elif status_code is not None and status_code >= 500:
        REQUEST_ERRORS.labels(destination_type, "5xx").inc()


class MeasuredTransport(httpx.BaseTransport):
    """Wraps a transport and observes every request made through it."""

    def __init__(self, inner: httpx.BaseTransport, destination_type: str) -> None:
        self._inner = inner
        self._type = destination_type

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        try:
            response = self._inner.handle_request(request)
        except Exception:
            observe(self._type, time.perf_counter() - start, None)
            raise
        observe(self._type, time.perf_counter() - start, response.status_code)
        return response

    def close(self) -> None:
        self._inner.close()


class AsyncMeasuredTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`MeasuredTransport` (the webhook destination)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, destination_type: str) -> None:
        self._inner = inner
        self._type = destination_type

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        start = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except Exception:
            observe(self._type, time.perf_counter() - start, None)
            raise
        observe(self._type, time.perf_counter() - start, response.status_code)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
