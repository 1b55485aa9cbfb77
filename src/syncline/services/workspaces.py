"""Workspaces and their API tokens: used by the CLI (create) and the API (authenticate).

A token is shown once, in plain text, when it is created; only its HMAC-SHA256 under the
server's pepper is stored (security/tokens.py). Every token has a role (security/roles.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from syncline.security.roles import Role, parse_role
from syncline.security.tokens import (
    generate_token,
    hash_token,
    matches,
    matches_legacy,
    token_prefix,
)
from syncline.services import token_cache
from syncline.services.common import utcnow
from syncline.services.errors import NotFoundError
from syncline.store.tables import ApiToken, UiSession, Workspace

# last_used_at is informative; writing it on every request would turn each GET into a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def create_workspace(session: Session, *, name: str, pepper: bytes) -> tuple[Workspace, str]:
    """Create a workspace and its first API token (an ``admin`` one).

    Returns:
        The workspace and the token in plain text (the only time it is available).
    """
    workspace = Workspace(name=name)
    session.add(workspace)
    session.flush()
    _, plaintext = _add_token(
        session, workspace_id=workspace.id, name="default", role=Role.ADMIN, pepper=pepper
    )
    session.commit()
    return workspace, plaintext


def list_workspaces(session: Session) -> list[Workspace]:
    """Every workspace, oldest first."""
    return list(session.scalars(sa.select(Workspace).order_by(Workspace.created_at, Workspace.id)))


def get_workspace(session: Session, *, workspace_id: str) -> Workspace:
    """One workspace by id, or NotFoundError("Workspace")."""
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        raise NotFoundError("Workspace")
    return workspace


def _add_token(
    session: Session, *, workspace_id: str, name: str, role: Role, pepper: bytes
) -> tuple[ApiToken, str]:
    plaintext = generate_token()
    token = ApiToken(
        workspace_id=workspace_id,
        name=name,
        token_hash=hash_token(plaintext, pepper=pepper),
        prefix=token_prefix(plaintext),
        role=role.value,
    )
    session.add(token)
    session.flush()
    return token, plaintext


def create_token(
    session: Session,
    *,
    workspace_id: str,
    pepper: bytes,
    name: str = "",
    role: str = Role.ADMIN,
) -> tuple[ApiToken, str]:
    """Create an API token for ``workspace_id``; returns it with its plain text.

    Raises:
        ValueError: ``role`` is not one of viewer, operator, editor, admin.
    """
    parsed = parse_role(role)
    get_workspace(session, workspace_id=workspace_id)
    token, plaintext = _add_token(
        session, workspace_id=workspace_id, name=name, role=parsed, pepper=pepper
    )
    session.commit()
    return token, plaintext


def list_tokens(session: Session, *, workspace_id: str) -> list[ApiToken]:
    """The tokens of a workspace (revoked ones included), oldest first."""
    stmt = (
        sa.select(ApiToken)
        .where(ApiToken.workspace_id == workspace_id)
        .order_by(ApiToken.created_at, ApiToken.id)
    )
    return list(session.scalars(stmt))


def revoke_token(session: Session, *, token_id: str, workspace_id: str | None = None) -> ApiToken:
    """Revoke a token (idempotent) and end its dashboard sessions.

    With ``workspace_id``, only a token of that workspace.
    """
    stmt = sa.select(ApiToken).where(ApiToken.id == token_id)
    if workspace_id is not None:
        stmt = stmt.where(ApiToken.workspace_id == workspace_id)
    token = session.scalar(stmt)
    if token is None:
        raise NotFoundError("Token")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.execute(sa.delete(UiSession).where(UiSession.token_id == token.id))
        session.commit()
    return token


def _match(
    token: str, candidates: Sequence[tuple[ApiToken, Workspace]], pepper: bytes
) -> tuple[ApiToken, Workspace, bool] | None:
    """The candidate whose hash is ``token``'s (constant-time), and whether it was legacy."""
    found: tuple[ApiToken, Workspace, bool] | None = None
    for candidate, workspace in candidates:
        if matches(token, candidate.token_hash, pepper=pepper):
            found = candidate, workspace, False
        elif matches_legacy(token, candidate.token_hash):
            found = candidate, workspace, True
    return found


def _touch(session: Session, found: ApiToken, *, token: str, legacy: bool, pepper: bytes) -> None:
    """Re-hash a legacy token; refresh ``last_used_at`` at most once a minute."""
    values: dict[str, object] = {}
    if legacy:
        values["token_hash"] = hash_token(token, pepper=pepper)
    now = utcnow()
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
        values["last_used_at"] = now
    if values:
        stmt = sa.update(ApiToken).where(ApiToken.id == found.id).values(**values)
        # neither changes what a token may do: cached lookups stay valid
        session.execute(stmt.execution_options(**{token_cache.KEEP: True}))
        session.commit()
        for key, value in values.items():
            set_committed_value(found, key, value)


def _candidates(session: Session, token: str) -> Sequence[tuple[ApiToken, Workspace]]:
    """Live tokens with ``token``'s prefix, each with its workspace: one query."""
    stmt = (
        sa.select(ApiToken, Workspace)
        .join(Workspace, Workspace.id == ApiToken.workspace_id)
        .where(ApiToken.prefix == token_prefix(token), ApiToken.revoked_at.is_(None))
    )
    return [(t, w) for t, w in session.execute(stmt)]


def authenticate(session: Session, *, token: str, pepper: bytes) -> ApiToken | None:
    """The live token whose plain text is ``token``, or None (unknown or revoked).

    Candidates are found by the token's non-secret prefix and compared in constant time. A
    legacy (unpeppered SHA-256) hash that matches is replaced by the peppered one. Refreshes
    ``last_used_at`` at most once a minute per token, in its own small commit.
    """
    scoped = authenticate_scoped(session, token=token, pepper=pepper)
    return scoped[0] if scoped is not None else None


def authenticate_cached(
    *, token: str, pepper: bytes, cache: token_cache.TokenCache | None
) -> tuple[ApiToken, Workspace] | None:
    """The token and its workspace from ``cache`` alone, or None (look it up then).

    No session and no I/O, so the API can check a cached token without leaving the event
    loop; a miss says nothing about the token: call :func:`authenticate_scoped`.
    """
    if not token or cache is None:
        return None
    grant = cache.get(hash_token(token, pepper=pepper))
    return (grant.token(), grant.workspace()) if grant is not None else None


def authenticate_scoped(
    session: Session,
    *,
    token: str,
    pepper: bytes,
    cache: token_cache.TokenCache | None = None,
) -> tuple[ApiToken, Workspace] | None:
    """The live token whose plain text is ``token`` and its workspace, or None.

    Token and workspace come from one query (a token of a deleted workspace is no token),
    or from ``cache`` without any query. Objects from the cache belong to no session: read
    them, do not change them.
    """
    if not token:
        return None
    key = hash_token(token, pepper=pepper)
    generation = 0
    if cache is not None:
        grant = cache.get(key)
        if grant is not None:
            return grant.token(), grant.workspace()
        generation = cache.generation()
    found = _match(token, _candidates(session, token), pepper)
    if found is None:
        return None
    api_token, workspace, legacy = found
    _touch(session, api_token, token=token, legacy=legacy, pepper=pepper)
    if cache is not None:
        cache.put(key, token_cache.Grant.of(api_token, workspace), generation)
    return api_token, workspace
