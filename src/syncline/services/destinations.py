"""Use cases for destinations: where syncs write (CRUD shared in ``connections``).

Changing a destination's type is refused while syncs use a mode the new type does not support.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.security.secrets import SecretBox
from syncline.services import catalog
from syncline.services.catalog import CheckOutcome
from syncline.services.common import Page, PageRequest
from syncline.services.connections import Connections
from syncline.services.errors import ConflictError
from syncline.store.tables import Destination, Sync


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


DESTINATIONS = Connections[Destination](
    kind="destination",
    table=Destination,
    label="Destination",
    user=Sync,
    user_fk=Sync.destination_id,
    user_label="syncs",
    on_type_change=_check_modes_of_users,
)


def list_destinations(
    session: Session,
    *,
    workspace_id: str,
    page: PageRequest,
    type: str | None = None,
    q: str | None = None,
) -> Page[Destination]:
    """A page of the workspace's destinations, optionally of one ``type`` or named like ``q``."""
    return DESTINATIONS.list(session, workspace_id=workspace_id, page=page, type=type, q=q)


def get_destination(session: Session, *, workspace_id: str, destination_id: str) -> Destination:
    """One destination of the workspace, or NotFoundError("Destination")."""
    return DESTINATIONS.get(session, workspace_id=workspace_id, id=destination_id)


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
    return DESTINATIONS.create(
        session, secrets=secrets, workspace_id=workspace_id, name=name, type=type, config=config
    )


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
    """Change a destination; a ``config`` replaces the old one (``********`` keeps a secret)."""
    return DESTINATIONS.update(
        session,
        secrets=secrets,
        workspace_id=workspace_id,
        id=destination_id,
        name=name,
        type=type,
        config=config,
    )


def delete_destination(session: Session, *, workspace_id: str, destination_id: str) -> None:
    """Delete a destination; refused (ConflictError) while syncs write to it."""
    DESTINATIONS.delete(session, workspace_id=workspace_id, id=destination_id)


def check_destination(
    session: Session, *, secrets: SecretBox, workspace_id: str, destination_id: str
) -> CheckOutcome:
    """Test the destination's connection with its stored config (run after each save; a failed
    check is reported, it never undoes the save)."""
    return catalog.check_destination(
        session, secrets=secrets, workspace_id=workspace_id, destination_id=destination_id
    )
