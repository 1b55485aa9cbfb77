"""The data side of the HubSpot emulator: property definitions, objects, validation.

Property values are strings; an empty string clears a property. Writes are checked the way
the CRM API documents: unknown properties (PROPERTY_DOESNT_EXIST), read-only ones
(READ_ONLY_VALUE), numbers, booleans, dates (``YYYY-MM-DD`` or epoch milliseconds),
datetimes (ISO 8601 or epoch milliseconds), enumeration options, contact emails, and unique
values (a second object with the same value is a CONFLICT). Each failure becomes the batch
error object ``{"status", "category", "message", "context", "errors"}``.

* Properties: https://developers.hubspot.com/docs/api/crm/properties
* Property types and value formats: https://developers.hubspot.com/docs/api/crm/properties#property-type-and-fieldtype-values
* Batch errors: https://developers.hubspot.com/docs/api-reference/error-handling
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["CONTACT_PROPERTIES", "BatchError", "HsObjects", "HsProperty", "copy_row"]

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class HsProperty:
    """A property definition as ``GET /crm/v3/properties/{objectType}`` reports it."""

    name: str
    type: str = "string"  # string | number | bool | date | datetime | enumeration
    field_type: str = "text"
    unique: bool = False
    read_only: bool = False
    options: tuple[str, ...] = ()

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.name.replace("_", " ").title(),
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": "syncline",
            "description": "",
            "hasUniqueValue": self.unique,
            "options": [{"label": o, "value": o, "hidden": False} for o in self.options],
            "modificationMetadata": {
                "archivable": True,
                "readOnlyDefinition": self.read_only,
                "readOnlyValue": self.read_only,
            },
            "calculated": False,
            "externalOptions": False,
            "hidden": False,
            "formField": True,
        }


CONTACT_PROPERTIES = [
    HsProperty("email"),
    HsProperty("firstname"),
    HsProperty("lastname"),
    HsProperty("lifecyclestage", "enumeration", "select", options=("lead", "customer")),
]


class BatchError(Exception):
    """One input's failure, carrying HubSpot's error object."""

    def __init__(self, category: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.body: dict[str, Any] = {"status": "error", "category": category, "message": message}
        self.body.update(details)


class HsObjects:
    """The objects of one type (by internal id) with HubSpot's write rules."""

    def __init__(self, object_type: str, properties: list[HsProperty], first_id: int) -> None:
        self.object_type = object_type
        self.properties = {p.name: p for p in properties}
        self.properties.setdefault(
            "hs_object_id", HsProperty("hs_object_id", "number", read_only=True)
        )
        self.rows: dict[str, dict[str, Any]] = {}
        self.archived: dict[str, dict[str, Any]] = {}
        self.rejects: list[tuple[str, set[str], str]] = []
        self._next = first_id
        # unique property -> normalised value -> object id; kept in step by every write
        self._index: dict[str, dict[Any, str]] = {}
        self._undo: dict[str, dict[str, Any] | None] | None = None

    @property
    def singular(self) -> str:
        return "Contact" if self.object_type == "contacts" else "Object"

    def unique(self, name: str) -> bool:
        prop = self.properties.get(name)
        return bool(prop and prop.unique) or (self.object_type, name) == ("contacts", "email")

    def find(self, name: str, value: Any) -> str | None:
        """The object holding ``value`` in ``name``: an index lookup for unique properties."""
        want = _norm(name, value)
        if self.unique(name):
            return self._index.setdefault(name, {}).get(want)
        return next(
            (i for i, o in self.rows.items() if _norm(name, o["properties"].get(name)) == want),
            None,
        )

    def create(self, properties: dict[str, Any]) -> dict[str, Any]:
        clean = self.check(properties, None)
        object_id = str(self._next)
        self._next += 1
        now = _now()
        clean = {k: v for k, v in clean.items() if v is not None}
        self._remember(object_id)
        self.rows[object_id] = {
            "id": object_id,
            "properties": {**clean, "hs_object_id": object_id},
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }
        self._reindex(object_id)
        return self.rows[object_id]

    def update(self, object_id: str, properties: dict[str, Any]) -> dict[str, Any]:
        clean = self.check(properties, object_id)
        self._remember(object_id)
        self._unindex(object_id)
        row = self.rows[object_id]
        for name, value in clean.items():
            if value is None:
                row["properties"].pop(name, None)
            else:
                row["properties"][name] = value
        row["updatedAt"] = _now()
        self._reindex(object_id)
        return row

    def archive(self, object_id: str) -> None:
        self._unindex(object_id)
        row = self.rows.pop(object_id, None)
        if row is not None:
            self.archived[object_id] = {**row, "archived": True, "archivedAt": _now()}

    # -- all-or-nothing batches: an undo log of the touched objects, not a store copy ----------

    def begin(self) -> None:
        """Start remembering each touched object's prior state, for ``rollback``."""
        self._undo = {}

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        """Put back every object touched since ``begin`` (and its index entries)."""
        undo, self._undo = self._undo or {}, None
        for object_id, before in undo.items():
            self._unindex(object_id)
            if before is None:
                self.rows.pop(object_id, None)
            else:
                self.rows[object_id] = before
                self._reindex(object_id)

    def _remember(self, object_id: str) -> None:
        if self._undo is not None and object_id not in self._undo:
            row = self.rows.get(object_id)
            self._undo[object_id] = None if row is None else copy_row(row)

    def _unique_names(self) -> list[str]:
        names = [n for n in self.properties if self.unique(n)]
        return (
            [*names, "email"] if self.object_type == "contacts" and "email" not in names else names
        )

    def _unindex(self, object_id: str) -> None:
        row = self.rows.get(object_id)
        if row is None:
            return
        for name in self._unique_names():
            value = row["properties"].get(name)
            index = self._index.setdefault(name, {})
            if value is not None and index.get(_norm(name, value)) == object_id:
                del index[_norm(name, value)]

    def _reindex(self, object_id: str) -> None:
        row = self.rows[object_id]
        for name in self._unique_names():
            value = row["properties"].get(name)
            if value is not None:
                self._index.setdefault(name, {})[_norm(name, value)] = object_id

    def check(self, properties: dict[str, Any], object_id: str | None) -> dict[str, Any]:
        """Validated values (None = clear); raises BatchError listing every invalid one."""
        invalid: list[tuple[str, str, str]] = []
        clean: dict[str, str | None] = {}
        for name, raw in properties.items():
            prop = self.properties.get(name)
            value = "" if raw is None else str(raw).lower() if isinstance(raw, bool) else str(raw)
            if prop is None:
                invalid.append(("PROPERTY_DOESNT_EXIST", name, f'Property "{name}" does not exist'))
            elif prop.read_only:
                invalid.append(("READ_ONLY_VALUE", name, f'"{name}" is a read only property'))
            elif value == "":
                clean[name] = None
            elif problem := _problem(self.object_type, prop, value):
                invalid.append((problem[0], name, problem[1]))
            else:
                clean[name] = _normal(prop, value)
        current = {**(self.rows[object_id]["properties"] if object_id else {}), **clean}
        for name, values, message in self.rejects:
            if str(current.get(name)) in values:
                invalid.append(("VALIDATION_RULE", name, message))
        if invalid:
            details = [
                {"isValid": False, "message": m, "error": c, "name": n} for c, n, m in invalid
            ]
            raise BatchError(
                "VALIDATION_ERROR",
                f"Property values were not valid: {json.dumps(details)}",
                errors=[{"message": m, "code": c, "in": n} for c, n, m in invalid],
            )
        for name, new in clean.items():
            other = self.find(name, new) if new is not None and self.unique(name) else None
            if other is not None and other != object_id:
                raise BatchError(
                    "CONFLICT", f"{self.singular} already exists. Existing ID: {other}"
                )
        return clean


