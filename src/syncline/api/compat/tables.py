"""A vendor "table" source object as the Syncline model that reads it, and back.

The vendor's sync names a warehouse table; Syncline syncs models. A table object becomes
(or reuses) a model ``SELECT * FROM <catalog>.<schema>.<table>`` on that source, keyed by the
primary identifier's column; a model whose SQL is exactly that shape is shown as the table.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

_DIALECTS = {"duckdb": "duckdb", "postgres": "postgres", "mysql": "mysql", "sqlite": "sqlite"}


@dataclass(frozen=True)
class TableRef:
    catalog: str | None
    schema: str | None
    name: str


def table_sql(ref: TableRef, source_type: str) -> str:
    """``SELECT * FROM`` the table, quoted for the source's dialect."""
    table = exp.table_(ref.name, db=ref.schema, catalog=ref.catalog, quoted=True)
    return exp.select("*").from_(table).sql(dialect=_DIALECTS.get(source_type, "duckdb"))


def table_of(sql: str, source_type: str) -> TableRef | None:
    """The table a model reads when its SQL is a bare ``SELECT * FROM table``, else None."""
    try:
        tree = sqlglot.parse_one(sql, dialect=_DIALECTS.get(source_type, "duckdb"))
    except sqlglot.errors.ParseError:
        return None
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1:
        return None
    if not isinstance(tree.expressions[0], exp.Star):
        return None
    if any(tree.args.get(k) for k in ("where", "joins", "group", "order", "limit", "with")):
        return None
    source = tree.args.get("from") or tree.args.get("from_")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or not table.name:
        return None
    if table_sql(TableRef(table.catalog or None, table.db or None, table.name), source_type) != sql:
        return None
    return TableRef(table.catalog or None, table.db or None, table.name)
