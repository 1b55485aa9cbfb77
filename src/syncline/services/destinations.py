"""Use cases for destinations: where syncs write."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.security.secrets import SecretBox
from syncline.services.common import Page, PageRequest, get_scoped, paginate
from syncline.services.connections import connector_class, seal_config
from syncline.services.errors import ConflictError
from syncline.store.tables import Destination, Sync


def list_destinations(
    session: Session,
    *,
    workspace_id: str,
    page: PageRequest,
    type: str | None = None,
    q: str | None = None,
) -> Page[Destination]:
    """A page of the workspace's destinations, optionally of one ``type`` or named like ``q``."""
    stmt = sa.select(Destination).where(Destination.workspace_id == workspace_id)
    if type:
        stmt = stmt.where(Destination.type == type)
    if q:
        stmt = stmt.where(sa.func.lower(Destination.name).contains(q.lower(), autoescape=True))
    return paginate(session, stmt, page=page, order_by=[Destination.created_at, Destination.id])


def get_destination(session: Session, *, workspace_id: str, destination_id: str) -> Destination:
    """One destination of the workspace, or NotFoundError("Destination")."""
    return get_scoped(
        session, Destination, workspace_id=workspace_id, id=destination_id, kind="Destination"
    )


def create_destination(
    session: Session,
    *,
    secrets: SecretBox,
    workspace_id: str,
    name: str,
    type: str,
    config: dict[str, Any],
) -> Destination:
    """Create a destination after checking its type and config; secrets are stored encrypted."""
    cls = connector_class("destination", type)
    destination = Destination(
        workspace_id=workspace_id, name=name, type=type, config=seal_config(secrets, cls, config)
    )
    session.add(destination)
    session.commit()
    return destination


def update_destination(
    session: Session,
    *,
    secrets: SecretBox,
    workspace_id: str,
    destination_id: str,
    name: str | None = None,
    type: str | None = None,
    config: dict[str, Any] | None = None,
) -> Destination:
    """Change a destination; a ``config`` replaces the old one (``********`` keeps a secret).

    Changing the type is refused while syncs use a mode the new type does not support.
    """
    destination = get_destination(session, workspace_id=workspace_id, destination_id=destination_id)
    new_type = type if type is not None else destination.type
    cls = connector_class("destination", new_type)
    if config is not None or new_type != destination.type:
        destination.config = seal_config(
            secrets,
            cls,
            config if config is not None else destination.config,
            previous=destination.config,
        )
    if new_type != destination.type:
        _check_modes_of_users(session, destination, cls)
    destination.type = new_type
    if name is not None:
        destination.name = name
    session.commit()
    return destination


def delete_destination(session: Session, *, workspace_id: str, destination_id: str) -> None:
    """Delete a destination; refused (ConflictError) while syncs write to it."""
    destination = get_destination(session, workspace_id=workspace_id, destination_id=destination_id)
    users = session.execute(
        sa.select(Sync.id, Sync.name)
        .where(Sync.destination_id == destination.id)
        .order_by(Sync.name)
    ).all()
    if users:
        names = ", ".join(f"{n} ({i})" for i, n in users)
        raise ConflictError(f"Destination is used by syncs: {names}")
    session.delete(destination)
    session.commit()


def _check_modes_of_users(session: Session, destination: Destination, cls: Any) -> None:
    modes = {m.value for m in cls.capabilities.modes}
    bad = session.execute(
        sa.select(Sync.id, Sync.name, Sync.sync_mode).where(
            Sync.destination_id == destination.id, Sync.sync_mode.not_in(modes)
        )
    ).all()
    if bad:
        names = ", ".join(f"{n} ({i}, {m})" for i, n, m in bad)
        raise ConflictError(f"the new destination type does not support the mode of syncs: {names}")
