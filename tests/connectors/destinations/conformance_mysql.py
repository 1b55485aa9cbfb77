"""Conformance adapter of the MySQL/MariaDB destination: a table in a fresh database."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pymysql
import pymysql.cursors
from conformance import KEY, Adapter, State

from syncline.connectors.destinations.mysql.sql import UTC_COMMENT


class MySQLAdapter(Adapter):
    """A table ``people`` in a fresh database, created by the destination itself.

    The destination stores zoned timestamps as UTC wall time in DATETIME columns marked with
    the comment ``UTC``, and booleans as BOOLEAN (``TINYINT(1)``), both documented; reading
    back, those values are made aware, respectively ``bool``, again (as the MySQL source does).
    """

    name = "mysql"

    def __init__(self, server: dict[str, Any], table: str = "people") -> None:
        super().__init__()
        self.server, self.table = server, table

    def config(self) -> dict[str, Any]:
        s = self.server
        return {
            "host": s["host"],
            "port": s["port"],
            "user": s["user"],
            "password": s["password"],
            "database": s["database"],
            "table": self.table,
        }

    def connect(self) -> Any:
        return pymysql.connect(
            **self.server,
            charset="utf8mb4",
            cursorclass=pymysql.cursors.DictCursor,
            init_command="SET SESSION time_zone = '+00:00'",
        )

    def state(self) -> State:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_COMMENT FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (self.server["database"], self.table),
            )
            columns = cur.fetchall()
            utc = {c["COLUMN_NAME"] for c in columns if c["COLUMN_COMMENT"] == UTC_COMMENT}
            bools = {c["COLUMN_NAME"] for c in columns if c["COLUMN_TYPE"] == "tinyint(1)"}
            cur.execute(
                "SELECT COUNT(*) AS n FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (self.server["database"], self.table),
            )
            if not cur.fetchone()["n"]:
                return {}
            cur.execute(f"SELECT * FROM `{self.table}`")
            rows = cur.fetchall()
        return {
            str(r[KEY]): {k: _read(v, k in utc, k in bools) for k, v in r.items()} for r in rows
        }


def _read(value: Any, utc: bool, boolean: bool) -> Any:
    if utc and isinstance(value, datetime):
        return value.replace(tzinfo=UTC)
    if boolean and value is not None:
        return bool(value)
    return value
