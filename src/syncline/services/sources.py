"""Use cases for sources: the warehouses models read from."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.security.secrets import SecretBox
from syncline.services.common import Page, PageRequest, get_scoped, paginate
from syncline.services.connections import connector_class, seal_config
from syncline.services.errors import ConflictError
from syncline.store.tables import Model, Source


def list_sources(
    session: Session,
    *,
    workspace_id: str,
    page: PageRequest,
    type: str | None = None,
    q: str | None = None,
) -> Page[Source]:
    """A page of the workspace's sources, optionally of one ``type`` or with ``q`` in the name."""
    stmt = sa.select(Source).where(Source.workspace_id == workspace_id)
    if type:
        stmt = stmt.where(Source.type == type)
    if q:
        stmt = stmt.where(sa.func.lower(Source.name).contains(q.lower(), autoescape=True))
    return paginate(session, stmt, page=page, order_by=[Source.created_at, Source.id])


def get_source(session: Session, *, workspace_id: str, source_id: str) -> Source:
    """One source of the workspace, or NotFoundError("Source")."""
    return get_scoped(session, Source, workspace_id=workspace_id, id=source_id, kind="Source")


def create_source(
    session: Session,
    *,
    secrets: SecretBox,
    workspace_id: str,
    name: str,
    type: str,
    config: dict[str, Any],
) -> Source:
    """Create a source after checking its type and config; secrets are stored encrypted."""
    cls = connector_class("source", type)
    source = Source(
        workspace_id=workspace_id, name=name, type=type, config=seal_config(secrets, cls, config)
    )
    session.add(source)
    session.commit()
    return source


def update_source(
    session: Session,
    *,
    secrets: SecretBox,
    workspace_id: str,
    source_id: str,
    name: str | None = None,
    type: str | None = None,
    config: dict[str, Any] | None = None,
) -> Source:
    """Change a source; a ``config`` replaces the old one (``********`` keeps a secret).

    Models of this source keep their discovered columns: changing where they read from is the
    user's call, and the next run or model update will surface any mismatch.
    """
    source = get_source(session, workspace_id=workspace_id, source_id=source_id)
    new_type = type if type is not None else source.type
    cls = connector_class("source", new_type)
    if config is not None or new_type != source.type:
        source.config = seal_config(
            secrets, cls, config if config is not None else source.config, previous=source.config
        )
    source.type = new_type
    if name is not None:
        source.name = name
    session.commit()
    return source


def delete_source(session: Session, *, workspace_id: str, source_id: str) -> None:
    """Delete a source; refused (ConflictError) while models read from it."""
    source = get_source(session, workspace_id=workspace_id, source_id=source_id)
    users = session.execute(
        sa.select(Model.id, Model.name).where(Model.source_id == source.id).order_by(Model.name)
    ).all()
    if users:
        names = ", ".join(f"{n} ({i})" for i, n in users)
        raise ConflictError(f"Source is used by models: {names}")
    session.delete(source)
    session.commit()
