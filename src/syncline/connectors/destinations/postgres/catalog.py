"""What the PostgreSQL destination reads from, and changes in, the target's catalog.

Every identifier goes through ``psycopg.sql.Identifier`` and every name lookup through a bound
parameter, so table and column names chosen by users can never inject SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from syncline.connectors.base import FieldSchema, ObjectSchema

Conn = psycopg.Connection[TupleRow]

_COLUMNS_SQL = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), format_type(a.atttypid, NULL),
       a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '',
       EXISTS (SELECT 1 FROM pg_index i
               WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY (i.indkey))
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND (%(table)s::text IS NULL OR c.relname = %(table)s::text)
ORDER BY c.relname, a.attnum
"""

# ON CONFLICT (key) needs a valid, non-partial unique index on exactly that one column.
_UNIQUE_KEY_SQL = """
SELECT 1
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE n.nspname = %s AND c.relname = %s AND a.attname = %s
  AND i.indisunique AND i.indisvalid AND i.indnkeyatts = 1
  AND i.indpred IS NULL AND i.indexprs IS NULL
"""


@dataclass(frozen=True)
class TableInfo:
    """A target table's columns (name -> SQL type without typmod, in table order)."""

    columns: dict[str, str]


def schema_exists(conn: Conn, schema: str) -> bool:
    """Whether ``schema`` exists (Syncline never creates schemas)."""
    row = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    return row is not None


def list_objects(conn: Conn, schema: str, table: str | None = None) -> list[ObjectSchema]:
    """Tables of ``schema`` (or just ``table``) with their columns, primary key flagged."""
    return [obj for obj, _ in _read(conn, schema, table)]


def _read(conn: Conn, schema: str, table: str | None) -> list[tuple[ObjectSchema, dict[str, str]]]:
    rows = conn.execute(_COLUMNS_SQL, {"schema": schema, "table": table}).fetchall()
    fields: dict[str, list[FieldSchema]] = {}
    base_types: dict[str, dict[str, str]] = {}
    for relname, attname, type_, base_type, required, is_key in rows:
        base_types.setdefault(str(relname), {})[str(attname)] = str(base_type)
        fields.setdefault(str(relname), []).append(
            FieldSchema(str(attname), str(type_), required=bool(required), is_key=bool(is_key))
        )
    return [
        (ObjectSchema(name, cols, supports_field_ordering=True), base_types[name])
        for name, cols in fields.items()
    ]


def table_info(conn: Conn, schema: str, table: str) -> TableInfo | None:
    """The table's columns, or None when it does not exist."""
    found = _read(conn, schema, table)
    return TableInfo(found[0][1]) if found else None


def has_unique_key(conn: Conn, schema: str, table: str, column: str) -> bool:
    """Whether ``ON CONFLICT (column)`` has a primary key or unique index to infer."""
    return conn.execute(_UNIQUE_KEY_SQL, (schema, table, column)).fetchone() is not None


def create_table(
    conn: Conn,
    schema: str,
    table: str,
    columns: dict[str, str],
    key: str,
) -> None:
    """``CREATE TABLE IF NOT EXISTS`` with ``key`` as the primary key (ON CONFLICT needs it)."""
    defs = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(name),
            sql.SQL(type_),  # our own type names, from pg_type_for(): never user input
            sql.SQL(" PRIMARY KEY") if name == key else sql.SQL(""),
        )
        for name, type_ in columns.items()
    ]
    with conn.transaction():
        _lock_table_ddl(conn, schema, table)
        conn.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                sql.Identifier(schema, table), sql.SQL(", ").join(defs)
            )
        )


def _lock_table_ddl(conn: Conn, schema: str, table: str) -> None:
    """Serialise DDL on one table across writers (the shards of a fan-out run create it side
    by side, and ``IF NOT EXISTS`` is not atomic in PostgreSQL's catalog)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"syncline-ddl:{schema}.{table}"])


def add_columns(
    conn: Conn,
    schema: str,
    table: str,
    columns: dict[str, str],
) -> None:
    """Add nullable columns the model gained since the table was created."""
    with conn.transaction():
        _lock_table_ddl(conn, schema, table)
        for name, type_ in columns.items():
            conn.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}").format(
                    sql.Identifier(schema, table), sql.Identifier(name), sql.SQL(type_)
                )
            )
