"""PostgreSQL destination fast paths (issue 16): they must do exactly what the staged path does.

* New rows into an empty table are COPYed straight into it; a key it already holds (a batch
  resent after a crash), a bad value or an INSERT rule sends the batch through staging.
* An upsert leaves rows whose values did not change untouched (no new row version).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from postgres_helpers import dest_factory, open_dest, sql, write

from syncline.connectors.base import DestinationError, Operation, RunInfo, SyncMode

pytestmark = pytest.mark.postgres
__all__ = ["dest_factory"]


def _rows(lo: int, hi: int, tag: str) -> pa.Table:
    ids = list(range(lo, hi))
    return pa.table({"id": pa.array(ids, pa.int64()), "v": [f"{tag}{i}" for i in ids]})


def test_new_rows_go_straight_into_an_empty_table(pg_database: str, dest_factory: Any) -> None:
    sql(pg_database, "CREATE TABLE t (id bigint PRIMARY KEY, v text)")
    dest = dest_factory()
    assert write(dest, Operation.UPSERT, _rows(0, 3000, "a")).errors == []
    assert dest._writer.direct is True  # the COPY went into the target, not through staging
    assert sql(pg_database, "SELECT count(*), min(v), max(id) FROM t") == [(3000, "a0", 2999)]


@pytest.mark.parametrize("existing", [True, False])
def test_every_load_lane_takes_the_direct_path_judged_at_begin(
    pg_database: str, dest_factory: Any, existing: bool
) -> None:
    """Two lanes of one run (both begun before either writes): the second lane's first
    batch comes after the first lane's rows are committed and still goes straight in."""
    if existing:
        sql(pg_database, "CREATE TABLE t (id bigint PRIMARY KEY, v text)")
    one, two = dest_factory(fields=["id", "v"]), dest_factory(fields=["id", "v"])
    assert write(one, Operation.UPSERT, _rows(0, 1000, "a")).errors == []
    assert write(two, Operation.UPSERT, _rows(1000, 2000, "b")).errors == []
    assert one._writer.direct is True and two._writer.direct is True
    assert sql(pg_database, "SELECT count(*), count(DISTINCT id) FROM t") == [(2000, 2000)]


@pytest.mark.parametrize("op", [Operation.UPSERT, Operation.INSERT])
def test_a_resent_batch_on_the_direct_path_is_applied_once(
    pg_database: str, dest_factory: Any, op: Operation
) -> None:
    """A crash after the COPY committed and before the snapshot did: the keys come again."""
    sql(pg_database, "CREATE TABLE t (id bigint PRIMARY KEY, v text)")
    dest = dest_factory()
    assert write(dest, Operation.UPSERT, _rows(0, 1000, "a")).errors == []
    assert write(dest, op, _rows(500, 1500, "b")).errors == []  # 500 keys already held
    assert dest._writer.direct is False  # the rest of the run goes through ON CONFLICT
    counts = sql(pg_database, "SELECT count(*), count(DISTINCT id) FROM t")
    assert counts == [(1500, 1500)]
    second = "b" if op is Operation.UPSERT else "a"  # insert leaves existing rows as they are
    assert sql(pg_database, "SELECT v FROM t WHERE id IN (0, 700, 1400) ORDER BY id") == [
        ("a0",),
        (f"{second}700",),
        ("b1400",),
    ]


def test_a_fresh_run_over_rows_a_crashed_run_left_behind(
    pg_database: str, dest_factory: Any
) -> None:
    sql(pg_database, "CREATE TABLE t (id bigint PRIMARY KEY, v text)")
    assert write(dest_factory(), Operation.UPSERT, _rows(0, 1000, "a")).errors == []
    again = dest_factory()  # the resumed run: the table is no longer empty
    assert write(again, Operation.UPSERT, _rows(0, 2000, "b")).errors == []
    assert again._writer.direct is False
    assert sql(pg_database, "SELECT count(*), count(DISTINCT id), min(v) FROM t") == [
        (2000, 2000, "b0")
    ]


