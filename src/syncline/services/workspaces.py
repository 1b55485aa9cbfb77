"""Workspaces and their API tokens: used by the CLI (create) and the API (authenticate).

A token is shown once, in plain text, when it is created; only its SHA-256 hash is stored.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from syncline.security.tokens import generate_token, hash_token, token_prefix
from syncline.services.common import utcnow
from syncline.services.errors import NotFoundError
from syncline.store.tables import ApiToken, Workspace

# last_used_at is informative; writing it on every request would turn each GET into a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def create_workspace(session: Session, *, name: str) -> tuple[Workspace, str]:
    """Create a workspace and its first API token.

    Returns:
        The workspace and the token in plain text (the only time it is available).
    """
    workspace = Workspace(name=name)
    session.add(workspace)
    session.flush()
    _, plaintext = _add_token(session, workspace_id=workspace.id, name="default")
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


def _add_token(session: Session, *, workspace_id: str, name: str) -> tuple[ApiToken, str]:
    plaintext = generate_token()
    token = ApiToken(
        workspace_id=workspace_id,
        name=name,
        token_hash=hash_token(plaintext),
        prefix=token_prefix(plaintext),
    )
    session.add(token)
    session.flush()
    return token, plaintext


def create_token(session: Session, *, workspace_id: str, name: str = "") -> tuple[ApiToken, str]:
    """Create an API token for ``workspace_id``; returns it with its plain text."""
    get_workspace(session, workspace_id=workspace_id)
    token, plaintext = _add_token(session, workspace_id=workspace_id, name=name)
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
    """Revoke a token (idempotent); with ``workspace_id``, only a token of that workspace."""
    stmt = sa.select(ApiToken).where(ApiToken.id == token_id)
    if workspace_id is not None:
        stmt = stmt.where(ApiToken.workspace_id == workspace_id)
    token = session.scalar(stmt)
    if token is None:
        raise NotFoundError("Token")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.commit()
    return token


def authenticate(session: Session, *, token: str) -> ApiToken | None:
    """The live token whose plain text is ``token``, or None (unknown or revoked).

    Refreshes ``last_used_at`` at most once a minute per token, in its own small commit.
    """
    if not token:
        return None
    found = session.scalar(
        sa.select(ApiToken).where(
            ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None)
        )
    )
    if found is None:
        return None
    now = utcnow()
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
        session.execute(sa.update(ApiToken).where(ApiToken.id == found.id).values(last_used_at=now))
        session.commit()
        set_committed_value(found, "last_used_at", now)
    return found
