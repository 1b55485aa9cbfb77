"""Re-encrypt every stored connector secret with the newest key (``syncline secrets rotate``).

Rotation also seals values that a connector now marks secret but an older version stored in
clear (a URL with a password, extra headers), so after one rotation nothing is in clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.domain.validation import ValidationError
from syncline.security.secrets import SecretBox, Spec, secret_spec
from syncline.services.connections import Kind, connector_class
from syncline.store.tables import Destination, Source


@dataclass
class RotationReport:
    sources: int = 0
    destinations: int = 0
    changed: int = 0


def _spec(kind: Kind, type_name: str) -> Spec | None:
    try:
        return secret_spec(connector_class(kind, type_name).config_model)
    except ValidationError:  # connector not installed here: its sealed values still rotate
        return None


def rotate_secrets(session: Session, secrets: SecretBox) -> RotationReport:
    """Rotate every source's and destination's config in one transaction.

    Raises:
        SecretError: a stored secret decrypts with none of the keys (nothing is changed).
    """
    report = RotationReport()
    tables: list[tuple[Kind, Any]] = [("source", Source), ("destination", Destination)]
    for kind, table in tables:
        for row in session.scalars(sa.select(table)).all():
            config = dict(row.config or {})
            rotated = secrets.rotate_config(config, spec=_spec(kind, row.type))
            row.config = rotated
            report.changed += int(rotated != config)
            if kind == "source":
                report.sources += 1
            else:
                report.destinations += 1
    session.commit()
    return report
