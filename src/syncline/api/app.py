"""The FastAPI application factory.

``create_app`` takes an already built :class:`AppContext` (so tests, the CLI and ``syncline
serve`` decide which store and queue it uses) and optional lifespan hooks: context managers
entered at start-up and exited at shutdown, in reverse order, e.g. the embedded worker pool and
the scheduler.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from syncline.api import compat
from syncline.api.edge import BodyLimitMiddleware, SecurityHeadersMiddleware
from syncline.api.errors import install_error_handlers
from syncline.api.gate import AdmissionMiddleware
from syncline.api.routes import (
    alerts,
    catalog,
    destinations,
    health,
    metrics,
    models,
    observability,
    runs,
    sources,
    syncs,
    workspaces,
)
from syncline.context import AppContext
from syncline.services import token_cache
from syncline.ui.routes import install_ui

LifespanHook = Callable[[AppContext], contextlib.AbstractContextManager[None]]

DESCRIPTION = """\
The control plane of Syncline, a self-hosted reverse ETL platform.

* **Auth**: `Authorization: Bearer <token>` (or `X-API-Key: <token>`); tokens are created with
  `syncline token create`. A token opens only its own workspace: other workspace ids answer 404.
  `X-Workspace-ID`, when sent, must equal the workspace id in the path (else 400).
* **Lists** are bare JSON arrays, paginated with `?page=&per_page=&order=`; the total is in
  `X-Total-Count` and page links in `Link` (RFC 8288).
* **Roles**: every token has one: `viewer` reads, `operator` also triggers, cancels, retries
  and runs checks, previews and dry runs, `editor` also changes sources, models, destinations
  and syncs, `admin` may do everything. A role too weak for a route answers 403.
* **Limits**: request bodies up to 1 MiB (413 past it), JSON nested up to 32 levels (422),
  rate limits per token, per client address and on failed authentications (429 with
  `Retry-After`); all are settings (docs/security.md).
* **Errors**: 422 `{"detail": [{"loc", "msg", "type"}]}` for invalid input, and
  `{"detail": "..."}` for 400, 401, 403, 404, 409, 413 and 429.
"""

TAGS = [
    {"name": "syncs", "description": "Keep a destination in step with a model."},
    {"name": "runs", "description": "Executions of a sync: history, cancel, retry, records."},
    {"name": "models", "description": "SQL queries on a source, with a primary key."},
    {"name": "sources", "description": "Warehouses models read from."},
    {"name": "destinations", "description": "Where syncs write."},
    {"name": "workspaces", "description": "The tenant every object belongs to."},
    {"name": "health", "description": "Liveness of the metadata store."},
]


def _version() -> str:
    try:
        return version("syncline")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def create_app(ctx: AppContext, *, lifespan_hooks: Sequence[LifespanHook] = ()) -> FastAPI:
    """Build the API over ``ctx``.

    Args:
        ctx: settings, store, secrets and queue of this process (``app.state.ctx``).
        lifespan_hooks: each is called with ``ctx`` at start-up and the context manager it
            returns is entered; all are exited at shutdown, last first.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with contextlib.ExitStack() as stack:
            engine = getattr(ctx, "engine", None)  # None: an app built only for its schema
            if engine is not None:
                app.state.token_cache = stack.enter_context(
                    token_cache.serving(engine, ctx.settings.api_token_cache_ttl)
                )
            for hook in lifespan_hooks:
                stack.enter_context(hook(ctx))
            yield

    # /docs and /redoc load Swagger UI and ReDoc from assets shipped in a package, not a CDN,
    # so they render on an air-gapped machine.
    app = FastAPIOffline(
        title="Syncline API",
        version=_version(),
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(metrics.router)
    for module in (workspaces, sources, models, destinations, syncs, runs, catalog, observability):
        app.include_router(module.router)
    app.include_router(alerts.router)
    app.include_router(compat.router)
    install_ui(app)
    # Added last = outermost: the headers also reach the limit middleware's own answers; a
    # request is admitted (gate.py) only once its body is read.
    app.add_middleware(AdmissionMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    return app
