"""Admission at the edge: at most ``api_concurrency`` requests inside the app at once.

A sync endpoint holds its pooled store connection until its session dependency exits, and
FastAPI validates the response in the thread pool first. Past the pool, every thread can end
up waiting for a connection that is held by a request waiting for a thread: nothing moves
until the pool times out and 500s fly (the API benchmark hit it at 100 req/s). Admitting
fewer requests than the pool has connections means no request ever waits in the pool; the
rest wait here, in arrival order, for up to ``api_queue_timeout`` seconds, then get an honest
503 with ``Retry-After``. Liveness, metrics and static assets are never queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref

from starlette.types import ASGIApp, Receive, Scope, Send

from syncline.settings import Settings

UNGATED = ("/healthz", "/metrics", "/docs", "/redoc", "/openapi.json", "/ui/static/")


def admitted(settings: Settings) -> int:
    """How many requests may be inside the app at once (``api_concurrency``, else two
    thirds of the pool: the rest is left to the workers and loops of the same process)."""
    if settings.api_concurrency is not None:
        return settings.api_concurrency
    return max(1, (settings.db_pool_size + settings.db_max_overflow) * 2 // 3)


class AdmissionMiddleware:
    """Queues requests past :func:`admitted`; 503 + ``Retry-After`` after the queue timeout."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # One semaphore per event loop: a test client runs each app instance in a loop of its own.
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._gates = weakref.WeakKeyDictionary()

    def _gate(self, settings: Settings) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(admitted(settings))
        return gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = getattr(scope["app"].state, "ctx", None)
        path: str = scope.get("path", "")
        if scope["type"] != "http" or ctx is None or path.startswith(UNGATED):
            await self.app(scope, receive, send)
            return
        settings: Settings = ctx.settings
        gate = self._gate(settings)
        try:
            async with asyncio.timeout(settings.api_queue_timeout):
                await gate.acquire()
        except TimeoutError:
            await _busy(send, settings.api_queue_timeout)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            gate.release()


async def _busy(send: Send, waited: float) -> None:
    body = (
        b'{"detail": "The server is busy: the request waited '
        + f"{waited:g}".encode()
        + b' s for a free slot; retry shortly"}'
    )
    with contextlib.suppress(OSError):
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", b"1"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
