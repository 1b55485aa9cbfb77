"""One harness per source, so the same suite runs against every database.

A harness knows how to create tables in its database (through the driver, not the source,
which is read-only), how to open the source under test through the registry, and the few
facts that legitimately differ between databases (SQL dialect, the Arrow type of an INT).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from syncline.connectors.base import Source
from syncline.connectors.registry import open_source


@dataclass
class Harness:
    """A source under test and how to prepare its database."""

    name: str
    config: dict[str, Any]
    execute: Callable[[list[str]], None]
    # Configs that must fail check(), and what the message must name.
    unreachable: dict[str, Any]
    unreachable_hint: str
    # Column DDL of the round-trip table, in the database's own dialect.
    ddl: dict[str, str]
    ts_literal: Callable[[str], str]
    int_type: str = "int32"
    missing_table_text: str = "no_such_table"
    # Set on each source opened, e.g. to force the PostgreSQL source's cursor path.
    instance_attrs: dict[str, Any] = field(default_factory=dict)
    opened: list[Source] = field(default_factory=list)

    def source(self, **overrides: Any) -> Source:
        src = open_source(self.name, {**self.config, **overrides})
        for attr, value in self.instance_attrs.items():
            setattr(src, attr, value)
        self.opened.append(src)
        return src


def duckdb_harness(tmp_path: Path) -> Harness:
    import duckdb

    path = str(tmp_path / "warehouse.duckdb")

    def execute(statements: list[str]) -> None:
        with duckdb.connect(path) as con:
            for stmt in statements:
                con.execute(stmt)

    execute([])  # create the file, so the read-only source can open it
    return Harness(
        name="duckdb",
        config={"path": path},
        execute=execute,
        unreachable={"path": str(tmp_path / "missing.duckdb")},
        unreachable_hint="missing.duckdb",
        ddl=_ddl("BIGINT", "INTEGER", "VARCHAR", "DECIMAL(12,2)", "BOOLEAN", "DATE", "TIMESTAMPTZ"),
        ts_literal=lambda ts: f"TIMESTAMPTZ '{ts}+00'",
        missing_table_text="Table with name no_such_table does not exist",
    )


def sqlite_harness(tmp_path: Path) -> Harness:
    import sqlite3

    path = str(tmp_path / "warehouse.sqlite")

    def execute(statements: list[str]) -> None:
        con = sqlite3.connect(path)
        try:
            for stmt in statements:
                con.execute(stmt)
            con.commit()
        finally:
            con.close()

    execute([])
    return Harness(
        name="sqlite",
        config={"path": path},
        execute=execute,
        unreachable={"path": str(tmp_path / "missing.sqlite")},
        unreachable_hint="missing.sqlite",
        ddl=_ddl("INTEGER", "INTEGER", "TEXT", "DECIMAL(12,2)", "BOOLEAN", "DATE", "TIMESTAMPTZ"),
        ts_literal=lambda ts: f"'{ts}+00:00'",
        int_type="int64",
        missing_table_text="no such table: no_such_table",
    )


def postgres_harness(url: str, *, adbc: bool = True) -> Harness:
    import psycopg

    def execute(statements: list[str]) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            for stmt in statements:
                conn.execute(stmt)

    return Harness(
        name="postgres",
        config={"dsn": url},
        execute=execute,
        unreachable={"dsn": "postgresql://postgres@127.0.0.1:1/nowhere", "connect_timeout": 2},
        unreachable_hint="127.0.0.1:1",
        ddl=_ddl("bigint", "integer", "text", "numeric(12,2)", "boolean", "date", "timestamptz"),
        ts_literal=lambda ts: f"'{ts}+00'",
        missing_table_text='relation "no_such_table" does not exist',
        instance_attrs={"use_adbc": adbc},
    )


def mysql_harness(kwargs: dict[str, Any]) -> Harness:
    import pymysql

    def execute(statements: list[str]) -> None:
        conn = pymysql.connect(**kwargs, charset="utf8mb4", init_command="SET time_zone='+00:00'")
        try:
            with conn.cursor() as cur:
                for stmt in statements:
                    cur.execute(stmt)
            conn.commit()
        finally:
            conn.close()

    config = {k: kwargs[k] for k in ("host", "port", "user", "password", "database")}
    return Harness(
        name="mysql",
        config=config,
        execute=execute,
        unreachable={"port": 1, "connect_timeout": 2},
        unreachable_hint="127.0.0.1:1",
        ddl=_ddl(
            "BIGINT",
            "INT",
            "VARCHAR(200) CHARACTER SET utf8mb4",
            "DECIMAL(12,2)",
            "BOOLEAN",
            "DATE",
            "TIMESTAMP(6) NULL",
        ),
        ts_literal=lambda ts: f"'{ts}'",
        missing_table_text="doesn't exist",
    )


def _ddl(
    big: str, small: str, text: str, dec: str, bool_: str, date: str, ts: str
) -> dict[str, str]:
    return {
        "id": big,
        "small": small,
        "big": big,
        "label": text,
        "amount": dec,
        "flag": bool_,
        "born_on": date,
        "seen_at": ts,
    }
