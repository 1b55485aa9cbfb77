"""Workspaces and their API tokens: used by the CLI (create) and the API (authenticate).

A token is shown once, in plain text, when it is created; only its HMAC-SHA256 under the
server's pepper is stored (security/tokens.py). Every token has a role (security/roles.py).
"""

from __future__ import annotations

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


def authenticate(session: Session, *, token: str, pepper: bytes) -> ApiToken | None:
    """The live token whose plain text is ``token``, or None (unknown or revoked).

    Candidates are found by the token's non-secret prefix and compared in constant time. A
    legacy (unpeppered SHA-256) hash that matches is replaced by the peppered one. Refreshes
    ``last_used_at`` at most once a minute per token, in its own small commit.
    """
    if not token:
        return None
    candidates = session.scalars(
        sa.select(ApiToken).where(
            ApiToken.prefix == token_prefix(token), ApiToken.revoked_at.is_(None)
        )
    ).all()
    found: ApiToken | None = None
    legacy = False
    for candidate in candidates:
        if matches(token, candidate.token_hash, pepper=pepper):
            found = candidate
        elif matches_legacy(token, candidate.token_hash):
            found, legacy = candidate, True
    if found is None:
        return None
    values: dict[str, object] = {}
    if legacy:
        values["token_hash"] = hash_token(token, pepper=pepper)
    now = utcnow()
    if found.last_used_at is None or now - found.last_used_at > LAST_USED_RESOLUTION:
        values["last_used_at"] = now
    if values:
        session.execute(sa.update(ApiToken).where(ApiToken.id == found.id).values(**values))
        session.commit()
        for key, value in values.items():
            set_committed_value(found, key, value)
    return found
