"""MySQL/MariaDB destination: what the shared suite cannot say (rejected rows, DDL, failures)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pymysql
import pytest

from syncline.connectors.base import (
    ChangeBatch,
    DestinationAuthError,
    DestinationError,
    Operation,
    RunInfo,
    SyncMode,
)
from syncline.connectors.destinations.mysql.destination import (
    MySQLDestination,
    MySQLDestinationConfig,
)

pytestmark = [pytest.mark.mysql, pytest.mark.timeout(120)]


def sql(db: dict[str, Any], *statements: str) -> list[tuple[Any, ...]]:
    conn = pymysql.connect(**db, init_command="SET SESSION time_zone = '+00:00'")
    try:
        with conn.cursor() as cur:
            for stmt in statements:
                cur.execute(stmt)
            rows = list(cur.fetchall()) if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def config(db: dict[str, Any], **extra: Any) -> MySQLDestinationConfig:
    base = {k: db[k] for k in ("host", "port", "user", "password", "database")}
    return MySQLDestinationConfig.model_validate({**base, "table": "t", **extra})


@pytest.fixture
def dest_factory(mysql_database: dict[str, Any]) -> Iterator[Any]:
    opened: list[MySQLDestination] = []

    def make(fields: list[str] | None = None, key: str = "id", **extra: Any) -> MySQLDestination:
        dest = MySQLDestination(config(mysql_database, **extra))
        dest.begin(RunInfo("s", uuid.uuid4().hex, SyncMode.UPSERT, key, fields or ["id"]))
        opened.append(dest)
        return dest

    yield make
    for dest in opened:
        dest.close()


def write(dest: MySQLDestination, op: Operation, table: pa.Table, **kw: Any) -> Any:
    keys = [str(k) for k in table.column(0).to_pylist()]
    if op is Operation.DELETE:
        table = pa.table({table.column_names[0]: pa.array(keys, pa.string())})
    return dest.write(ChangeBatch(op, table, keys, table.column_names[0], **kw))


CONSTRAINED = (
    "CREATE TABLE t (id BIGINT PRIMARY KEY, email VARCHAR(20) NOT NULL, "
    "score INT CHECK (score >= 0)) ENGINE=InnoDB"
)
# row index -> (column, value, error class, words of MySQL's message)
BAD = {
    17: ("score", -1, "constraint_violation", "CONSTRAINT"),
    300: ("score", 3_000_000_000, "invalid_value", "Out of range"),
    512: ("email", None, "constraint_violation", "cannot be null"),
    998: ("email", "x" * 21 + "@x.io", "invalid_value", "Data too long"),
}


def thousand_rows(first_id: int = 1) -> pa.Table:
    emails: list[str | None] = []
    scores: list[int | None] = []
    for i in range(1000):
        bad = BAD.get(i)
        emails.append(bad[1] if bad and bad[0] == "email" else f"u{first_id + i}@x.io")  # type: ignore[misc]
        scores.append(bad[1] if bad and bad[0] == "score" else i)  # type: ignore[misc]
    ids = pa.array(range(first_id, first_id + 1000), pa.int64())
    return pa.table({"id": ids, "email": emails, "score": pa.array(scores, pa.int64())})


@pytest.mark.parametrize("existing", [0, 500], ids=["new-keys", "half-existing"])
@pytest.mark.parametrize("op", [Operation.UPSERT, Operation.UPDATE], ids=lambda o: o.value)
def test_bad_rows_are_isolated_with_mysqls_message_and_the_rest_applied(
    mysql_database: dict[str, Any], dest_factory: Any, existing: int, op: Operation
) -> None:
    sql(mysql_database, CONSTRAINED)
    if existing:
        values = ",".join(f"({i}, 'old{i}@x.io', 0)" for i in range(1, existing + 1))
        sql(mysql_database, f"INSERT INTO t VALUES {values}")
    dest = dest_factory(["id", "email", "score"])
    result = write(dest, op, thousand_rows())
    failed = {e.index: e for e in result.errors}
    expected_bad = BAD if op is Operation.UPSERT else {i: b for i, b in BAD.items() if i < existing}
    for index, (_, _, error_class, words) in expected_bad.items():
        assert failed[index].error_class == error_class
        assert words in failed[index].message and "at row" not in failed[index].message
    if op is Operation.UPDATE:  # absent keys are not found, never created
        missing = {i for i in range(existing, 1000)}
        assert {i for i, e in failed.items() if e.error_class == "not_found"} == missing
    assert set(failed) == set(expected_bad) | (set() if op is Operation.UPSERT else missing)
    rows = dict(sql(mysql_database, "SELECT id, score FROM t"))
    applied = [i for i in range(1000) if i not in failed]
    assert all(rows[i + 1] == i for i in applied)
    assert all(rows[i + 1] == 0 for i in failed if i < existing)  # rejected: left as it was
    new_bad = [i for i in BAD if i >= existing]
    assert len(rows) == (1000 - len(new_bad) if op is Operation.UPSERT else existing)


def test_insert_leaves_existing_rows_and_still_reports_bad_ones(
    mysql_database: dict[str, Any], dest_factory: Any
) -> None:
    sql(mysql_database, CONSTRAINED, "INSERT INTO t VALUES (1, 'keep@x.io', 5)")
    dest = dest_factory(["id", "email", "score"])
    table = pa.table({"id": [1, 2, 3], "email": ["new@x.io", None, "c@x.io"], "score": [9, 1, 2]})
    result = write(dest, Operation.INSERT, table)
    assert [(e.index, e.error_class) for e in result.errors] == [(1, "constraint_violation")]
    assert sql(mysql_database, "SELECT * FROM t ORDER BY id") == [
        (1, "keep@x.io", 5),
        (3, "c@x.io", 2),
    ]


def test_update_through_a_staging_table_when_a_required_column_is_not_mapped(
    mysql_database: dict[str, Any], dest_factory: Any
) -> None:
    """``ON DUPLICATE KEY UPDATE`` would fail on ``name`` (NOT NULL, no default): not sent."""
    sql(
        mysql_database,
        "CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(10) NOT NULL, "
        "score INT CHECK (score >= 0)) ENGINE=InnoDB",
        "INSERT INTO t VALUES (1, 'one', 1), (2, 'two', 2), (3, 'three', 3)",
    )
    dest = dest_factory(["id", "score"])
    table = pa.table({"id": [1, 2, 3, 4], "score": [10, -5, None, 40]})
    result = write(dest, Operation.UPSERT, table, skip_nulls=True)
    assert {e.index: e.error_class for e in result.errors} == {
        1: "constraint_violation",  # CHECK fails in the UPDATE ... JOIN
        3: "constraint_violation",  # a new row without its required name
    }
    assert sql(mysql_database, "SELECT * FROM t ORDER BY id") == [
        (1, "one", 10),
        (2, "two", 2),
        (3, "three", 3),  # skip_nulls: NULL leaves the value as it was
    ]


def test_auto_created_table_types_and_primary_key(
    mysql_database: dict[str, Any], dest_factory: Any
) -> None:
    table = pa.table(
        {
            "code": pa.array(["a", "B"], pa.string()),
            "n": pa.array([1, 2], pa.int32()),
            "big": pa.array([1, 2], pa.uint64()),
            "price": pa.array([Decimal("1.50"), None], pa.decimal128(10, 2)),
            "at": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 2, pa.timestamp("us", "UTC")),
            "blob": pa.array([b"\x00\xff", b""], pa.binary()),
            "attrs": pa.array([{"x": 1}, None], pa.struct([("x", pa.int64())])),
        }
    )
    dest = dest_factory(list(table.column_names), key="code")
    assert write(dest, Operation.UPSERT, table).errors == []
    columns = sql(
        mysql_database,
        "SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_KEY, COLLATION_NAME, COLUMN_COMMENT "
        f"FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{mysql_database['database']}' "
        "AND TABLE_NAME = 't' ORDER BY ORDINAL_POSITION",
    )
    types = {name: (type_, key, coll, comment) for name, type_, key, coll, comment in columns}
    assert types["code"] == ("varchar(255)", "PRI", "utf8mb4_bin", "")
    assert types["n"][0] == "int(11)" and types["big"][0] == "bigint(20) unsigned"
    assert types["price"][0] == "decimal(10,2)" and types["blob"][0] == "longblob"
    assert types["at"][0] == "datetime(6)" and types["at"][3] == "UTC"
    # Keys are compared byte for byte: "a" and "A" are two records.
    write(dest, Operation.UPSERT, table.slice(0, 1).set_column(0, "code", pa.array(["A"])))
    assert [r[0] for r in sql(mysql_database, "SELECT code FROM t ORDER BY code")] == [
        "A",
        "B",
        "a",
    ]
    assert sql(mysql_database, "SELECT `blob`, attrs FROM t WHERE code = 'a'") == [
        (b"\x00\xff", '{"x":1}')
    ]


def test_a_run_without_batches_still_creates_the_table(
    mysql_database: dict[str, Any], dest_factory: Any
) -> None:
    dest = dest_factory(["id", "email"])
    dest.finish(success=True)
    assert sql(mysql_database, "SHOW COLUMNS FROM t")[0][:4] == ("id", "varchar(255)", "NO", "PRI")


def test_wrong_password_is_an_auth_error(mysql_database: dict[str, Any]) -> None:
    user = f"syncline_{uuid.uuid4().hex[:8]}"
    sql(mysql_database, f"CREATE USER '{user}'@'%' IDENTIFIED BY 'right'")
    try:
        dest = MySQLDestination(config({**mysql_database, "user": user, "password": "wrong"}))
        with pytest.raises(DestinationAuthError, match="Access denied"):
            dest.begin(RunInfo("s", "r", SyncMode.UPSERT, "id", ["id"]))
        check = dest.check()
        assert not check.ok and "Access denied" in check.message
    finally:
        sql(mysql_database, f"DROP USER '{user}'@'%'")


def test_unreachable_server_is_retryable(mysql_database: dict[str, Any]) -> None:
    dest = MySQLDestination(config({**mysql_database, "port": 1}, connect_timeout=2))
    with pytest.raises(DestinationError) as info:
        dest.begin(RunInfo("s", "r", SyncMode.UPSERT, "id", ["id"]))
    assert info.value.retryable and "cannot connect" in str(info.value)
    assert not dest.check().ok


@pytest.mark.parametrize(
    ("ddl", "words"),
    [
        ("CREATE TABLE t (id BIGINT, email TEXT) ENGINE=InnoDB", "no primary key or unique index"),
        ("CREATE TABLE t (id BIGINT PRIMARY KEY) ENGINE=MyISAM", "no transactions"),
        ("CREATE TABLE t (other BIGINT PRIMARY KEY) ENGINE=InnoDB", "no key column 'id'"),
    ],
    ids=["no-unique-key", "myisam", "no-key-column"],
)
def test_an_unusable_existing_table_is_a_clear_error(
    mysql_database: dict[str, Any], ddl: str, words: str
) -> None:
    sql(mysql_database, ddl)
    dest = MySQLDestination(config(mysql_database, key_column="id"))
    with pytest.raises(DestinationError, match=words) as info:
        dest.begin(RunInfo("s", "r", SyncMode.UPSERT, "id", ["id"]))
    assert not info.value.retryable
    check = dest.check()
    assert not check.ok and words in check.message
    dest.close()


def test_a_unique_index_that_is_not_the_primary_key_works(
    mysql_database: dict[str, Any], dest_factory: Any
) -> None:
    sql(
        mysql_database,
        "CREATE TABLE t (pk INT AUTO_INCREMENT PRIMARY KEY, ID VARCHAR(20) NOT NULL UNIQUE, "
        "v INT) ENGINE=InnoDB",
        "INSERT INTO t (ID, v) VALUES ('a', 1)",
    )
    dest = dest_factory(["id", "v"])  # the model's "id" matches the column "ID"
    table = pa.table({"id": ["a", "b"], "v": [10, 20]})
    assert write(dest, Operation.UPSERT, table).errors == []
    assert write(dest, Operation.DELETE, table.slice(1)).errors == []
    assert sql(mysql_database, "SELECT ID, v FROM t") == [("a", 10)]


def test_lost_connection_is_retryable_and_the_next_write_reconnects(
    mysql_database: dict[str, Any], dest_factory: Any
) -> None:
    dest = dest_factory(["id", "v"])
    assert write(dest, Operation.UPSERT, pa.table({"id": [1], "v": [1]})).errors == []
    assert dest._conn is not None
    sql(mysql_database, f"KILL CONNECTION {dest._conn.thread_id()}")
    with pytest.raises(DestinationError) as info:
        write(dest, Operation.UPSERT, pa.table({"id": [2], "v": [2]}))
    assert info.value.retryable
    assert write(dest, Operation.UPSERT, pa.table({"id": [2], "v": [2]})).errors == []
    assert sql(mysql_database, "SELECT id, v FROM t ORDER BY id") == [(1, 1), (2, 2)]


def test_large_batches_span_several_statements(
    mysql_database: dict[str, Any], dest_factory: Any
) -> None:
    n = 20_000
    text = "y" * 250  # ~5 MB of VALUES: several statements of at most 2 MiB
    table = pa.table({"id": pa.array(range(n), pa.int64()), "v": [text] * n})
    dest = dest_factory(["id", "v"])
    assert write(dest, Operation.UPSERT, table).errors == []
    assert write(dest, Operation.UPSERT, table).errors == []  # all present: the update path
    assert sql(mysql_database, "SELECT COUNT(*), SUM(LENGTH(v)) FROM t") == [(n, Decimal(n * 250))]
    assert write(dest, Operation.DELETE, table).errors == []
    assert sql(mysql_database, "SELECT COUNT(*) FROM t") == [(0,)]


def test_objects_lists_tables_and_columns(
    mysql_database: dict[str, Any], dest_factory: Any
) -> None:
    sql(mysql_database, CONSTRAINED)
    dest = MySQLDestination(config(mysql_database))
    [obj] = dest.objects()
    assert obj.name == "t"
    fields = {f.name: f for f in obj.fields}
    assert fields["id"].is_key and fields["email"].required and not fields["score"].required