def test_an_insert_rule_is_honoured(pg_database: str, dest_factory: Any) -> None:
    """COPY ignores rules: a table with an INSERT rule never takes the direct path."""
    sql(
        pg_database,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text)",
        "CREATE TABLE audit (id bigint)",
        "CREATE RULE audit_t AS ON INSERT TO t DO ALSO INSERT INTO audit VALUES (NEW.id)",
    )
    dest = dest_factory()
    assert write(dest, Operation.UPSERT, _rows(0, 10, "a")).errors == []
    assert dest._writer.direct is False
    assert sql(pg_database, "SELECT count(*) FROM audit") == [(10,)]


def test_a_bad_row_on_the_direct_path_is_isolated(pg_database: str, dest_factory: Any) -> None:
    sql(pg_database, "CREATE TABLE t (id bigint PRIMARY KEY, n integer CHECK (n >= 0))")
    table = pa.table(
        {"id": pa.array(range(100), pa.int64()), "n": [-1 if i == 42 else i for i in range(100)]}
    )
    result = write(dest_factory(), Operation.UPSERT, table)
    assert [(e.index, e.error_class) for e in result.errors] == [(42, "constraint_violation")]
    assert sql(pg_database, "SELECT count(*) FROM t") == [(99,)]


def _xmins(dsn: str) -> dict[int, str]:
    return dict(sql(dsn, "SELECT id, xmin::text FROM t"))


def test_an_upsert_leaves_unchanged_rows_untouched(pg_database: str, dest_factory: Any) -> None:
    sql(
        pg_database,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text, amount numeric, doc json)",
        "INSERT INTO t VALUES (1, 'a', 1.00, '{}'), (2, 'b', 2.00, '[1]'), (3, 'c', 3.0, '[]')",
    )
    before = _xmins(pg_database)
    table = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "v": ["a", "B", "c"],
            # 3.0 -> 3.00 is equal as a number but not as stored: it must be written
            "amount": pa.array(
                [Decimal("1.00"), Decimal("2.00"), Decimal("3.00")], pa.decimal128(5, 2)
            ),
            "doc": ["{}", "[1]", "[]"],  # json has no equality operator: compared as text
        }
    )
    assert write(dest_factory(), Operation.UPSERT, table).errors == []
    after = _xmins(pg_database)
    assert after[1] == before[1]  # the same row version: not rewritten
    assert after[2] != before[2] and after[3] != before[3]
    rows = sql(pg_database, "SELECT id, v, amount::text FROM t ORDER BY id")
    assert rows == [(1, "a", "1.00"), (2, "B", "2.00"), (3, "c", "3.00")]


def test_skip_nulls_upsert_of_nulls_rewrites_nothing(pg_database: str, dest_factory: Any) -> None:
    sql(
        pg_database,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text, n integer)",
        "INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2)",
    )
    before = _xmins(pg_database)
    table = pa.table({"id": pa.array([1, 2], pa.int64()), "v": [None, "z"], "n": [None, None]})
    assert write(dest_factory(), Operation.UPSERT, table, skip_nulls=True).errors == []
    after = _xmins(pg_database)
    assert after[1] == before[1] and after[2] != before[2]
    assert sql(pg_database, "SELECT id, v, n FROM t ORDER BY id") == [(1, "a", 1), (2, "z", 2)]


