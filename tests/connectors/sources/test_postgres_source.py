"""PostgreSQL specifics: which read path a model takes, and the types only PostgreSQL has."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from syncline.connectors.base import SourceError
from syncline.connectors.sources import _pg_adbc
from syncline.connectors.sources.postgres import PostgresConfig, PostgresSource

pytestmark = pytest.mark.postgres

EXOTIC = """SELECT '{"a": [1, 2]}'::jsonb AS doc, '{"b":1}'::json AS raw,
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS uid, interval '1 month 2 days' AS span,
    ARRAY[1, 2, 3] AS nums, 2.5 AS loose, 12.345::numeric(6, 3) AS exact,
    '12:30:00'::time AS at_time, 7::smallint AS tiny, '\\x00ff'::bytea AS bytes"""


@pytest.fixture
def source(pg_database: str) -> Iterator[PostgresSource]:
    src = PostgresSource(PostgresConfig(dsn=pg_database))
    yield src
    src.close()


@pytest.fixture
def adbc_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = _pg_adbc.read_batches

    def spy(conninfo: str, sql: str, *args: Any, **kwargs: Any) -> Iterator[pa.RecordBatch]:
        calls.append(sql)
        yield from real(conninfo, sql, *args, **kwargs)

    monkeypatch.setattr(_pg_adbc, "read_batches", spy)
    return calls


def test_common_types_take_the_adbc_path(source: PostgresSource, adbc_calls: list[str]) -> None:
    sql = "SELECT 1::bigint AS a, 'x' AS b, now() AS c, 1.5::numeric(4, 1) AS d"
    batches = list(source.read(sql, batch_rows=10))
    assert adbc_calls == [sql]
    assert str(batches[0].schema.field("d").type) == "decimal128(4, 1)"


def test_other_types_take_the_cursor_path_as_text(
    source: PostgresSource, adbc_calls: list[str]
) -> None:
    cols = {c.name: c.type for c in source.columns(EXOTIC)}
    assert cols == {
        "doc": "string",
        "raw": "string",
        "uid": "string",
        "span": "string",
        "nums": "string",
        "loose": "double",
        "exact": "decimal128(6, 3)",
        "at_time": "time64[us]",
        "tiny": "int16",
        "bytes": "binary",
    }
    (batch,) = list(source.read(EXOTIC, batch_rows=10))
    assert adbc_calls == []
    assert [str(t) for t in batch.schema.types] == list(cols.values())
    row = batch.to_pylist()[0]
    assert row["doc"] == '{"a": [1, 2]}'
    assert row["raw"] == '{"b":1}'  # json keeps its text as stored
    assert row["uid"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert row["span"] == "1 mon 2 days"
    assert row["nums"] == "[1, 2, 3]"
    assert row["loose"] == 2.5
    assert row["bytes"] == b"\x00\xff"


@pytest.mark.parametrize("use_adbc", [True, False])
def test_unconstrained_numeric_is_a_double_on_both_paths(
    source: PostgresSource, use_adbc: bool
) -> None:
    source.use_adbc = use_adbc
    sql = "SELECT x::numeric AS n FROM (VALUES (1.25), (NULL), (-3)) v(x)"
    (batch,) = list(source.read(sql, batch_rows=10))
    assert batch.schema.field("n").type == pa.float64()
    assert batch.column(0).to_pylist() == [1.25, None, -3.0]


@pytest.mark.parametrize("use_adbc", [True, False])
@pytest.mark.parametrize("value", ["'infinity'::timestamptz", "'-infinity'::date"])
def test_infinite_datetimes_are_refused_on_both_paths(
    source: PostgresSource, use_adbc: bool, value: str
) -> None:
    source.use_adbc = use_adbc
    with pytest.raises(SourceError, match=r"infinite|too large|too small"):
        list(source.read(f"SELECT {value} AS v", batch_rows=10))


def test_host_fields_connect_like_a_dsn(pg_database: str) -> None:
    info = psycopg.conninfo.conninfo_to_dict(pg_database)
    config = PostgresConfig(
        host=str(info["host"]), port=int(str(info["port"])), user=str(info["user"]),
        database=str(info["dbname"]), sslmode="disable",
    )  # fmt: skip
    with PostgresSource(config) as src:
        assert src.check().ok
        assert [b.num_rows for b in src.read("SELECT 1 AS one", batch_rows=5)] == [1]


def test_wrong_password_is_reported_without_the_password(pg_database: str) -> None:
    # The test server may trust every local login; then any password passes and this is moot.
    src = PostgresSource(PostgresConfig(dsn=pg_database.replace("postgres@", "nobody:s3cr3t@")))
    result = src.check()
    assert not result.ok
    assert "s3cr3t" not in result.message
    assert "nobody" in result.message


def test_rechunk_cuts_any_stream_into_exact_batches() -> None:
    sizes = [3, 0, 7, 1, 10, 2]
    start, batches = 0, []
    for n in sizes:
        batches.append(pa.record_batch({"i": list(range(start, start + n))}))
        start += n
    out = list(_pg_adbc.rechunk(batches, 4))
    assert [b.num_rows for b in out] == [4, 4, 4, 4, 4, 3]
    assert pa.Table.from_batches(out).column("i").to_pylist() == list(range(23))
