"""The connector catalog: installed types, connection checks and a destination's objects.

Everything here works over whatever the registry lists, so a connector added by a third party
shows up with its JSON Schema and can be checked without any change to the core. A stored
config is decrypted only to hand it to a connector; messages that go back to the caller are
passed through :func:`mask_secrets` first, because drivers sometimes echo what they were given.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

import pydantic
from sqlalchemy.orm import Session

from syncline.connectors import registry
from syncline.connectors.base import Capabilities, CheckResult, ConnectorError, ObjectSchema
from syncline.security.redact import redact
from syncline.security.secrets import MASK, SecretBox, SecretError, is_secret_key
from syncline.services.common import get_scoped, utcnow
from syncline.services.errors import ConflictError, NotFoundError, UpstreamError
from syncline.store.tables import Destination, Source

log = logging.getLogger(__name__)

Kind = Literal["source", "destination"]

# Display names of the bundled connectors; a third-party one may declare ``display_name``.
_DISPLAY_NAMES = {
    "duckdb": "DuckDB",
    "file": "File",
    "hubspot": "HubSpot",
    "mysql": "MySQL / MariaDB",
    "postgres": "PostgreSQL",
    "salesforce": "Salesforce",
    "sqlite": "SQLite",
    "webhook": "Webhook",
}
# Config keys that name the object a destination writes to, most specific first.
OBJECT_KEYS = ("object", "object_type", "table")
_KV_PASSWORD_RE = re.compile(r"password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&']+)", re.IGNORECASE)


@dataclass(frozen=True)
class ConnectorType:
    """One installed connector as the catalog shows it."""

    type: str
    name: str
    description: str
    config_schema: dict[str, Any]
    capabilities: Capabilities | None = None


@dataclass(frozen=True)
class CheckOutcome:
    """The result of a connection test; ``ok=False`` still means the test ran."""

    ok: bool
    message: str
    checked_at: datetime


def connector_types(kind: Kind) -> list[ConnectorType]:
    """Every installed connector of ``kind``, by type name (destinations with capabilities)."""
    return [_describe(kind, name, cls) for name, cls in sorted(_installed(kind).items())]


def get_connector_type(kind: Kind, type_name: str) -> ConnectorType:
    """One installed connector type, or NotFoundError("Source type" / "Destination type")."""
    cls = _installed(kind).get(type_name)
    if cls is None:
        raise NotFoundError(f"{kind.capitalize()} type")
    return _describe(kind, type_name, cls)


def _installed(kind: Kind) -> dict[str, Any]:
    # Asked on every call: the registry already skips (and logs) connectors that fail to import.
    return dict(registry.source_types() if kind == "source" else registry.destination_types())


def _describe(kind: Kind, type_name: str, cls: Any) -> ConnectorType:
    declared = getattr(cls, "display_name", None)
    name = declared if isinstance(declared, str) else _DISPLAY_NAMES.get(type_name)
    doc = (inspect.getdoc(cls) or "").strip()
    model: type[pydantic.BaseModel] = cls.config_model
    return ConnectorType(
        type=type_name,
        name=name or type_name.replace("_", " ").title(),
        description=doc.splitlines()[0] if doc else "",
        # secret fields carry writeOnly / format: password from their markers (domain/secrets.py)
        config_schema=model.model_json_schema(by_alias=True),
        capabilities=cls.capabilities if kind == "destination" else None,
    )


def mask_secrets(message: str, config: dict[str, Any]) -> str:
    """``message`` with every secret value of ``config`` (and passwords in DSNs) masked.

    Besides the values the secret box decrypted, anything under a secret-sounding key is
    masked too: over-masking a message costs nothing.
    """
    for value in sorted(_secret_values(config), key=len, reverse=True):
        if len(value) >= 4:
            message = message.replace(value, MASK)
        else:  # a very short secret is masked only as a whole word, not inside other words
            message = re.sub(rf"(?<!\w){re.escape(value)}(?!\w)", MASK, message)
    return redact(message)


def _secret_values(config: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for key, value in config.items():
        if isinstance(value, dict):
            out |= _secret_values(value)
        elif is_secret_key(key) and value is not None and str(value):
            text = str(value)
            out |= {text, *_embedded_passwords(text)}
    return out


def _embedded_passwords(text: str) -> set[str]:
    """Passwords inside a URL (``user:pw@host``) or a ``password=...`` key-value string."""
    found: set[str] = set()
    try:
        password = urlsplit(text).password
    except ValueError:
        password = None
    if password:
        found |= {password, unquote(password)}
    for match in _KV_PASSWORD_RE.finditer(text):
        value = match.group(1)
        found.add(value[1:-1].replace("\\'", "'") if value.startswith("'") else value)
    return {v for v in found if v}


def check_source(
    session: Session, *, secrets: SecretBox, workspace_id: str, source_id: str
) -> CheckOutcome:
    """Test a source's connection with its stored config (NotFoundError("Source"))."""
    type_name, stored = _stored(session, Source, workspace_id, source_id, "Source")
    return check_stored("source", type_name, stored, secrets)


def check_destination(
    session: Session, *, secrets: SecretBox, workspace_id: str, destination_id: str
) -> CheckOutcome:
    """Test a destination's connection with its stored config (NotFoundError("Destination"))."""
    type_name, stored = _stored(session, Destination, workspace_id, destination_id, "Destination")
    return check_stored("destination", type_name, stored, secrets)


