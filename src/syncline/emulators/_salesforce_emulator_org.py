"""The data side of the Salesforce emulator: objects, records and Salesforce's write rules.

Field rules follow the documented behaviour: per-record errors are
``{"statusCode", "message", "fields"}`` (INVALID_FIELD, INVALID_FIELD_FOR_INSERT_UPDATE,
REQUIRED_FIELD_MISSING, INVALID_EMAIL_ADDRESS, STRING_TOO_LONG, DUPLICATE_VALUE, ...), an empty
string is stored as null, datetimes are kept to the millisecond, external IDs and text match
case-insensitively unless the field is case-sensitive.

* Data types: https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/primitive_data_types.htm
* Status codes: https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_concepts_core_data_objects.htm
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from syncline.emulators._crm_emulator_http import Response, json_response

__all__ = [
    "CONTACT_FIELDS",
    "LIMIT",
    "RecordFailure",
    "SObject",
    "SfField",
    "norm",
    "rec_error",
    "sf_error",
]

NUMERIC = {"double", "currency", "percent", "int", "long"}
LIMIT = 200
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class SfField:
    """A field of an emulated object, as describe reports it."""

    name: str
    type: str = "string"
    external_id: bool = False
    unique: bool = False
    required: bool = False
    createable: bool = True
    updateable: bool = True
    length: int = 255
    case_sensitive: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "length": self.length if self.type not in NUMERIC else 0,
            "externalId": self.external_id,
            "unique": self.unique,
            "idLookup": self.external_id or self.unique or self.type == "id",
            "createable": self.createable,
            "updateable": self.updateable,
            "nillable": not self.required,
            "defaultedOnCreate": self.type == "id",
            "caseSensitive": self.case_sensitive,
            "custom": self.name.endswith("__c"),
        }


CONTACT_FIELDS = [
    SfField("LastName", required=True, length=80),
    SfField("FirstName", length=40),
    SfField("Email", "email", length=80),
    SfField("External_Id__c", external_id=True, unique=True),
]

ID_FIELD = SfField("Id", "id", createable=False, updateable=False, length=18)


class RecordFailure(Exception):
    """Per-record errors: ``[{"statusCode", "message", "fields"}]``."""

    def __init__(self, *errors: dict[str, Any]) -> None:
        super().__init__(errors[0]["message"])
        self.errors = list(errors)


def sf_error(status: int, code: str, message: str, **headers: str) -> Response:
    """A whole-request error body: ``[{"message", "errorCode"}]``."""
    return json_response(status, [{"message": message, "errorCode": code}], headers)


def rec_error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": fields or []}


class SObject:
    """One object's schema and records (by Id), with Salesforce's write rules."""

    def __init__(self, name: str, fields: list[SfField], prefix: str) -> None:
        self.name = name
        self.prefix = prefix
        self.fields = {f.name.lower(): f for f in [ID_FIELD, *fields]}
        self.rows: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()
        self.rejects: list[tuple[str, set[str], str, str]] = []
        self._seq = 0

    def new_id(self) -> str:
        self._seq += 1
        return f"{self.prefix}{self._seq:012d}AAA"

    def find(self, name: str, value: Any) -> list[str]:
        f = self.fields[name.lower()]
        want = norm(f, value)
        return [i for i, row in self.rows.items() if norm(f, row.get(f.name)) == want]

    def create(self, values: dict[str, Any]) -> str:
        clean = self._check(values, None)
        record_id = self.new_id()
        self.rows[record_id] = {"Id": record_id, **{f.name: None for f in self.fields.values()}}
        self.rows[record_id].update(clean, Id=record_id)
        return record_id

    def update(self, record_id: str, values: dict[str, Any]) -> None:
        if record_id not in self.rows:
            self.delete(record_id)  # raises the "is not there" error a delete would
        self.rows[record_id].update(self._check(values, record_id))

    def delete(self, record_id: str) -> None:
        if record_id not in self.rows:
            code = (
                "ENTITY_IS_DELETED" if record_id in self.deleted else "INVALID_CROSS_REFERENCE_KEY"
            )
            message = (
                "entity is deleted" if record_id in self.deleted else "invalid cross reference id"
            )
            raise RecordFailure(rec_error(code, message))
        del self.rows[record_id]
        self.deleted.add(record_id)

    def upsert(self, ext: str, values: dict[str, Any]) -> tuple[str, bool]:
        key = next((v for k, v in values.items() if k.lower() == ext.lower()), None)
        if key in (None, ""):
            raise RecordFailure(rec_error("MISSING_ARGUMENT", f"{ext} not specified"))
        matches = self.find(ext, key)
        if len(matches) > 1:
            message = f"{ext}: more than one record found for external id field: {matches}"
            raise RecordFailure(rec_error("DUPLICATE_EXTERNAL_ID", message, [ext]))
        if matches:
            self.update(matches[0], values)
            return matches[0], False
        return self.create(values), True

    def _check(self, values: dict[str, Any], record_id: str | None) -> dict[str, Any]:
        """Validated, normalised values; raises RecordFailure with every problem found."""
        creating = record_id is None
        errors, clean = [], {}
        for name, value in values.items():
            f = self.fields.get(name.lower())
            if f is None:
                errors.append(
                    rec_error(
                        "INVALID_FIELD", f"No such column '{name}' on sobject of type {self.name}"
                    )
                )
                continue
            if f.type == "id" or not (f.createable if creating else f.updateable):
                verb = "create" if creating else "update"
                message = f"Unable to {verb} fields: {f.name}. Please check the security settings."
                errors.append(rec_error("INVALID_FIELD_FOR_INSERT_UPDATE", message, [f.name]))
                continue
            try:
                clean[f.name] = _coerce(f, value)
            except RecordFailure as exc:
                errors += exc.errors
        merged = {**(self.rows.get(record_id or "") or {}), **clean}
        missing = [
            f.name for f in self.fields.values() if f.required and merged.get(f.name) is None
        ]
        if missing:
            message = f"Required fields are missing: [{', '.join(missing)}]"
            errors.append(rec_error("REQUIRED_FIELD_MISSING", message, missing))
        for fname, rejected, message, code in self.rejects:
            if str(merged.get(fname)) in rejected:
                errors.append(rec_error(code, message, [fname]))
        for f in self.fields.values():
            if f.unique and clean.get(f.name) is not None:
                other = [i for i in self.find(f.name, clean[f.name]) if i != record_id]
                if other:
                    message = (
                        f"duplicate value found: {f.name} duplicates value on record with id: "
                        f"{other[0]}"
                    )
                    errors.append(rec_error("DUPLICATE_VALUE", message, [f.name]))
        if errors:
            raise RecordFailure(*errors)
        return clean


def norm(f: SfField, value: Any) -> Any:
    if value is None:
        return None
    if f.type in NUMERIC:
        try:
            return Decimal(str(value)).normalize()
        except InvalidOperation:
            return str(value)
    return str(value) if f.case_sensitive else str(value).lower()


def _bad(f: SfField, value: Any) -> RecordFailure:
    message = f"{f.name}: value not of required type: {value}"
    return RecordFailure(rec_error("INVALID_TYPE_ON_FIELD_IN_RECORD", message, [f.name]))


def _coerce(f: SfField, value: Any) -> Any:
    """A JSON (or CSV text) value as Salesforce would store it; an empty string is null."""
    if value is None or value == "":
        return None
    if f.type in NUMERIC:
        try:
            number = Decimal(str(value)) if not isinstance(value, bool) else None
        except InvalidOperation:
            number = None
        if number is None or (f.type in ("int", "long") and number != number.to_integral_value()):
            raise _bad(f, value)
        return int(number) if f.type in ("int", "long") else float(number)
    if f.type == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise _bad(f, value)
    text = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        if f.type == "date":
            return date.fromisoformat(text[:10]).isoformat() if len(text) == 10 else _fail()
        if f.type == "datetime":
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
            return parsed.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
    except ValueError:
        raise _bad(f, value) from None
    if f.type == "email" and not EMAIL.match(text):
        raise RecordFailure(
            rec_error("INVALID_EMAIL_ADDRESS", f"{f.name}: invalid email address: {text}", [f.name])
        )
    if len(text) > f.length:
        message = f"{f.name}: data value too large: {text[:40]} (max length={f.length})"
        raise RecordFailure(rec_error("STRING_TOO_LONG", message, [f.name]))
    return text


def _fail() -> Any:
    raise ValueError("not an ISO date")
