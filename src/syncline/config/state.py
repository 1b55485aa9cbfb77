"""What a workspace holds now, by kind and name: the "before" side of a plan."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.config.errors import ConfigError
from syncline.services.workspaces import get_workspace
from syncline.store.tables import Destination, Model, Source, Sync

__all__ = ["TABLES", "StoreState", "read_state"]

TABLES: dict[str, Any] = {
    "source": Source,
    "model": Model,
    "destination": Destination,
    "sync": Sync,
}


@dataclass
class StoreState:
    """The workspace's objects by kind and name, and every id's name for reverse lookups.

    Names are not unique in the store (the API allows duplicates), so each name maps to a
    list; config as code refuses to act on an ambiguous name rather than guess.
    """

    by_name: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    by_id: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> dict[str, str]:
        """Every object's name by id, to show references by name."""
        return {i: row.name for i, row in self.by_id.items()}

    def find(self, kind: str, name: str) -> Any | None:
        """The one object of ``kind`` named ``name``, None if there is none.

        Raises:
            ConfigError: several objects of that kind have that name.
        """
        rows = self.by_name[kind].get(name, [])
        if len(rows) > 1:
            ids = ", ".join(r.id for r in rows)
            raise ConfigError(
                [
                    f"the workspace has {len(rows)} {kind}s named {name!r} ({ids}): names are "
                    "the identity in config files; rename or delete all but one first"
                ]
            )
        return rows[0] if rows else None

    def all(self, kind: str) -> list[Any]:
        """Every object of ``kind``, oldest first."""
        rows = [r for group in self.by_name[kind].values() for r in group]
        return sorted(rows, key=lambda r: (r.created_at, r.id))


def read_state(session: Session, *, workspace_id: str) -> StoreState:
    """Load the workspace's sources, models, destinations and syncs.

    Raises:
        ConfigError: the workspace does not exist.
    """
    from syncline.services.errors import NotFoundError

    try:
        get_workspace(session, workspace_id=workspace_id)
    except NotFoundError:
        raise ConfigError([f"workspace {workspace_id} not found"]) from None
    state = StoreState()
    for kind, table in TABLES.items():
        groups: dict[str, list[Any]] = defaultdict(list)
        rows = session.scalars(
            sa.select(table)
            .where(table.workspace_id == workspace_id)
            .order_by(table.created_at, table.id)
        )
        for row in rows:
            groups[row.name].append(row)
            state.by_id[row.id] = row
        state.by_name[kind] = dict(groups)
    return state
