"""Compile a sync's field mapping into DuckDB SQL: values, cast checks and the row hash.

Everything is vectorised SQL over the staged model; no Python runs per row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from syncline.domain.enums import FieldBehavior, FieldNormalization, TypeCast
from syncline.domain.mapping import FieldMapping, ordered_fields, sync_all_mappings

_CAST_SQL: dict[TypeCast, str] = {
    TypeCast.STRING: "VARCHAR",
    TypeCast.INTEGER: "BIGINT",
    TypeCast.NUMBER: "DOUBLE",
    TypeCast.BOOLEAN: "BOOLEAN",
    TypeCast.DATETIME: "TIMESTAMPTZ",
    TypeCast.DATE: "DATE",
    TypeCast.JSON: "JSON",
}


def quote_ident(name: str) -> str:
    """A DuckDB identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def constant_sql(value: Any) -> str:
    """A mapping constant as a typed SQL literal."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return f"CAST({value} AS BIGINT)"
    if isinstance(value, float):
        return f"CAST({value!r} AS DOUBLE)"
    if isinstance(value, (dict, list)):
        return quote_literal(json.dumps(value, sort_keys=True))
    return quote_literal(str(value))


@dataclass(frozen=True)
class CompiledField:
    """One destination field: the SQL producing its value and, if cast, the failure check."""

    destination_field: str
    value_sql: str
    error_sql: str | None
    source_column: str | None


@dataclass(frozen=True)
class CompiledMapping:
    fields: list[CompiledField]
    key_field: str
    hash_sql: str
    error_sql: str
    signature: str

    @property
    def destination_fields(self) -> list[str]:
        return [f.destination_field for f in self.fields]


class MappingError(ValueError):
    """The mapping does not fit the model (a missing column, a duplicated field)."""


def resolve_mappings(
    *,
    field_mapping: list[dict[str, Any]],
    field_behavior: str,
    field_normalization: str | None,
    model_columns: list[str],
) -> list[FieldMapping]:
    """The effective mappings: the explicit ones, or every column under sync_all_properties.

    Explicit mappings given alongside ``sync_all_properties`` override the generated ones for
    their source columns.
    """
    explicit = [FieldMapping.model_validate(m) for m in field_mapping]
    if field_behavior != FieldBehavior.SYNC_ALL_PROPERTIES:
        return explicit
    style = FieldNormalization(field_normalization) if field_normalization else None
    taken = {m.source_column for m in explicit if m.source_column}
    return sync_all_mappings(model_columns, style, exclude=taken) + explicit


def _cast_field(m: FieldMapping) -> tuple[str, str | None]:
    if m.source_column is None:
        return constant_sql(m.constant_value), None
    col = quote_ident(m.source_column)
    if m.type_cast is None:
        return col, None
    target = _CAST_SQL[m.type_cast]
    value = f"TRY_CAST({col} AS {target})"
    if m.type_cast == TypeCast.JSON:
        value = f"CAST(TRY_CAST({col} AS JSON) AS VARCHAR)"
    if m.type_cast == TypeCast.STRING:
        return f"CAST({col} AS VARCHAR)", None
    message = (
        f"{quote_literal(f'cannot cast column {m.source_column} value ' + chr(39))} || "
        f"CAST({col} AS VARCHAR) || {quote_literal(chr(39) + ' to ' + m.type_cast.value)}"
    )
    check = f"CASE WHEN {col} IS NOT NULL AND {value} IS NULL THEN {message} END"
    return value, check


def compile_mapping(
    mappings: list[FieldMapping],
    *,
    primary_key: str,
    model_columns: list[str],
    field_order: str | None = None,
) -> CompiledMapping:
    """Turn mappings into SQL over the staged model table.

    The key field is the destination field mapped from the primary key column; when the
    primary key is not mapped it is sent under its own column name. The fields come in the
    sync's ``field_order`` (the columns of a created table or file follow it); the order is
    layout only, so it is not part of the hash and changing it re-sends nothing.
    """
    known = set(model_columns)
    if primary_key not in known:
        raise MappingError(f"primary key column {primary_key!r} is not in the model")
    fields: list[CompiledField] = []
    seen: set[str] = set()
    for m in mappings:
        if m.source_column is not None and m.source_column not in known:
            raise MappingError(f"mapped column {m.source_column!r} is not in the model")
        if m.destination_field in seen:
            raise MappingError(f"destination field {m.destination_field!r} is mapped twice")
        seen.add(m.destination_field)
        value, check = _cast_field(m)
        fields.append(CompiledField(m.destination_field, value, check, m.source_column))
    key_field = next((f.destination_field for f in fields if f.source_column == primary_key), None)
    if key_field is None:
        key_field = primary_key
        if key_field in seen:
            raise MappingError(
                f"destination field {key_field!r} is mapped from another column but is "
                "needed for the primary key"
            )
        fields.insert(0, CompiledField(key_field, quote_ident(primary_key), None, primary_key))
    position = {
        name: i
        for i, name in enumerate(ordered_fields([f.destination_field for f in fields], field_order))
    }
    fields.sort(key=lambda f: position[f.destination_field])
    signature = json.dumps(
        [m.model_dump(mode="json") for m in mappings] + [primary_key], sort_keys=True
    )
    hashed_columns = sorted({f.source_column for f in fields if f.source_column})
    hash_args = ", ".join([quote_literal(signature)] + [quote_ident(c) for c in hashed_columns])
    checks = [f.error_sql for f in fields if f.error_sql]
    error_sql = f"coalesce({', '.join(checks)})" if checks else "CAST(NULL AS VARCHAR)"
    return CompiledMapping(
        fields=fields,
        key_field=key_field,
        hash_sql=f"hash({hash_args})",
        error_sql=error_sql,
        signature=signature,
    )
