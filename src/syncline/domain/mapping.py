"""Field mappings: which source column (or constant) fills which destination field."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from syncline.domain.enums import FieldNormalization, TypeCast


class FieldMapping(BaseModel):
    """One mapping item. Exactly one of ``source_column`` and ``constant_value`` is set."""

    model_config = ConfigDict(extra="forbid")

    source_column: str | None = Field(default=None, min_length=1, examples=["email"])
    constant_value: Any = Field(default=None, examples=["web"])
    destination_field: str = Field(min_length=1, examples=["Email"])
    type_cast: TypeCast | None = Field(default=None, examples=["string"])

    @model_validator(mode="after")
    def _one_origin(self) -> FieldMapping:
        has_column = self.source_column is not None
        has_constant = "constant_value" in self.model_fields_set and self.constant_value is not None
        if has_column == has_constant:
            raise ValueError("a mapping needs exactly one of source_column or constant_value")
        return self


_WORD_RE = re.compile(r"[A-Za-z0-9]+")
_CAMEL_SPLIT_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _words(name: str) -> list[str]:
    return _WORD_RE.findall(_CAMEL_SPLIT_RE.sub(" ", name))


def normalize_field_name(name: str, style: FieldNormalization | None) -> str:
    """Name a destination field after a source column, as ``field_normalization`` asks."""
    if style is None or style == FieldNormalization.MATCH_SOURCE_NAMES:
        return name
    words = _words(name) or [name]
    if style == FieldNormalization.SNAKE_CASE:
        return "_".join(w.lower() for w in words)
    if style == FieldNormalization.CAMEL_CASE:
        head, *rest = (w.lower() for w in words)
        return head + "".join(w.capitalize() for w in rest)
    if style == FieldNormalization.START_CASE:
        return " ".join(w.capitalize() for w in words)
    if style == FieldNormalization.LOWER_CASE:
        return " ".join(w.lower() for w in words)
    if style == FieldNormalization.UPPER_CASE:
        return " ".join(w.upper() for w in words)
    return name


def sync_all_mappings(
    columns: list[str], style: FieldNormalization | None, *, exclude: set[str] | None = None
) -> list[FieldMapping]:
    """The mappings ``field_behavior: sync_all_properties`` implies: every model column."""
    skip = exclude or set()
    return [
        FieldMapping(source_column=c, destination_field=normalize_field_name(c, style))
        for c in columns
        if c not in skip
    ]


def ordered_fields(names: list[str], field_order: str | None) -> list[str]:
    """Destination fields in the order a sync's ``field_order`` asks for.

    ``alphabetical_column_name`` sorts case-insensitively (ties by exact name);
    ``mapping_order`` and no setting keep the mapping's order.
    """
    if field_order == "alphabetical_column_name":
        return sorted(names, key=lambda n: (n.casefold(), n))
    return list(names)
