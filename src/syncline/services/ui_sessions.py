"""Dashboard sessions: a random id in the cookie, everything else in ``ui_sessions``.

The cookie value is never stored: the row's key is its SHA-256, so a read of the metadata
store does not yield live sessions. A session dies with logout (row deleted), expiry, or its
token (revoked tokens end their sessions, and lookups also re-check the token).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.services.common import utcnow
from syncline.store.tables import ApiToken, UiSession


@dataclass(frozen=True)
class LiveSession:
    """What a dashboard request knows about its caller."""

    id: str
    workspace_id: str
    token_id: str
    role: str
    csrf_secret: str


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(session: Session, *, token: ApiToken, ttl: float) -> tuple[str, LiveSession]:
    """Start a session for an authenticated ``token``; returns the cookie value and the session."""
    session_id = secrets.token_urlsafe(32)
    now = utcnow()
    row = UiSession(
        id=_key(session_id),
        workspace_id=token.workspace_id,
        token_id=token.id,
        role=token.role,
        csrf_secret=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(seconds=ttl),
    )
    session.add(row)
    # Expired rows of anyone are swept on login: cheap, indexed, and keeps the table small.
    session.execute(sa.delete(UiSession).where(UiSession.expires_at < now))
    session.commit()
    return session_id, _live(session_id, row)


def find_session(session: Session, *, session_id: str) -> LiveSession | None:
    """The live session of a cookie value, or None (unknown, expired, or token revoked)."""
    if not session_id:
        return None
    row = session.scalar(
        sa.select(UiSession)
        .join(ApiToken, ApiToken.id == UiSession.token_id)
        .where(
            UiSession.id == _key(session_id),
            UiSession.expires_at > utcnow(),
            ApiToken.revoked_at.is_(None),
        )
    )
    return _live(session_id, row) if row is not None else None


def close_session(session: Session, *, session_id: str) -> None:
    """Delete the session of a cookie value (idempotent): the cookie is dead from now on."""
    session.execute(sa.delete(UiSession).where(UiSession.id == _key(session_id)))
    session.commit()


def _live(session_id: str, row: UiSession) -> LiveSession:
    return LiveSession(
        id=session_id,
        workspace_id=row.workspace_id,
        token_id=row.token_id,
        role=row.role,
        csrf_secret=row.csrf_secret,
    )
