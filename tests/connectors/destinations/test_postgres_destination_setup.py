"""PostgreSQL destination: table creation, keys, check() and whole-batch failures."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from postgres_helpers import dest_factory, open_dest, sql, write

from syncline.connectors.base import (
    ChangeBatch,
    DestinationAuthError,
    DestinationError,
    Operation,
    RunInfo,
    SyncMode,
)
from syncline.connectors.destinations.postgres.types import connect_error

pytestmark = pytest.mark.postgres
__all__ = ["dest_factory"]  # the fixture, imported so pytest finds it here


def test_table_is_created_from_the_first_batch(pg_database: str, dest_factory: Any) -> None:
    table = pa.table(
        {
            "id": pa.array([1], pa.int64()),
            "n": pa.array([1], pa.int32()),
            "price": pa.array([Decimal("1.50")], pa.decimal128(10, 2)),
            "ok": [True],
            "at": pa.array([datetime(2024, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            "tags": [["a"]],
        }
    )
    dest = dest_factory(fields=["id", "n", "price", "ok", "at", "tags", "unseen"])
    assert write(dest, Operation.UPSERT, table).errors == []
    columns = dict(
        sql(
            pg_database,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 't'",
        )
    )
    assert columns == {
        "id": "bigint",
        "n": "integer",
        "price": "numeric",
        "ok": "boolean",
        "at": "timestamp with time zone",
        "tags": "jsonb",
        "unseen": "text",
    }
    [obj] = dest.objects()
    assert obj.name == "t" and [f.name for f in obj.fields if f.is_key] == ["id"]


def test_new_model_fields_become_new_columns(pg_database: str, dest_factory: Any) -> None:
    dest = dest_factory()
    write(dest, Operation.UPSERT, pa.table({"id": [1]}))
    write(dest, Operation.UPSERT, pa.table({"id": [2], "extra": ["x"]}))
    assert sql(pg_database, "SELECT id, extra FROM t ORDER BY id") == [(1, None), (2, "x")]


def test_missing_column_without_create_table_fails_the_batch(
    pg_database: str, dest_factory: Any
) -> None:
    sql(pg_database, "CREATE TABLE t (id bigint PRIMARY KEY)")
    dest = dest_factory(create_table=False)
    with pytest.raises(DestinationError, match=r"no column.*extra"):
        write(dest, Operation.UPSERT, pa.table({"id": [1], "extra": ["x"]}))


def test_a_successful_run_without_rows_still_creates_the_table(pg_database: str) -> None:
    dest = open_dest(pg_database)
    dest.begin(RunInfo("s", "r", SyncMode.UPSERT, "id", ["id", "email"]))
    dest.finish(success=True)
    dest.close()
    assert sql(pg_database, "SELECT count(*) FROM t") == [(0,)]


def test_existing_table_without_unique_key_is_refused(pg_database: str) -> None:
    sql(pg_database, "CREATE TABLE t (id bigint, email text)")
    dest = open_dest(pg_database)
    with pytest.raises(DestinationError, match=r'"public"."t" has no primary key or unique'):
        dest.begin(RunInfo("s", "r", SyncMode.UPSERT, "id", ["id", "email"]))
    dest.close()
    check = open_dest(pg_database, key_column="id").check()
    assert not check.ok and "no primary key or unique" in check.message


def test_a_unique_index_is_enough_and_key_column_overrides_the_key_field(
    pg_database: str, dest_factory: Any
) -> None:
    sql(pg_database, "CREATE TABLE t (pk serial PRIMARY KEY, ext text UNIQUE, v int)")
    dest = dest_factory(key_column="ext")
    table = pa.table({"model_id": ["a", "b"], "v": [1, 2]})
    keys = ["a", "b"]
    for _ in range(2):  # idempotent on the unique column, not on the serial PK
        assert not dest.write(ChangeBatch(Operation.UPSERT, table, keys, "model_id")).errors
    assert sql(pg_database, "SELECT ext, v FROM t ORDER BY ext") == [("a", 1), ("b", 2)]


def test_identifiers_are_quoted(pg_database: str, dest_factory: Any) -> None:
    sql(pg_database, 'CREATE SCHEMA "My Schema"')
    dest = dest_factory(schema="My Schema", table='we"ird; DROP TABLE x --')
    assert not write(dest, Operation.UPSERT, pa.table({"id": [1], "select": ["v"]})).errors
    rows = sql(pg_database, 'SELECT "select" FROM "My Schema"."we""ird; DROP TABLE x --"')
    assert rows == [("v",)]


def test_check_reports_missing_schema_and_table(pg_database: str) -> None:
    assert open_dest(pg_database).check().ok
    assert not open_dest(pg_database, schema="nope").check().ok
    check = open_dest(pg_database, create_table=False).check()
    assert not check.ok and "does not exist" in check.message


def test_unreachable_server_is_retryable(pg_database: str) -> None:
    dest = open_dest("postgresql://postgres@127.0.0.1:1/x", connect_timeout=2)
    check = dest.check()
    assert not check.ok and "127.0.0.1" in check.message
    with pytest.raises(DestinationError) as info:
        dest.begin(RunInfo("s", "r", SyncMode.UPSERT, "id", ["id"]))
    assert info.value.retryable and not isinstance(info.value, DestinationAuthError)


def test_refused_credentials_are_an_auth_error(pg_database: str) -> None:
    dsn = pg_database.replace("postgres@", f"nobody_{uuid.uuid4().hex[:6]}:secret@")
    dest = open_dest(dsn)
    check = dest.check()
    assert not check.ok and "secret" not in check.message
    with pytest.raises(DestinationAuthError):
        dest.begin(RunInfo("s", "r", SyncMode.UPSERT, "id", ["id"]))


def test_password_failure_message_maps_to_auth_error() -> None:
    # The test server trusts 127.0.0.1, so a wrong password cannot be provoked for real.
    exc = psycopg.OperationalError(
        'connection failed: FATAL:  password authentication failed for user "app"'
    )
    assert isinstance(connect_error(exc), DestinationAuthError)
    refused = psycopg.OperationalError("connection failed: Connection refused")
    assert connect_error(refused).retryable


def test_lost_connection_is_retryable_and_the_next_write_reconnects(
    pg_database: str, dest_factory: Any
) -> None:
    dest = dest_factory()
    write(dest, Operation.UPSERT, pa.table({"id": [1]}))
    sql(
        pg_database,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    with pytest.raises(DestinationError) as info:
        write(dest, Operation.UPSERT, pa.table({"id": [2]}))
    assert info.value.retryable
    assert not write(dest, Operation.UPSERT, pa.table({"id": [2]})).errors
    assert sql(pg_database, "SELECT id FROM t ORDER BY id") == [(1,), (2,)]


def test_permission_denied_fails_the_whole_batch(pg_database: str, dest_factory: Any) -> None:
    sql(
        pg_database,
        "CREATE TABLE t (id bigint PRIMARY KEY)",
        "CREATE FUNCTION deny() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN RAISE insufficient_privilege USING MESSAGE = 'no writes here'; END $$",
        "CREATE TRIGGER deny BEFORE INSERT ON t FOR EACH STATEMENT EXECUTE FUNCTION deny()",
    )
    with pytest.raises(DestinationAuthError, match="no writes here"):
        write(dest_factory(), Operation.UPSERT, pa.table({"id": [1, 2]}))
