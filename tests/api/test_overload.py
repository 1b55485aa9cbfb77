"""Past its connection pool the API queues requests; it must never answer 5xx for load alone.

Found by the API benchmark (issue 16): at 100 req/s one ``serve`` answered 500
(``QueuePool limit ... reached, connection timed out``) and its throughput collapsed to a few
requests a second. A sync endpoint's request holds its pooled connection until its session
dependency exits, but FastAPI validates the response in the thread pool first; with every
thread waiting for a connection, the holders wait for a thread until the pool times out.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from syncline.api.app import create_app
from syncline.bootstrap import build_context
from syncline.services.workspaces import create_workspace
from syncline.settings import Settings
from syncline.store.db import upgrade


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def small_pool_server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A live server whose store pool has 2 connections and gives up waiting after 2 s."""
    settings = Settings(
        data_dir=tmp_path / "data",
        secret_key="overload-test",
        token_pepper="overload-pepper",
        db_pool_size=2,
        db_max_overflow=0,
        db_pool_timeout=2.0,
        rate_limit_enabled=False,
    )
    upgrade(settings.resolved_database_url())
    ctx = build_context(settings)
    with ctx.sessions() as session:
        workspace, token = create_workspace(session, name="busy", pepper=ctx.token_pepper)
        base = f"/api/v1/workspaces/{workspace.id}"
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}{base}", token
    finally:
        server.should_exit = True
        thread.join(10)
        ctx.dispose()


async def _burst(url: str, token: str, n: int) -> Counter[int]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=60) as client:
        answers = await asyncio.gather(*(client.get(f"{url}/syncs") for _ in range(n)))
    return Counter(r.status_code for r in answers)


def test_a_burst_far_past_the_pool_is_queued_not_failed(
    small_pool_server: tuple[str, str],
) -> None:
    url, token = small_pool_server
    statuses = asyncio.run(_burst(url, token, 150))
    assert statuses == Counter({200: 150})


def test_a_request_that_waits_past_the_queue_timeout_gets_503_with_retry_after() -> None:
    from types import SimpleNamespace

    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from syncline.api.gate import AdmissionMiddleware

    async def slow(_request: object) -> PlainTextResponse:
        await asyncio.sleep(1.0)
        return PlainTextResponse("done")

    app = Starlette(routes=[Route("/slow", slow), Route("/healthz", slow)])
    app.state.ctx = SimpleNamespace(settings=Settings(api_concurrency=1, api_queue_timeout=0.2))
    app.add_middleware(AdmissionMiddleware)

    async def two(path: str) -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return list(await asyncio.gather(client.get(path), client.get(path)))

    answers = sorted(asyncio.run(two("/slow")), key=lambda r: r.status_code)
    assert [r.status_code for r in answers] == [200, 503]
    assert answers[1].headers["retry-after"] == "1"
    assert "busy" in answers[1].json()["detail"]
    # liveness is never queued behind the API
    assert [r.status_code for r in asyncio.run(two("/healthz"))] == [200, 200]
