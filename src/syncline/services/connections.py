"""What sources and destinations share: connector type checks and encrypted, validated configs.

Which values are secrets is declared by the connector's config model (``secret_spec``).
A config is validated by the connector's own pydantic model *with its secrets in clear*
(a masked ``********`` sent back on update is first replaced by the stored secret), then stored
with every secret encrypted. API answers only ever show ``mask_config`` of the stored form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import pydantic
import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.connectors import registry
from syncline.domain.validation import ErrorDetail, ValidationError
from syncline.security.secrets import MASK, SecretBox, SecretError, secret_spec, still_masked
from syncline.services.common import Page, PageRequest, get_scoped, paginate
from syncline.services.errors import ConflictError
from syncline.store.tables import Destination, Model, Source, Sync

Kind = Literal["source", "destination"]
Row = TypeVar("Row", Source, Destination)


@dataclass(frozen=True)
class Connections(Generic[Row]):
    """How one kind of connection is stored and who uses it: the CRUD below serves both.

    ``user`` is the table whose rows point at a connection through ``user_fk`` (models read
    from a source, syncs write to a destination); a used connection cannot be deleted.
    ``on_type_change`` vets a type change against the users (destinations check sync modes).
    """

    kind: Kind
    table: type[Row]
    label: str
    user: type[Model] | type[Sync]
    user_fk: Any
    user_label: str
    on_type_change: Callable[[Session, Any, Any], None] | None = None

    def list(
        self,
        session: Session,
        *,
        workspace_id: str,
        page: PageRequest,
        type: str | None = None,
        q: str | None = None,
    ) -> Page[Row]:
        """A page of the workspace's connections, optionally of one ``type`` or named like ``q``."""
        t = self.table
        stmt = sa.select(t).where(t.workspace_id == workspace_id)
        if type:
            stmt = stmt.where(t.type == type)
        if q:
            stmt = stmt.where(sa.func.lower(t.name).contains(q.lower(), autoescape=True))
        return paginate(session, stmt, page=page, order_by=[t.created_at, t.id])

    def get(self, session: Session, *, workspace_id: str, id: str) -> Row:
        """One connection of the workspace, or NotFoundError(label)."""
        return get_scoped(session, self.table, workspace_id=workspace_id, id=id, kind=self.label)

    def create(
        self,
        session: Session,
        *,
        secrets: SecretBox,
        workspace_id: str,
        name: str,
        type: str,
        config: dict[str, Any],
    ) -> Row:
        """Create after checking the type and config; secrets are stored encrypted."""
        cls = connector_class(self.kind, type)
        row = self.table(
            workspace_id=workspace_id,
            name=name,
            type=type,
            config=seal_config(secrets, cls, config),
        )
        session.add(row)
        session.commit()
        return row

    def update(
        self,
        session: Session,
        *,
        secrets: SecretBox,
        workspace_id: str,
        id: str,
        name: str | None = None,
        type: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> Row:
        """Change a connection; a ``config`` replaces the old one (``********`` keeps a secret)."""
        row = self.get(session, workspace_id=workspace_id, id=id)
        new_type = type if type is not None else row.type
        cls = connector_class(self.kind, new_type)
        if config is not None or new_type != row.type:
            row.config = seal_config(
                secrets, cls, config if config is not None else row.config, previous=row.config
            )
        if new_type != row.type and self.on_type_change is not None:
            self.on_type_change(session, row, cls)
        row.type = new_type
        if name is not None:
            row.name = name
        session.commit()
        return row

    def delete(self, session: Session, *, workspace_id: str, id: str) -> None:
        """Delete a connection; refused (ConflictError) while something uses it."""
        row = self.get(session, workspace_id=workspace_id, id=id)
        u = self.user
        users = session.execute(
            sa.select(u.id, u.name).where(self.user_fk == row.id).order_by(u.name)
        ).all()
        if users:
            names = ", ".join(f"{n} ({i})" for i, n in users)
            raise ConflictError(f"{self.label} is used by {self.user_label}: {names}")
        session.delete(row)
        session.commit()


def connector_class(kind: Kind, type_name: str, *, loc: tuple[str, ...] = ("body", "type")) -> Any:
    """The installed connector class of ``type_name``, or a 422 listing the valid types."""
    types: dict[str, Any] = (
        dict(registry.source_types()) if kind == "source" else dict(registry.destination_types())
    )
    try:
        return types[type_name]
    except KeyError:
        valid = ", ".join(sorted(types)) or "(none installed)"
        raise ValidationError.at(
            loc, f"unknown {kind} type {type_name!r}; valid types: {valid}", "enum"
        ) from None


def config_errors(
    exc: pydantic.ValidationError, loc: tuple[str | int, ...] = ("body", "config")
) -> ValidationError:
    """A connector config's pydantic errors as API errors, without echoing the input."""
    return ValidationError(
        [ErrorDetail((*loc, *e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
    )


def seal_config(
    secrets: SecretBox,
    cls: Any,
    config: dict[str, Any],
    *,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate ``config`` for connector ``cls`` and return its stored (encrypted) form.

    Args:
        secrets: the process's secret box.
        cls: the connector class (its ``config_model`` validates).
        config: the config as the user sent it; ``********`` keeps the previous secret.
        previous: the stored config being replaced, if any.
    """
    spec = secret_spec(cls.config_model)
    try:
        stored = secrets.encrypt_config(config, previous=previous, spec=spec)
        clear = secrets.decrypt_config(stored)
        masked = still_masked(clear, spec)
        if masked:
            raise ValidationError.at(
                ("body", "config", *masked),
                f"{MASK} keeps a stored secret, but there is none to keep here: send the value",
            )
        registry.validate_config(cls, clear, saving=True)
    except pydantic.ValidationError as exc:
        raise config_errors(exc) from None
    except SecretError as exc:
        raise ValidationError.at(("body", "config"), str(exc)) from None
    return stored