def copy_row(row: dict[str, Any]) -> dict[str, Any]:
    """A copy deep enough to undo a write: values are strings, only ``properties`` nests."""
    return {**row, "properties": dict(row["properties"])}


def _norm(name: str, value: Any) -> Any:
    if value is None:
        return None
    return str(value).lower() if name == "email" else str(value)


def _problem(object_type: str, prop: HsProperty, value: str) -> tuple[str, str] | None:
    """(error code, message) when a value does not fit its property."""
    try:
        if prop.type == "number":
            float(value)
        elif prop.type == "bool" and value not in ("true", "false"):
            return "INVALID_BOOLEAN", f"{value} is not a valid boolean (true or false)"
        elif prop.type in ("date", "datetime") and not value.isdigit():
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if prop.type == "date" and (len(value) != 10 or parsed.time() != datetime.min.time()):
                return "INVALID_DATE", f"{value} is not a valid date (YYYY-MM-DD)"
        elif prop.type == "enumeration" and prop.options and value not in prop.options:
            return "INVALID_OPTION", f"{value} was not one of the allowed options: {prop.options}"
    except ValueError:
        return f"INVALID_{prop.type.upper()}", f"{value} is not a valid {prop.type}"
    if (object_type, prop.name) == ("contacts", "email") and not EMAIL.match(value):
        return "INVALID_EMAIL", f"Email address {value} is invalid"
    return None


def _normal(prop: HsProperty, value: str) -> str:
    """How HubSpot gives a value back: datetimes in UTC with milliseconds, emails lowered."""
    if prop.type == "datetime" and not value.isdigit():
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"
    if prop.type == "date" and not value.isdigit():
        return date.fromisoformat(value).isoformat()
    return value.lower() if prop.name == "email" else value


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