def test_a_writer_without_select_privilege_still_writes(pg_database: str) -> None:
    """The probe reads the target; a role that may not (here: SELECT only on columns, which
    an upsert needs) takes staging, as before."""
    role = f"ins_{uuid.uuid4().hex[:8]}"
    sql(
        pg_database,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text)",
        f"CREATE ROLE {role} LOGIN",
        f"GRANT INSERT, UPDATE, SELECT (id, v) ON t TO {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
    )
    dest = open_dest(f"{pg_database}?user={role}")
    try:
        dest.begin(RunInfo("s", "r", SyncMode.UPSERT, "id", ["id", "v"]))
        assert write(dest, Operation.INSERT, _rows(0, 10, "a")).errors == []
        assert dest._writer.direct is False
        assert write(dest, Operation.UPSERT, _rows(5, 15, "b")).errors == []
        assert sql(pg_database, "SELECT count(*), min(v), max(v) FROM t") == [(15, "a0", "b9")]
    finally:
        dest.close()
        sql(pg_database, f"DROP OWNED BY {role}", f"DROP ROLE {role}")


def _temp_tables(dest: Any) -> list[str]:
    rows = dest._writer._conn.execute(
        "SELECT relname FROM pg_class WHERE relpersistence = 't' AND relkind = 'r'"
        " AND relname LIKE '_syncline%' ORDER BY relname"
    ).fetchall()
    return [r[0] for r in rows]


def test_a_clean_staged_batch_creates_only_its_typed_stage(
    pg_database: str, dest_factory: Any
) -> None:
    """The all-text stage and the row-results table serve failures only: a run that has
    none does not pay their DDL (a few ms each, per load lane, per run)."""
    sql(
        pg_database,
        "CREATE TABLE t (id bigint PRIMARY KEY, v text)",
        "INSERT INTO t VALUES (0, 'x')",
    )
    dest = dest_factory(fields=["id", "v"])
    assert write(dest, Operation.UPSERT, _rows(0, 100, "a")).errors == []
    assert write(dest, Operation.DELETE, _rows(50, 60, "a").select(["id"])).errors == []
    assert _temp_tables(dest) == ["_syncline_stage_0", "_syncline_stage_1"]  # typed, per op
    assert sql(pg_database, "SELECT count(*) FROM t") == [(90,)]


def _bad_values() -> pa.Table:
    # 70000 does not fit a smallint: the typed COPY fails, the all-text stage takes the batch
    return pa.table({"id": pa.array([1, 2, 3], pa.int64()), "n": [1, 70000, 3]})


def test_a_value_its_type_rejects_stages_as_text_and_only_that_row_fails(
    pg_database: str, dest_factory: Any
) -> None:
    sql(
        pg_database,
        "CREATE TABLE t (id bigint PRIMARY KEY, n smallint)",
        "INSERT INTO t VALUES (9, 9)",
    )
    dest = dest_factory(fields=["id", "n"])
    for _ in range(2):  # the second batch reuses the text stage the first one created
        result = write(dest, Operation.UPSERT, _bad_values())
        assert [e.index for e in result.errors] == [1]
    assert sql(pg_database, "SELECT id, n FROM t ORDER BY id") == [(1, 1), (3, 3), (9, 9)]


def test_a_stage_created_in_a_batch_that_failed_is_created_again(
    pg_database: str, dest_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text stage is created inside the batch's transaction; when the whole batch fails
    it is rolled back with it, and the next batch must not assume it exists."""
    from syncline.connectors.destinations.postgres import load

    sql(
        pg_database,
        "CREATE TABLE t (id bigint PRIMARY KEY, n smallint)",
        "INSERT INTO t VALUES (9, 9)",
    )
    dest = dest_factory(fields=["id", "n"])
    real, calls = load.StagedWriter._try, [0]

    def failing_once(self: Any, plan: Any, lo: int, hi: int) -> list[int]:
        calls[0] += 1
        if calls[0] == 1:
            raise psycopg.errors.InsufficientPrivilege("not about a row")
        return real(self, plan, lo, hi)

    monkeypatch.setattr(load.StagedWriter, "_try", failing_once)
    with pytest.raises(DestinationError):
        write(dest, Operation.UPSERT, _bad_values())
    assert [e.index for e in write(dest, Operation.UPSERT, _bad_values()).errors] == [1]
    assert sql(pg_database, "SELECT id, n FROM t ORDER BY id") == [(1, 1), (3, 3), (9, 9)]
