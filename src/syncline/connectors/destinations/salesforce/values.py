"""Salesforce field metadata and value encoding (JSON for REST, CSV for Bulk API 2.0, SOQL).

Values are encoded by the *destination field's* describe type, not the Arrow type, so an
integer model column lands in a text field as text and a text column in a number field as a
number. What Salesforce cannot take is passed through unchanged and rejected per record.

* Field describe (``name``, ``type``, ``externalId``, ``createable``, ``updateable``,
  ``nillable``, ``caseSensitive``):
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm
* Primitive data types and their JSON/ISO 8601 formats:
  https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/primitive_data_types.htm
* Bulk API 2.0 CSV rules (empty = unchanged, ``#N/A`` = null):
  https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/datafiles_csv_valid_record_rows.htm
* SOQL quoted string escape sequences:
  https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from syncline.connectors.base import FieldSchema

NUMERIC = frozenset({"double", "currency", "percent", "int", "long"})
#: Bulk API 2.0: an empty cell leaves the field unchanged, ``#N/A`` sets it to null.
CSV_NULL = "#N/A"


@dataclass(frozen=True)
class FieldInfo:
    """The describe facts the destination acts on."""

    name: str
    type: str = "string"
    external_id: bool = False
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    defaulted_on_create: bool = False
    case_sensitive: bool = False

    @classmethod
    def from_describe(cls, raw: dict[str, Any]) -> FieldInfo:
        return cls(
            name=str(raw["name"]),
            type=str(raw.get("type", "string")),
            external_id=bool(raw.get("externalId", False)),
            createable=bool(raw.get("createable", True)),
            updateable=bool(raw.get("updateable", True)),
            nillable=bool(raw.get("nillable", True)),
            defaulted_on_create=bool(raw.get("defaultedOnCreate", False)),
            case_sensitive=bool(raw.get("caseSensitive", False)),
        )

    def schema(self) -> FieldSchema:
        """As the mapping validation sees it: required = must be given on create."""
        required = self.createable and not self.nillable and not self.defaulted_on_create
        return FieldSchema(
            self.name,
            self.type,
            required=required,
            is_key=self.external_id or self.type == "id",
        )

    def norm_key(self, value: Any) -> str:
        """A key as Salesforce matches it: numbers by value, text case-insensitively."""
        if self.type in NUMERIC:
            try:
                return str(Decimal(str(value)).normalize())
            except InvalidOperation:
                return str(value)
        text = str(value)
        return text if self.case_sensitive else text.lower()

    def soql_literal(self, key: str) -> str | None:
        """``key`` as a SOQL literal for this field; None if it cannot match (text in a number)."""
        if self.type in NUMERIC:
            try:
                number = Decimal(key)
            except InvalidOperation:
                return None
            return format(number, "f") if number.is_finite() else None
        escaped = "".join(_SOQL_ESCAPES.get(ch, ch) for ch in key)
        return f"'{escaped}'"


_SOQL_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def encode(value: Any, sf_type: str) -> Any:
    """A Python value (from Arrow) as the JSON value a field of ``sf_type`` accepts."""
    if value is None:
        return None
    if sf_type in NUMERIC:
        return _number(value)
    if sf_type == "boolean":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        return value
    if sf_type == "date":
        if isinstance(value, datetime):
            return _utc(value).date().isoformat()
        return value.isoformat() if isinstance(value, date) else value
    if sf_type == "datetime":
        if isinstance(value, datetime):
            return _iso_ms(value)
        if isinstance(value, date):
            return f"{value.isoformat()}T00:00:00.000Z"
        return value
    if sf_type == "time" and isinstance(value, time):
        return value.isoformat(timespec="milliseconds") + "Z"
    return _text(value)


def csv_cell(value: Any, sf_type: str, *, skip_nulls: bool) -> str:
    """A value as one Bulk API 2.0 CSV cell (the csv module adds the quoting)."""
    encoded = encode(value, sf_type)
    if encoded is None or encoded == "":
        # Salesforce stores an empty string as null, so both clear the field, unless NULL
        # means "leave it as it is" (skip_nulls), which an empty cell says.
        return "" if (encoded is None and skip_nulls) else CSV_NULL
    if isinstance(encoded, bool):
        return "true" if encoded else "false"
    if isinstance(encoded, float):
        return repr(encoded)
    return str(encoded)


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        # JSON numbers: exact for integers; Salesforce keeps at most 18 digits anyway.
        return int(value) if value == value.to_integral_value() else float(value)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return value  # let Salesforce reject it, for this record only
    return int(number) if number == number.to_integral_value() else float(number)


def _text(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return _iso_ms(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _utc(value: datetime) -> datetime:
    # Arrow timestamps without a time zone are UTC by Syncline's convention.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso_ms(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds: Salesforce keeps datetimes to the millisecond."""
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
