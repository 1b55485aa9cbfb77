"""Request dependencies as ``Annotated`` aliases: the context, a session, the caller, the workspace.

Authentication accepts ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``. A token
only opens its own workspace: any other workspace id in the path answers 404
"Workspace not found", exactly like a workspace that does not exist, so ids cannot be probed.

The token and its workspace come from one query, or for a few seconds from the app's token
cache (services/token_cache.py), which any change to a token or workspace empties at once.

Every authenticated route goes through :func:`get_token`, which is also where the rate limits
are counted and where the token's role is checked against the route being served
(:func:`syncline.security.roles.required_role`): no route can authenticate without it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Header, HTTPException, Path, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from syncline.api.ratelimit import client_ip, rate_limits
from syncline.context import AppContext
from syncline.security.roles import allows, required_role
from syncline.services.audit import set_session_actor
from syncline.services.token_cache import TokenCache
from syncline.services.workspaces import authenticate_cached, authenticate_scoped
from syncline.store.tables import ApiToken, Workspace

T = TypeVar("T")

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer sl_...`.")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The same API token, as `X-API-Key: sl_...`."
)


async def get_ctx(request: Request) -> AppContext:
    """The process's :class:`AppContext`, set by ``create_app``.

    ``async`` only because it does not block: FastAPI runs a plain ``def`` dependency in the
    thread pool, a hop that costs more than the lookup.
    """
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]


async def get_session(ctx: CtxDep) -> AsyncIterator[Session]:
    """One session per request; the services commit their own transactions.

    ``async``: opening a session does no I/O, and closing one that holds no connection does
    none either, so neither needs a thread-pool hop; a session still in a transaction is
    closed (rolled back) in the thread pool.
    """
    session = ctx.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def route_path(request: Request) -> str:
    """The template path of the route being served (``/api/v1/workspaces/{id}/syncs``)."""
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else request.url.path


def enforce_role(request: Request, role: str) -> None:
    """403 unless ``role`` may call the route being served."""
    needed = required_role(request.method, route_path(request))
    if not allows(role, needed):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN,
            detail=f"This token's role ({role}) may not do this; it needs {needed.value} or above",
        )


async def get_token(
    request: Request,
    ctx: CtxDep,
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> ApiToken:
    """The caller's live API token, allowed for this route by its role.

    401 with ``WWW-Authenticate: Bearer`` for a missing or bad token, 403 for a role too weak,
    429 with ``Retry-After`` past a rate limit. ``async``: a token in the cache is checked
    without any I/O, so only a cache miss takes a thread-pool hop for its query.
    """
    raw = bearer.credentials if bearer is not None else api_key
    _admit_request(request, raw)
    assert raw  # _admit_request refuses an empty token
    cache: TokenCache | None = getattr(request.app.state, "token_cache", None)
    scoped = authenticate_cached(token=raw.strip(), pepper=ctx.token_pepper, cache=cache)
    if scoped is None:
        scoped = await run_in_threadpool(
            authenticate_scoped, session, token=raw.strip(), pepper=ctx.token_pepper, cache=cache
        )
    return _grant(request, session, scoped)


def authenticate_request(
    request: Request, ctx: AppContext, session: Session, raw: str | None
) -> ApiToken:
    """Rate limits, token lookup and the route's role, for every API that takes our tokens.

    The compatibility API reads its token from other header forms and then comes here, so
    its routes are limited and role-checked exactly like ours.
    """
    _admit_request(request, raw)
    assert raw  # _admit_request refuses an empty token
    cache: TokenCache | None = getattr(request.app.state, "token_cache", None)
    scoped = authenticate_scoped(session, token=raw.strip(), pepper=ctx.token_pepper, cache=cache)
    return _grant(request, session, scoped)


def _admit_request(request: Request, raw: str | None) -> None:
    """Before any lookup: count the address, 401 without a token, 429 past failed attempts."""
    limits = rate_limits(request)
    ip = client_ip(request)
    limits.hit_ip(ip)
    if not raw:
        raise _unauthorized("Not authenticated: send Authorization: Bearer <token>")
    limits.check_failures(ip)


def _grant(
    request: Request, session: Session, scoped: tuple[ApiToken, Workspace] | None
) -> ApiToken:
    """After the lookup: 401 for no live token, else count it, check its role, name the actor."""
    limits = rate_limits(request)
    if scoped is None:
        limits.fail(client_ip(request))
        raise _unauthorized("Invalid or revoked API token")
    token, workspace = scoped
    request.state.workspace = workspace  # read by get_workspace: no second query
    limits.hit_token(token.id)
    enforce_role(request, token.role)
    set_session_actor(session, token)  # audit events name this token
    return token


async def read_in_thread(session: Session, read: Callable[[], T]) -> T:
    """Run a read-only request's database work and response building in one thread-pool hop.

    The session reads in autocommit (no BEGIN, no ROLLBACK round trip: each statement sees
    committed data) and is closed in the same hop, so :func:`get_session` has nothing left
    to do off the event loop. Only for requests that write nothing.
    """

    def work() -> T:
        try:
            if not session.in_transaction():
                session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            return read()
        finally:
            session.close()

    return await run_in_threadpool(work)


TokenDep = Annotated[ApiToken, Depends(get_token)]

WorkspacePath = Annotated[uuid.UUID, Path(alias="id", description="Workspace id.")]


async def get_workspace(
    request: Request,
    workspace_id: WorkspacePath,
    token: TokenDep,
    x_workspace_id: Annotated[
        str | None,
        Header(description="Optional; when sent it must equal the workspace id in the path."),
    ] = None,
) -> Workspace:
    """The workspace of the path, if the caller's token belongs to it (else 404).

    It was read with the token (:func:`get_token`), so nothing here blocks: ``async`` keeps
    it off the thread pool.
    """
    if str(workspace_id) != token.workspace_id:
        raise HTTPException(status_code=404, detail="Workspace not found")
    if x_workspace_id is not None and x_workspace_id.strip():
        try:
            same = uuid.UUID(x_workspace_id.strip()) == workspace_id
        except ValueError:
            same = False
        if not same:
            raise HTTPException(
                status_code=400,
                detail="X-Workspace-ID header does not match the workspace id in the path",
            )
    workspace: Workspace | None = getattr(request.state, "workspace", None)
    if workspace is None or workspace.id != token.workspace_id:  # pragma: no cover - defensive
        raise HTTPException(status_code=404, detail="Workspace not found")
    return workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]


SyncPath = Annotated[uuid.UUID, Path(alias="syncId", description="Sync id.")]
RunPath = Annotated[uuid.UUID, Path(alias="runId", description="Run id.")]
SourcePath = Annotated[uuid.UUID, Path(alias="sourceId", description="Source id.")]
ModelPath = Annotated[uuid.UUID, Path(alias="modelId", description="Model id.")]
DestinationPath = Annotated[uuid.UUID, Path(alias="destinationId", description="Destination id.")]
