"""No dependency of a ``/api/v1`` route costs a thread-pool hop.

FastAPI runs a plain ``def`` dependency in the thread pool: a hand-off to a worker thread and
back for every request, which costs more CPU than the paging or lookup it does (issue 16: the
list endpoints paid one for their page parameters). Every dependency is ``async``; blocking
work belongs in the endpoint's one hop (``deps.read_in_thread``).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import anyio.to_thread
import pytest
from api_helpers import Tenant
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from syncline.api.app import create_app
from syncline.context import AppContext


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _runs_on_the_loop(call: Any) -> bool:
    """What FastAPI awaits directly: a coroutine or async generator function, or an object
    whose ``__call__`` is one (the security schemes)."""
    for fn in (call, getattr(call, "__call__", None)):  # noqa: B004 - a callable's __call__
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            return True
    return False


def _api_routes(ctx: AppContext) -> Iterator[APIRoute]:
    app = create_app(ctx)
    seen: set[int] = set()
    for route in app.router.routes:
        original = getattr(route, "original_router", None)
        routes = original.routes if original is not None else [route]
        for r in routes:
            if isinstance(r, APIRoute) and id(r) not in seen:
                seen.add(id(r))
                yield r


@pytest.mark.parametrize("ctx", ["sqlite"], indirect=True)  # routes, not the store
def test_every_dependency_of_the_api_runs_on_the_event_loop(ctx: AppContext) -> None:
    routes = [r for r in _api_routes(ctx) if r.path.startswith("/api/v1/")]
    assert any(r.path == "/api/v1/workspaces/{id}/syncs" for r in routes)  # the walk sees them
    offenders = sorted(
        f"{sorted(r.methods)} {r.path}: {getattr(call, '__qualname__', type(call).__name__)}"
        for r in routes
        for call in _calls(r.dependant)
        if not _runs_on_the_loop(call)
    )
    assert offenders == []


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions handed to the thread pool (every ``run_in_threadpool`` ends here)."""
    seen: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(func, "__qualname__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return seen


def test_the_hot_requests_take_one_thread_hop_each(tenant: Tenant, hops: list[str]) -> None:
    """With the token cached: the list, one sync, its runs and a trigger, one hop each."""
    sync_id = tenant.sync()["id"]
    assert tenant.get("/syncs").status_code == 200  # the token is cached from here on
    requests = [
        ("POST", f"/syncs/{sync_id}/trigger", 201),  # a new run
        ("POST", f"/syncs/{sync_id}/trigger", 200),  # still pending: that run
        ("GET", "/syncs?per_page=50", 200),
        ("GET", "/syncs?limit=50", 200),
        ("GET", f"/syncs/{sync_id}", 200),
        ("GET", f"/syncs/{sync_id}/runs", 200),
    ]
    for method, path, code in requests:
        hops.clear()
        resp = tenant.request(method, path)
        assert resp.status_code == code, resp.text
        assert len(hops) == 1, (method, path, hops)
