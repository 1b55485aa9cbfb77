"""Request dependencies as ``Annotated`` aliases: the context, a session, the caller, the workspace.

Authentication accepts ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``. A token
only opens its own workspace: any other workspace id in the path answers 404
"Workspace not found", exactly like a workspace that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from syncline.context import AppContext
from syncline.services.workspaces import authenticate
from syncline.store.tables import ApiToken, Workspace

_bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer sl_...`.")
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="The same API token, as `X-API-Key: sl_...`."
)


def get_ctx(request: Request) -> AppContext:
    """The process's :class:`AppContext`, set by ``create_app``."""
    ctx: AppContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[AppContext, Depends(get_ctx)]


def get_session(ctx: CtxDep) -> Iterator[Session]:
    """One session per request; the services commit their own transactions."""
    with ctx.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def get_token(
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> ApiToken:
    """The caller's live API token, or 401 with ``WWW-Authenticate: Bearer``."""
    raw = bearer.credentials if bearer is not None else api_key
    if not raw:
        raise _unauthorized("Not authenticated: send Authorization: Bearer <token>")
    token = authenticate(session, token=raw.strip())
    if token is None:
        raise _unauthorized("Invalid or revoked API token")
    return token


TokenDep = Annotated[ApiToken, Depends(get_token)]

WorkspacePath = Annotated[uuid.UUID, Path(alias="id", description="Workspace id.")]


def get_workspace(
    workspace_id: WorkspacePath,
    token: TokenDep,
    session: SessionDep,
    x_workspace_id: Annotated[
        str | None,
        Header(description="Optional; when sent it must equal the workspace id in the path."),
    ] = None,
) -> Workspace:
    """The workspace of the path, if the caller's token belongs to it (else 404)."""
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
    workspace = session.get(Workspace, token.workspace_id)
    if workspace is None:
        raise HTTPException(status_code=404, detail="Workspace not found")
    return workspace


WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]


SyncPath = Annotated[uuid.UUID, Path(alias="syncId", description="Sync id.")]
RunPath = Annotated[uuid.UUID, Path(alias="runId", description="Run id.")]
SourcePath = Annotated[uuid.UUID, Path(alias="sourceId", description="Source id.")]
ModelPath = Annotated[uuid.UUID, Path(alias="modelId", description="Model id.")]
DestinationPath = Annotated[uuid.UUID, Path(alias="destinationId", description="Destination id.")]
