"""Use cases for sources: the warehouses models read from (CRUD shared in ``connections``).

Models of a source keep their discovered columns when it is updated: changing where they read
from is the user's call, and the next run or model update will surface any mismatch.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from syncline.security.secrets import SecretBox
from syncline.services import catalog
from syncline.services.catalog import CheckOutcome
from syncline.services.common import Page, PageRequest
from syncline.services.connections import Connections
from syncline.store.tables import Model, Source

SOURCES = Connections[Source](
    kind="source",
    table=Source,
    label="Source",
    user=Model,
    user_fk=Model.source_id,
    user_label="models",
)


def list_sources(
    session: Session,
    *,
    workspace_id: str,
    page: PageRequest,
    type: str | None = None,
    q: str | None = None,
) -> Page[Source]:
    """A page of the workspace's sources, optionally of one ``type`` or with ``q`` in the name."""
    return SOURCES.list(session, workspace_id=workspace_id, page=page, type=type, q=q)


def get_source(session: Session, *, workspace_id: str, source_id: str) -> Source:
    """One source of the workspace, or NotFoundError("Source")."""
    return SOURCES.get(session, workspace_id=workspace_id, id=source_id)


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
    return SOURCES.create(
        session, secrets=secrets, workspace_id=workspace_id, name=name, type=type, config=config
    )


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
    """Change a source; a ``config`` replaces the old one (``********`` keeps a secret)."""
    return SOURCES.update(
        session,
        secrets=secrets,
        workspace_id=workspace_id,
        id=source_id,
        name=name,
        type=type,
        config=config,
    )


def delete_source(session: Session, *, workspace_id: str, source_id: str) -> None:
    """Delete a source; refused (ConflictError) while models read from it."""
    SOURCES.delete(session, workspace_id=workspace_id, id=source_id)


def check_source(
    session: Session, *, secrets: SecretBox, workspace_id: str, source_id: str
) -> CheckOutcome:
    """Test the source's connection with its stored config (run after each save; a failed
    check is reported, it never undoes the save)."""
    return catalog.check_source(
        session, secrets=secrets, workspace_id=workspace_id, source_id=source_id
    )
