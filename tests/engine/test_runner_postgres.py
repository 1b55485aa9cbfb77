"""End to end through the engine: a DuckDB model synced into a real PostgreSQL table.

After every run the destination is compared row by row with the model.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from syncline.domain.enums import RunStatus
from syncline.store.tables import RunRecord, Sync

from .conftest import Harness

MAPPING = [
    {"source_column": "id", "destination_field": "id"},
    {"source_column": "email", "destination_field": "email"},
    {"source_column": "score", "destination_field": "score", "type_cast": "integer"},
]


def _dest_rows(dsn: str, table: str = "people") -> dict[int, tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(f"SELECT id, email, score FROM {table}").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _model_rows(h: Harness, where: str = "") -> dict[int, tuple[Any, ...]]:
    import duckdb

    con = duckdb.connect(str(h.warehouse), read_only=True)
    try:
        rows = con.execute(f"SELECT id, email, score FROM people {where}").fetchall()
    finally:
        con.close()
    return {r[0]: (r[1], int(r[2]) if r[2] is not None else None) for r in rows}


def _records(h: Harness, run_id: str) -> list[RunRecord]:
    with h.ctx.sessions() as s:
        return list(s.query(RunRecord).filter(RunRecord.run_id == run_id).all())


def _setup(h: Harness, dsn: str, mode: str, rows: int = 2500, **kw: Any) -> str:
    h.sql(
        f"CREATE OR REPLACE TABLE people AS SELECT i AS id, 'p' || i || '@x.io' AS email,"
        f" CAST(i % 100 AS VARCHAR) AS score FROM range(1, {rows + 1}) t(i)"
    )
    return h.make_sync(
        model_sql="SELECT * FROM people",
        primary_key="id",
        destination_type="postgres",
        destination_config={"dsn": dsn, "table": "people"},
        mapping=MAPPING,
        mode=mode,
        **kw,
    )


@pytest.mark.parametrize("store", ["harness", "pg_harness"])
def test_upsert_sends_only_changes_and_matches_model(
    store: str, request: pytest.FixtureRequest, pg_database: str
) -> None:
    h: Harness = request.getfixturevalue(store)
    sync_id = _setup(h, pg_database, "upsert")
    _, run = h.run(sync_id)
    assert run.status == RunStatus.COMPLETED and run.rows_synced == 2500 and run.rows_failed == 0
    assert run.result_class == "success" and run.summary["added"] == 2500
    assert _dest_rows(pg_database) == _model_rows(h)

    h.sql("UPDATE people SET email = 'changed' || id WHERE id <= 10")
    h.sql("INSERT INTO people VALUES (5000, 'new@x.io', '7')")
    h.sql("DELETE FROM people WHERE id = 2500")
    _, run = h.run(sync_id)
    assert (run.summary["added"], run.summary["changed"], run.summary["removed"]) == (1, 10, 1)
    assert run.rows_synced == 11
    dest = _dest_rows(pg_database)
    assert dest.pop(2500) == ("p2500@x.io", 0)  # upsert never deletes
    assert dest == _model_rows(h)

    _, run = h.run(sync_id)
    assert run.rows_synced == 0 and run.summary["unchanged"] == 2500
    with h.ctx.sessions() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None and sync.last_run_id == run.id and sync.last_synced_at


def test_mirror_deletes_and_guard(harness: Harness, pg_database: str) -> None:
    h = harness
    sync_id = _setup(h, pg_database, "mirror", rows=100)
    h.run(sync_id)
    h.sql("DELETE FROM people WHERE id > 90")
    _, run = h.run(sync_id)
    assert run.summary["removed"] == 10 and run.rows_synced == 10
    assert _dest_rows(pg_database) == _model_rows(h)

    h.sql("DELETE FROM people WHERE id > 30")  # 60 of 90 = 67% > 50%
    _, run = h.run(sync_id)
    assert run.status == "failed" and run.result_reason_code == "delete_guard"
    assert "60 of 90" in run.error_message
    assert len(_dest_rows(pg_database)) == 90  # nothing deleted
    with h.ctx.sessions() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None and sync.status == "error" and "mirror" in sync.status_error

    h.sql("DELETE FROM people")
    _, run = h.run(sync_id)
    assert run.status == "failed" and "zero rows" in run.error_message
    assert len(_dest_rows(pg_database)) == 90

    h.sql("INSERT INTO people SELECT i, 'p' || i || '@x.io', '1' FROM range(1, 31) t(i)")
    h.update_sync(sync_id, config={"allow_mass_delete": True})
    _, run = h.run(sync_id)
    assert run.status == "completed"
    assert _dest_rows(pg_database) == _model_rows(h)
    with h.ctx.sessions() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None and sync.status == "active" and sync.status_error == ""


def test_insert_leaves_existing_untouched(harness: Harness, pg_database: str) -> None:
    h = harness
    sync_id = _setup(h, pg_database, "insert", rows=50)
    h.run(sync_id)
    h.sql("UPDATE people SET email = 'changed' WHERE id = 1")
    h.sql("INSERT INTO people VALUES (51, 'new', '1')")
    _, run = h.run(sync_id)
    assert run.rows_synced == 1
    dest = _dest_rows(pg_database)
    assert dest[1][0] == "p1@x.io" and dest[51] == ("new", 1)


def test_update_rejects_missing_records(harness: Harness, pg_database: str) -> None:
    h = harness
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE people (id bigint PRIMARY KEY, email text, score bigint)")
        conn.execute("INSERT INTO people SELECT i, 'old', 0 FROM generate_series(1, 5) i")
    sync_id = _setup(h, pg_database, "update", rows=8)
    _, run = h.run(sync_id)
    assert run.status == "completed" and run.result_class == "partial"
    assert (run.rows_synced, run.rows_failed) == (5, 3)
    recs = _records(h, run.id)
    assert sorted(r.primary_key or "" for r in recs) == ["6", "7", "8"]
    assert all(r.error_class == "not_found" and r.operation == "update" for r in recs)
    assert set(_dest_rows(pg_database)) == {1, 2, 3, 4, 5}


def test_bad_rows_rejected_and_retried_next_run(harness: Harness, pg_database: str) -> None:
    h = harness
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE people (id bigint PRIMARY KEY, email text NOT NULL,"
            " score bigint CHECK (score < 99))"
        )
    sync_id = _setup(h, pg_database, "upsert", rows=300)
    h.sql(
        "INSERT INTO people VALUES (NULL, 'nokey', '1'), (7, 'dup', '1'), (1000, 'bad-cast', 'abc')"
    )
    _, run = h.run(sync_id)
    recs = _records(h, run.id)
    by_class: dict[str, int] = {}
    for r in recs:
        by_class[r.error_class] = by_class.get(r.error_class, 0) + 1
    # score 99 violates the CHECK for ids 99, 199, 299; id 7 twice; one NULL key; one bad cast.
    assert by_class.pop("duplicate_primary_key") == 2
    assert by_class.pop("null_primary_key") == 1
    assert by_class.pop("invalid_value") == 1
    assert sum(by_class.values()) == 3
    # 303 model rows - 4 rejected before sending - 3 rejected by PostgreSQL
    assert run.rows_failed == 7 and run.rows_synced == 303 - 4 - 3
    cast = next(r for r in recs if r.primary_key == "1000")
    assert "score" in cast.error_message and "abc" in cast.error_message
    assert 99 not in _dest_rows(pg_database) and 7 not in _dest_rows(pg_database)

    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("ALTER TABLE people DROP CONSTRAINT people_score_check")
    h.sql("DELETE FROM people WHERE id IS NULL OR id = 1000 OR (id = 7 AND email = 'dup')")
    _, run = h.run(sync_id)
    assert run.rows_failed == 0 and run.rows_synced == 4  # 3 rejected earlier + key 7
    assert _dest_rows(pg_database) == _model_rows(h)


def test_crash_mid_run_resumes_without_resending_committed(
    harness: Harness, pg_database: str
) -> None:
    h = harness
    sync_id = _setup(h, pg_database, "upsert", rows=5000)
    calls = {"n": 0}

    def die_after_two_batches() -> None:
        calls["n"] += 1
        if calls["n"] > 3:  # called before extract and before each batch
            raise RuntimeError("worker died")

    _, run = h.run(sync_id, on_batch=die_after_two_batches)
    assert run.status == "failed" and run.result_reason_code == "internal_error"
    committed = len(_dest_rows(pg_database))
    assert committed == 2000
    _, run = h.run(sync_id)
    assert run.status == "completed" and run.rows_synced == 5000 - committed
    assert _dest_rows(pg_database) == _model_rows(h)


def test_full_run_mode_resends_everything(harness: Harness, pg_database: str) -> None:
    h = harness
    sync_id = _setup(h, pg_database, "upsert", rows=100)
    h.run(sync_id)
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("UPDATE people SET email = 'drifted'")
    _, run = h.run(sync_id)
    assert run.rows_synced == 0
    _, run = h.run(sync_id, run_mode="full")
    assert run.rows_synced == 100
    assert _dest_rows(pg_database) == _model_rows(h)


def test_append_with_high_water_mark(harness: Harness, pg_database: str) -> None:
    h = harness
    h.sql(
        "CREATE TABLE events AS SELECT i AS id, 'e' || i AS email, CAST(i AS VARCHAR) AS score,"
        " i AS ts FROM range(1, 101) t(i)"
    )
    sync_id = h.make_sync(
        model_sql="SELECT * FROM events",
        primary_key="id",
        destination_type="postgres",
        destination_config={"dsn": pg_database, "table": "people"},
        mapping=MAPPING,
        mode="append",
        high_water_mark="ts",
    )
    _, run = h.run(sync_id)
    assert run.rows_synced == 100
    with h.ctx.sessions() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None and sync.state["high_water_mark"] == 100
    h.sql("INSERT INTO events VALUES (101, 'late', '1', 150), (102, 'x', '2', 160)")
    _, run = h.run(sync_id)
    assert run.rows_synced == 2 and run.summary["model_rows"] == 102
    assert len(_dest_rows(pg_database)) == 102


def test_append_by_a_timestamptz_mark_appends_updated_keys(
    harness: Harness, pg_database: str
) -> None:
    """Seed 001: past the mark is new, whatever the key; a TIMESTAMPTZ mark needs no pytz."""
    h = harness
    h.sql(
        "CREATE TABLE events AS SELECT i AS id, 'e' || i AS email, CAST(i AS VARCHAR) AS score,"
        " TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_hours(i) AS ts FROM range(1, 11) t(i)"
    )
    sync_id = h.make_sync(
        model_sql="SELECT * FROM events",
        primary_key="id",
        destination_type="postgres",
        destination_config={"dsn": pg_database, "table": "people"},
        mapping=MAPPING,
        mode="append",
        high_water_mark="ts",
    )
    _, run = h.run(sync_id)
    assert run.status == "completed" and run.rows_synced == 10, run.error_message
    h.sql("UPDATE events SET ts = TIMESTAMPTZ '2024-02-01 00:00:00+00' WHERE id = 3")
    _, run = h.run(sync_id)
    # the updated key was sent again (what a keyed table does with it is the destination's)
    assert run.status == "completed" and run.rows_synced == 1, run.error_message
    with h.ctx.sessions() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None and sync.state["high_water_mark"] == "2024-02-01T00:00:00Z"


def test_field_order_orders_a_created_tables_columns(harness: Harness, pg_database: str) -> None:
    h = harness
    h.sql(
        "CREATE TABLE people_src AS"
        " SELECT i AS id, 'e' || i AS email, i AS zeta FROM range(1, 4) t(i)"
    )
    mapping = [
        {"source_column": "zeta", "destination_field": "Zeta"},
        {"source_column": "id", "destination_field": "id"},
        {"source_column": "email", "destination_field": "email"},
    ]
    sync_id = h.make_sync(
        model_sql="SELECT * FROM people_src",
        primary_key="id",
        destination_type="postgres",
        destination_config={"dsn": pg_database, "table": "ordered"},
        mapping=mapping,
        field_order="alphabetical_column_name",
    )
    _, run = h.run(sync_id)
    assert run.status == "completed", run.error_message
    with psycopg.connect(pg_database) as conn:
        cols = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'ordered'"
            " ORDER BY ordinal_position"
        ).fetchall()
    assert [c[0] for c in cols] == ["email", "id", "Zeta"]


def test_source_failure_fails_run_clearly(harness: Harness, pg_database: str) -> None:
    h = harness
    sync_id = _setup(h, pg_database, "upsert", rows=10)
    h.update_sync(sync_id, field_mapping=MAPPING)
    with h.ctx.sessions.begin() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None
        from syncline.store.tables import Model

        model = s.get(Model, sync.model_id)
        assert model is not None
        model.sql = "SELECT * FROM no_such_table"
    _, run = h.run(sync_id)
    assert run.status == "failed" and run.result_reason_code == "source_error"
    assert "no_such_table" in run.error_message
