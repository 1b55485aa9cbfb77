"""What the MySQL destination reads from, and changes in, the target database's catalog.

Names are looked up through bound parameters and written through ``ident`` (backtick
quoting), so table and column names chosen by users can never inject SQL. MySQL compares
column names without regard to case, and so do the lookups here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pymysql

from syncline.connectors.base import FieldSchema, ObjectSchema
from syncline.connectors.destinations.mysql.sql import ident

if TYPE_CHECKING:
    Conn = pymysql.connections.Connection[Any]
else:  # the stubs make Connection generic, the runtime class is not
    Conn = pymysql.connections.Connection

_COLUMNS_SQL = """
SELECT c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE, c.COLUMN_DEFAULT, c.EXTRA,
       c.COLUMN_KEY, c.CHARACTER_SET_NAME, c.COLLATION_NAME, c.COLUMN_COMMENT
FROM information_schema.COLUMNS c
JOIN information_schema.TABLES t
  ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
WHERE c.TABLE_SCHEMA = %s AND t.TABLE_TYPE = 'BASE TABLE' AND (%s IS NULL OR c.TABLE_NAME = %s)
ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION
"""

_ENGINE_SQL = """
SELECT t.ENGINE, COALESCE(e.TRANSACTIONS, 'NO')
FROM information_schema.TABLES t
LEFT JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE
WHERE t.TABLE_SCHEMA = %s AND t.TABLE_NAME = %s
"""

# Matching by key needs a unique index on exactly that one column, over its full length.
_UNIQUE_SQL = """
SELECT INDEX_NAME, MAX(COLUMN_NAME), COUNT(*), MAX(SUB_PART)
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND NON_UNIQUE = 0
GROUP BY INDEX_NAME
"""


@dataclass(frozen=True)
class ColumnInfo:
    """One column of the target, as much as staging tables and INSERTs need to know."""

    name: str
    column_type: str
    required: bool  # NOT NULL, no default, not generated: an INSERT must give it a value
    charset: str | None = None
    collation: str | None = None
    comment: str = ""

    def stage_definition(self) -> str:
        """The column in a staging table: same type and collation, but nullable."""
        spec = f"{ident(self.name)} {self.column_type}"
        if self.charset and self.collation:
            spec += f" CHARACTER SET {self.charset} COLLATE {self.collation}"
        return spec + " NULL"


@dataclass(frozen=True)
class TableInfo:
    """A target table: its columns in table order and whether its engine has transactions."""

    columns: dict[str, ColumnInfo]
    engine: str
    transactional: bool

    def find(self, name: str) -> ColumnInfo | None:
        """The column called ``name``, compared like MySQL does (case-insensitively)."""
        wanted = name.lower()
        return next((c for n, c in self.columns.items() if n.lower() == wanted), None)


def _columns(conn: Conn, database: str, table: str | None) -> list[tuple[Any, ...]]:
    with conn.cursor() as cur:
        cur.execute(_COLUMNS_SQL, (database, table, table))
        return list(cur.fetchall())


def _required(nullable: str, default: Any, extra: str) -> bool:
    extra = (extra or "").lower()
    generated = "auto_increment" in extra or "generated" in extra or "virtual" in extra
    return nullable == "NO" and default is None and not generated


def list_objects(conn: Conn, database: str) -> list[ObjectSchema]:
    """Tables of ``database`` with their columns, primary-key columns flagged ``is_key``."""
    fields: dict[str, list[FieldSchema]] = {}
    for table, name, type_, nullable, default, extra, key, *_ in _columns(conn, database, None):
        fields.setdefault(str(table), []).append(
            FieldSchema(
                str(name),
                str(type_),
                required=_required(nullable, default, extra),
                is_key=key == "PRI",
            )
        )
    return [ObjectSchema(name, cols, supports_field_ordering=True) for name, cols in fields.items()]


def table_info(conn: Conn, database: str, table: str) -> TableInfo | None:
    """The table's columns and engine, or None when it does not exist."""
    rows = _columns(conn, database, table)
    if not rows:
        return None
    columns = {
        str(name): ColumnInfo(
            str(name),
            str(type_),
            _required(nullable, default, extra),
            charset,
            collation,
            str(comment or ""),
        )
        for _, name, type_, nullable, default, extra, _, charset, collation, comment in rows
    }
    with conn.cursor() as cur:
        cur.execute(_ENGINE_SQL, (database, table))
        engine, transactional = cur.fetchone() or ("", "NO")
    return TableInfo(columns, str(engine or ""), transactional == "YES")


def unique_key(conn: Conn, database: str, table: str, column: str) -> str | None:
    """The name of a unique index on exactly ``column`` (``PRIMARY`` first), or None."""
    found: list[str] = []
    with conn.cursor() as cur:
        cur.execute(_UNIQUE_SQL, (database, table))
        for index, name, count, sub_part in cur.fetchall():
            if count == 1 and sub_part is None and str(name).lower() == column.lower():
                found.append(str(index))
    return "PRIMARY" if "PRIMARY" in found else (found[0] if found else None)


def create_table(conn: Conn, table: str, columns: dict[str, str], key: str) -> None:
    """``CREATE TABLE IF NOT EXISTS`` (InnoDB, utf8mb4) with ``key`` as the primary key."""
    defs = [f"{ident(name)} {type_}" for name, type_ in columns.items()]
    defs.append(f"PRIMARY KEY ({ident(key)})")
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {ident(table)} ({', '.join(defs)}) "
            "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"
        )


def add_columns(conn: Conn, table: str, columns: dict[str, str]) -> None:
    """Add nullable columns the model gained since the table was created."""
    with conn.cursor() as cur:
        for name, type_ in columns.items():
            cur.execute(f"ALTER TABLE {ident(table)} ADD COLUMN {ident(name)} {type_}")
