"""Shared helpers of the PostgreSQL destination tests (a fresh database per test)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from syncline.connectors.base import ChangeBatch, Operation, RunInfo, SyncMode
from syncline.connectors.destinations.postgres.destination import (
    PostgresDestination,
    PostgresDestinationConfig,
)


def sql(dsn: str, *statements: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        cur = None
        for stmt in statements:
            cur = conn.execute(stmt)
        return cur.fetchall() if cur is not None and cur.description else []


def open_dest(dsn: str, **config: Any) -> PostgresDestination:
    cfg = PostgresDestinationConfig.model_validate({"dsn": dsn, "table": "t", **config})
    return PostgresDestination(cfg)


@pytest.fixture
def dest_factory(pg_database: str) -> Iterator[Any]:
    opened: list[PostgresDestination] = []

    def make(fields: list[str] | None = None, key: str = "id", **config: Any) -> Any:
        dest = open_dest(pg_database, **config)
        dest.begin(RunInfo("s", uuid.uuid4().hex, SyncMode.UPSERT, key, fields or ["id"]))
        opened.append(dest)
        return dest

    yield make
    for dest in opened:
        dest.close()


def write(dest: PostgresDestination, op: Operation, table: pa.Table, **kw: Any) -> Any:
    keys = [str(k) for k in table.column(0).to_pylist()]
    return dest.write(ChangeBatch(op, table, keys, table.column_names[0], **kw))
