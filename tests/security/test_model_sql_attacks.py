"""Issue 11's model SQL attacks, replayed through the API: each must fail and leak nothing.

A model is created with ``POST /models`` (its columns are discovered on the source) and read
with ``POST /models/{id}/preview``. Models saved before the guard existed are planted straight
in the store, so the preview path is attacked too, not only creation.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.bootstrap import build_context
from syncline.context import AppContext
from syncline.services.workspaces import create_workspace
from syncline.settings import Settings
from syncline.store.db import upgrade
from syncline.store.tables import Model


class Api:
    """One workspace on a fresh server, and the calls the attacks need."""

    def __init__(self, ctx: AppContext, client: TestClient) -> None:
        self.ctx = ctx
        self.client = client
        with ctx.sessions() as session:
            workspace, self.token = create_workspace(
                session, name=f"ws-{uuid.uuid4().hex[:6]}", pepper=ctx.token_pepper
            )
            self.workspace_id = workspace.id

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"/api/v1/workspaces/{self.workspace_id}{path}"
        headers = {"Authorization": f"Bearer {self.token}"}
        return self.client.request(method, url, headers=headers, **kwargs)

    def source(self, type_: str, config: dict[str, Any]) -> str:
        resp = self.call("POST", "/sources", json={"name": "wh", "type": type_, "config": config})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    def create_model(self, source_id: str, sql: str, primary_key: str = "id") -> Any:
        body = {"name": "m", "source_id": source_id, "sql": sql, "primary_key": primary_key}
        return self.call("POST", "/models", json=body)

    def planted_model(self, source_id: str, sql: str, primary_key: str = "id") -> str:
        """A model saved with no check at all, as an old release would have stored it."""
        with self.ctx.sessions() as session:
            model = Model(
                workspace_id=self.workspace_id,
                source_id=source_id,
                name=f"old-{uuid.uuid4().hex[:6]}",
                sql=sql,
                primary_key=primary_key,
                columns=[{"name": primary_key, "type": "int64", "nullable": True}],
            )
            session.add(model)
            session.commit()
            return model.id

    def preview(self, model_id: str) -> Any:
        return self.call("POST", f"/models/{model_id}/preview", json={"limit": 5})


def _server(tmp_path: Path, **settings: Any) -> Iterator[Api]:
    data_dir = tmp_path / ".syncline"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'syncline.db'}"
    upgrade(url)
    # The key file where older versions kept it (the worst case for these attacks).
    settings.setdefault("secret_key_file", data_dir / "secret.key")
    ctx = build_context(Settings(data_dir=data_dir, database_url=url, **settings))
    try:
        with TestClient(create_app(ctx)) as client:
            yield Api(ctx, client)
    finally:
        ctx.dispose()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from _server(tmp_path)


def _refused(resp: Any, *secrets: str) -> str:
    assert resp.status_code == 422, resp.text
    for secret in secrets:
        assert secret not in resp.text
    return str(resp.text)


# --- DuckDB -----------------------------------------------------------------------------


@pytest.fixture
def duck_file(tmp_path: Path) -> str:
    path = str(tmp_path / "wh.duckdb")
    con = duckdb.connect(path)
    con.execute("CREATE TABLE customers AS SELECT range AS id FROM range(3)")
    con.close()
    return path


def _file_reads(data_dir: Path) -> list[str]:
    key = data_dir / "secret.key"
    return [
        f"SELECT 1 AS id, filename, content FROM read_text('{key}')",
        "SELECT 1 AS id, content FROM read_text('/proc/self/cwd/.syncline/secret.key')",
        f"SELECT 1 AS id, content FROM read_blob('{data_dir / 'syncline.db'}')",
        "SELECT 1 AS id, content FROM read_text('/proc/self/environ')",
        "SELECT 1 AS id, * FROM read_csv('/etc/passwd')",
        f"SELECT 1 AS id, * FROM glob('{data_dir}/*')",
    ]


@pytest.mark.parametrize("in_memory", [False, True])
def test_duckdb_model_sql_cannot_read_server_files(
    api: Api, duck_file: str, in_memory: bool
) -> None:
    data_dir = api.ctx.settings.data_dir
    key = (data_dir / "secret.key").read_text().strip()
    source_id = api.source("duckdb", {"path": "" if in_memory else duck_file})
    for sql in _file_reads(data_dir):
        _refused(api.create_model(source_id, sql), key, 'secret.key",')
        _refused(api.preview(api.planted_model(source_id, sql)), key, "SQLite format")


@pytest.mark.parametrize("in_memory", [False, True])
def test_duckdb_model_sql_cannot_write_or_attach(
    api: Api, duck_file: str, tmp_path: Path, in_memory: bool
) -> None:
    source_id = api.source("duckdb", {"path": "" if in_memory else duck_file})
    out = tmp_path / "stolen"
    attacks = [
        f"COPY (SELECT 1 AS id) TO '{out}.csv'",
        f"EXPORT DATABASE '{out}'",
        f"ATTACH '{out}.db' AS stolen",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        f"SELECT * FROM query('COPY (SELECT 1) TO ''{out}.q.csv''')",
    ]
    for sql in attacks:
        _refused(api.create_model(source_id, sql))
        _refused(api.preview(api.planted_model(source_id, sql)))
    assert not any(p.name.startswith("stolen") for p in tmp_path.iterdir())


def test_duckdb_connection_itself_refuses_files_when_the_guard_is_bypassed(
    duck_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second lock: even SQL the guard never saw cannot reach the filesystem."""
    from syncline.connectors.sources.duckdb import DuckDBConfig, DuckDBSource

    (tmp_path / "ok").mkdir()
    (tmp_path / "secret.txt").write_text("s3cr3t")
    duckdb.connect().execute(f"COPY (SELECT 7 AS id) TO '{tmp_path / 'ok' / 'x.parquet'}'")
    src = DuckDBSource(DuckDBConfig(path=duck_file, allowed_directories=[str(tmp_path / "ok")]))
    monkeypatch.setattr("syncline.connectors.sources.duckdb.check_select", lambda sql, dialect: sql)
    with src:
        ok = f"SELECT * FROM read_parquet('{tmp_path / 'ok' / 'x.parquet'}')"
        assert [b.to_pylist() for b in src.read(ok, batch_rows=10)] == [[{"id": 7}]]
        for sql in [
            "SELECT * FROM read_text('/etc/hostname')",
            "SELECT * FROM read_blob('/proc/self/environ')",
            f"SELECT * FROM read_text('{tmp_path / 'ok'}/../secret.txt')",
            "SELECT * FROM glob('/*')",
            f"COPY (SELECT 1) TO '{tmp_path / 'w.csv'}'",
            f"EXPORT DATABASE '{tmp_path / 'dump'}'",
            f"ATTACH '{tmp_path / 'a.db'}' AS a",
            "INSTALL httpfs",
            "LOAD httpfs",
            "SET enable_external_access = true",
            "SET lock_configuration = false",
        ]:
            with pytest.raises(Exception, match=r"(?i)permission|disabled|locked|configuration"):
                list(src.read(sql, batch_rows=10))
    assert not (tmp_path / "w.csv").exists()
    assert not (tmp_path / "dump").exists()