def _stored(
    session: Session, table: type[Source | Destination], workspace_id: str, id: str, kind: str
) -> tuple[str, dict[str, Any]]:
    row = get_scoped(session, table, workspace_id=workspace_id, id=id, kind=kind)
    found = (row.type, dict(row.config or {}))
    session.rollback()  # hand the store connection back while the connector uses the network
    return found


class _CannotOpen(Exception):
    """The stored connection cannot even be opened; the message says why, without values."""


def _open(
    kind: Kind, type_name: str, stored: dict[str, Any], secrets: SecretBox
) -> tuple[Any, dict[str, Any]]:
    """A connector over the decrypted config, and that config (to mask its secrets)."""
    try:
        clear = secrets.decrypt_config(stored)
        opener: Any = registry.open_source if kind == "source" else registry.open_destination
        return opener(type_name, clear), clear
    except (registry.UnknownConnectorError, ImportError):
        raise _CannotOpen(f"{kind} type {type_name!r} is not installed") from None
    except pydantic.ValidationError as exc:
        raise _CannotOpen(
            f"the stored config is no longer valid: {_describe_errors(exc)}"
        ) from None
    except SecretError as exc:
        raise _CannotOpen(str(exc)) from None


def check_stored(
    kind: Kind, type_name: str, stored: dict[str, Any], secrets: SecretBox
) -> CheckOutcome:
    """Test a connection from its stored (encrypted) config: the connector's ``check()``, its
    message with every secret masked. Never raises: a connector that cannot be opened, or
    whose check raises, is a failed check with the reason."""
    try:
        conn, clear = _open(kind, type_name, stored, secrets)
    except _CannotOpen as exc:
        return CheckOutcome(False, str(exc), utcnow())
    try:
        result: CheckResult = conn.check()
    except Exception as exc:  # check() should not raise; a buggy connector still answers
        log.warning("%s %s: check() raised", kind, type_name, exc_info=True)
        result = CheckResult(False, f"check failed: {type(exc).__name__}: {exc}")
    finally:
        _close(conn)
    return CheckOutcome(bool(result.ok), mask_secrets(result.message, clear), utcnow())


def list_objects(
    session: Session, *, secrets: SecretBox, workspace_id: str, destination_id: str
) -> list[ObjectSchema]:
    """The objects (tables, CRM objects) a destination offers, with their fields.

    Raises:
        NotFoundError: no such destination in the workspace.
        ConflictError: the destination cannot be opened (type not installed, config invalid).
        UpstreamError: the destination failed while listing.
    """
    type_name, stored = _stored(session, Destination, workspace_id, destination_id, "Destination")
    return _objects(type_name, stored, secrets)


def get_object(
    session: Session,
    *,
    secrets: SecretBox,
    workspace_id: str,
    destination_id: str,
    object_name: str,
) -> ObjectSchema:
    """One object of a destination, or NotFoundError("Object"); errors as ``list_objects``."""
    objects = list_objects(
        session, secrets=secrets, workspace_id=workspace_id, destination_id=destination_id
    )
    found = next((obj for obj in objects if obj.name == object_name), None)
    if found is None:
        raise NotFoundError("Object")
    return found


def _objects(type_name: str, stored: dict[str, Any], secrets: SecretBox) -> list[ObjectSchema]:
    try:
        destination, clear = _open("destination", type_name, stored, secrets)
    except _CannotOpen as exc:
        raise ConflictError(f"{exc}; fix the destination first") from None
    try:
        return list(destination.objects())
    except ConnectorError as exc:
        raise UpstreamError(mask_secrets(str(exc), clear)) from exc
    except Exception as exc:
        log.exception("destination %s: objects() failed", type_name)
        detail = f"listing objects failed: {type(exc).__name__}: {exc}"
        raise UpstreamError(mask_secrets(detail, clear)) from exc
    finally:
        _close(destination)


def target_fields(
    type_name: str, stored: dict[str, Any], secrets: SecretBox
) -> tuple[str, list[str]] | None:
    """The target object of a destination and its field names, when they can be known.

    None means "do not check mappings against fields": the type lists no fields, its config
    names no object (``object``, ``object_type`` or ``table``), it creates missing objects and
    fields itself (``create_table``), the object does not exist yet, or the destination could
    not be asked (logged; a sync must not be refused because a CRM is briefly down).
    """
    try:
        cls: Any = registry.destination_class(type_name)
        if not cls.capabilities.lists_fields:
            return None
        clear = secrets.decrypt_config(stored)
        # The validated model's dump includes defaults (e.g. HubSpot's object_type "contacts").
        config = registry.validate_config(cls, clear).model_dump(by_alias=True)
    except Exception:
        log.warning("destination %s: cannot read its config to check fields", type_name)
        return None
    name = next((config[k] for k in OBJECT_KEYS if isinstance(config.get(k), str)), None)
    if not name or config.get("create_table") is True:
        return None
    try:
        objects = _objects(type_name, stored, secrets)
    except (ConflictError, UpstreamError) as exc:
        log.warning("destination %s: objects not listed, fields not checked: %s", type_name, exc)
        return None
    found = next((obj for obj in objects if obj.name == name), None)
    return (name, [f.name for f in found.fields]) if found is not None else None


def _describe_errors(exc: pydantic.ValidationError) -> str:
    """Pydantic errors without the input values (they may be secrets)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False)
    )


def _close(conn: Any) -> None:
    # The answer is already known; a connector that fails to close must not change it.
    with contextlib.suppress(Exception):
        conn.close()