# --- PostgreSQL ---------------------------------------------------------------------------


@pytest.fixture
def victim_pg(pg_database: str) -> str:
    with psycopg.connect(pg_database, autocommit=True) as conn:
        conn.execute("CREATE TABLE victim (id int)")
        conn.execute("INSERT INTO victim SELECT generate_series(1, 5)")
        conn.execute(
            "CREATE FUNCTION zap() RETURNS int LANGUAGE sql AS 'DELETE FROM victim; SELECT 1'"
        )
    return pg_database


def _victims(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM victim").fetchone()
    assert row is not None
    return int(row[0])


def test_postgres_wrapper_escape_commit_delete_is_refused(api: Api, victim_pg: str) -> None:
    source_id = api.source("postgres", {"dsn": victim_pg})
    escape = "SELECT 1 AS id) q; COMMIT; DELETE FROM victim; SELECT * FROM (SELECT 1 AS id"
    _refused(api.create_model(source_id, escape))
    _refused(api.preview(api.planted_model(source_id, escape)))
    assert _victims(victim_pg) == 5


def test_postgres_writes_in_one_statement_are_refused(
    api: Api, victim_pg: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    source_id = api.source("postgres", {"dsn": victim_pg})
    attacks = [
        f"COPY victim FROM PROGRAM 'touch {marker}'",
        f"COPY (SELECT 1) TO PROGRAM 'touch {marker}'",
        "WITH d AS (DELETE FROM victim RETURNING id) SELECT id FROM d",
        "SELECT id FROM victim FOR UPDATE",
        "SELECT pg_read_file('/etc/passwd') AS id",
        "SELECT set_config('default_transaction_read_only', 'off', false) AS id",
        "DELETE FROM victim RETURNING id",
        "SELECT 1 AS id INTO stolen",
    ]
    for sql in attacks:
        _refused(api.create_model(source_id, sql), "root:")
        _refused(api.preview(api.planted_model(source_id, sql)), "root:")
    # A function that writes passes the parser (it is a SELECT) but the transaction is
    # read-only: the database refuses the DELETE inside it.
    created = api.create_model(source_id, "SELECT zap() AS id")
    if created.status_code == 201:
        assert "read-only" in api.preview(created.json()["id"]).text
    assert "read-only" in api.preview(api.planted_model(source_id, "SELECT zap() AS id")).text
    assert _victims(victim_pg) == 5
    assert not marker.exists()


@pytest.mark.parametrize("use_adbc", [True, False])
def test_postgres_protocol_runs_one_statement_read_only_without_the_guard(
    victim_pg: str, use_adbc: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second lock: extended protocol, read-only transaction, on every read path."""
    from syncline.connectors.base import SourceError
    from syncline.connectors.sources.postgres import PostgresConfig, PostgresSource

    monkeypatch.setattr(PostgresSource, "guard", lambda self, sql: sql.strip().rstrip(";"))
    monkeypatch.setattr(PostgresSource, "use_adbc", use_adbc)
    with PostgresSource(PostgresConfig(dsn=victim_pg)) as src:
        with pytest.raises(SourceError):
            src.columns("SELECT 1 AS id; DELETE FROM victim")
        with pytest.raises(SourceError):
            list(src.read("SELECT 1 AS id; DELETE FROM victim", batch_rows=10))
        with pytest.raises(SourceError, match="read-only"):
            list(src.read("SELECT zap() AS id", batch_rows=10))
        ro = "SELECT current_setting('transaction_read_only') AS ro"
        rows = list(src.read(ro, batch_rows=10))
        assert rows[0].to_pylist() == [{"ro": "on"}]
    assert _victims(victim_pg) == 5


def test_postgres_preview_stops_at_the_preview_timeout(api: Api, victim_pg: str) -> None:
    config = {"dsn": victim_pg, "preview_timeout_seconds": 1}
    source_id = api.source("postgres", config)
    created = api.create_model(source_id, "SELECT 1 AS id, pg_sleep(20) AS s")
    assert created.status_code == 201, created.text  # discovery plans, it does not run
    started = time.monotonic()
    resp = api.preview(created.json()["id"])
    assert resp.status_code == 422
    assert "statement timeout" in resp.text
    assert time.monotonic() - started < 10
    # Plain int columns take the ADBC (binary COPY) path: the same timeout applies there.
    adbc = api.planted_model(source_id, "SELECT 1 AS id FROM (SELECT pg_sleep(20)) AS s")
    started = time.monotonic()
    resp = api.preview(adbc)
    assert resp.status_code == 422
    assert "statement timeout" in resp.text
    assert time.monotonic() - started < 10


def test_sixty_slow_previews_leave_healthz_up(tmp_path: Path, victim_pg: str) -> None:
    """The issue's pool exhaustion: previews run off the store and at most 4 at a time."""
    server = _server(tmp_path, preview_concurrency=4, preview_wait_seconds=0.5)
    api = next(server)
    try:
        source_id = api.source("postgres", {"dsn": victim_pg, "preview_timeout_seconds": 3})
        created = api.create_model(source_id, "SELECT 1 AS id, pg_sleep(25) AS s")
        model_id = created.json()["id"]
        with ThreadPoolExecutor(max_workers=60) as pool:
            started = time.monotonic()
            futures = [pool.submit(api.preview, model_id) for _ in range(60)]
            time.sleep(0.3)
            health_started = time.monotonic()
            health = api.client.get("/healthz")
            health_took = time.monotonic() - health_started
            statuses = [f.result().status_code for f in futures]
            took = time.monotonic() - started
        assert health.status_code == 200, health.text
        assert health_took < 10
        assert set(statuses) <= {422, 503}, statuses
        assert statuses.count(503) >= 40  # the rest waited briefly and were told to retry
        busy = next(f.result() for f in futures if f.result().status_code == 503)
        assert busy.headers["Retry-After"]
        assert "try again" in busy.json()["detail"]
        assert took < 20  # nothing waited for pg_sleep(25)
        assert api.client.get("/healthz").status_code == 200
    finally:
        server.close()


# --- MySQL and SQLite ---------------------------------------------------------------------


@pytest.fixture
def victim_mysql(mysql_database: dict[str, Any]) -> dict[str, Any]:
    import pymysql

    conn = pymysql.connect(**mysql_database, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE victim (id int)")
        cur.execute("INSERT INTO victim VALUES (1), (2), (3)")
    conn.close()
    return mysql_database


def _mysql_victims(db: dict[str, Any]) -> int:
    import pymysql

    conn = pymysql.connect(**db)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM victim")
            row = cur.fetchone()
    finally:
        conn.close()
    assert row is not None
    return int(row[0])


def test_mysql_scripts_and_writes_are_refused(
    api: Api, victim_mysql: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncline.connectors.base import SourceError
    from syncline.connectors.sources.mysql import MySQLConfig, MySQLSource

    source_id = api.source("mysql", victim_mysql)
    attacks = [
        "SELECT 1 AS id; DELETE FROM victim",
        "SELECT 1 AS id) q; COMMIT; DELETE FROM victim; SELECT * FROM (SELECT 1 AS id",
        "DELETE FROM victim",
        f"SELECT id FROM victim INTO OUTFILE '{tmp_path / 'out'}'",
        "SELECT LOAD_FILE('/etc/passwd') AS id",
        "SELECT id FROM victim FOR UPDATE",
    ]
    for sql in attacks:
        _refused(api.create_model(source_id, sql))
        _refused(api.preview(api.planted_model(source_id, sql)))
    # Without the guard, the server still runs one statement, in a read-only transaction.
    monkeypatch.setattr(MySQLSource, "guard", lambda self, sql: sql)
    with MySQLSource(MySQLConfig(**victim_mysql)) as src:
        for sql in ["SELECT 1 AS id; DELETE FROM victim", "DELETE FROM victim"]:
            with pytest.raises(SourceError):
                list(src.read(sql, batch_rows=10))
    assert _mysql_victims(victim_mysql) == 3


def test_mysql_preview_stops_at_the_preview_timeout(api: Api, victim_mysql: dict[str, Any]) -> None:
    source_id = api.source("mysql", {**victim_mysql, "preview_timeout_seconds": 1})
    model_id = api.planted_model(source_id, "SELECT 1 AS id, SLEEP(20) AS s")
    started = time.monotonic()
    resp = api.preview(model_id)
    assert resp.status_code == 422
    assert "interrupted" in resp.text or "max_execution_time" in resp.text
    assert time.monotonic() - started < 10


@pytest.fixture
def victim_sqlite(tmp_path: Path) -> str:
    import sqlite3

    path = tmp_path / "wh.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE victim (id INTEGER)")
    conn.executemany("INSERT INTO victim VALUES (?)", [(1,), (2,), (3,)])
    conn.commit()
    conn.close()
    return str(path)


def _sqlite_victims(path: str) -> int:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM victim").fetchone()[0])
    finally:
        conn.close()


def test_sqlite_scripts_writes_and_attach_are_refused(
    api: Api, victim_sqlite: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from syncline.connectors.base import SourceError
    from syncline.connectors.sources.sqlite import SQLiteConfig, SQLiteSource

    source_id = api.source("sqlite", {"path": victim_sqlite})
    other = tmp_path / "other.sqlite"
    attacks = [
        "SELECT 1 AS id; DELETE FROM victim",
        "DELETE FROM victim",
        f"ATTACH DATABASE '{other}' AS other",
        f"VACUUM INTO '{other}'",
        "PRAGMA query_only = OFF",
        "SELECT load_extension('/tmp/evil') AS id",
    ]
    for sql in attacks:
        _refused(api.create_model(source_id, sql))
        _refused(api.preview(api.planted_model(source_id, sql)))
    # Without the guard, the authorizer and query_only still let nothing but reads through.
    monkeypatch.setattr(SQLiteSource, "guard", lambda self, sql: sql)
    with SQLiteSource(SQLiteConfig(path=victim_sqlite)) as src:
        for sql in [
            "DELETE FROM victim",
            f"ATTACH DATABASE '{other}' AS other",
            "PRAGMA query_only = OFF",
            "SELECT load_extension('/tmp/evil') AS id",
        ]:
            with pytest.raises(SourceError):
                list(src.read(sql, batch_rows=10))
        (batch,) = src.read("SELECT id FROM victim", batch_rows=10)
        assert batch.num_rows == 3
    assert _sqlite_victims(victim_sqlite) == 3
    assert not other.exists()


def test_sqlite_preview_stops_at_the_preview_timeout(api: Api, victim_sqlite: str) -> None:
    source_id = api.source("sqlite", {"path": victim_sqlite, "preview_timeout_seconds": 0.5})
    forever = (
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
        "SELECT 1 AS id, count(*) AS n FROM r"
    )
    model_id = api.planted_model(source_id, forever)
    started = time.monotonic()
    resp = api.preview(model_id)
    assert resp.status_code == 422
    assert "timeout" in resp.text
    assert time.monotonic() - started < 10
