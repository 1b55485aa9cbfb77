"""Shared fixtures: real services, skipped locally when absent but failing under ``CI=true``."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

PG_HOST = os.environ.get("SYNCLINE_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SYNCLINE_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("SYNCLINE_TEST_PG_USER", "postgres")
MYSQL_HOST = os.environ.get("SYNCLINE_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("SYNCLINE_TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("SYNCLINE_TEST_MYSQL_USER", "root")


@pytest.fixture(scope="session", autouse=True)
def _file_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """File destinations may write anywhere under pytest's temporary directory (the file
    root, ``SYNCLINE_FILE_ROOT``); server processes the tests start inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SYNCLINE_FILE_ROOT", str(tmp_path_factory.getbasetemp()))
        yield


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a service is missing, except in CI where a missing service is a failure."""
    if _reachable(host, port):
        return
    msg = f"{name} is not reachable on {host}:{port}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{msg} (CI=true: services are required)")
    pytest.skip(msg)


@pytest.fixture(autouse=True)
def _fresh_rate_budgets() -> Iterator[None]:
    """A test's context may install its store's shared rate budgets process-wide (see
    ``connectors._ratelimit``); the next test starts from an empty in-process one."""
    yield
    from syncline.connectors import _ratelimit

    _ratelimit.configure(_ratelimit.LocalWindows())


def _pg_admin_dsn(dbname: str = "postgres") -> str:
    return f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={dbname}"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """Base libpq-style URL of the PostgreSQL server (no database)."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}"


def create_pg_database(prefix: str = "syncline_t") -> str:
    """Create an empty, uniquely named database and return its name."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one test; yields a psycopg conninfo URL to it."""
    name = create_pg_database()
    try:
        yield f"{pg_server}/{name}"
    finally:
        drop_pg_database(name)


@pytest.fixture(scope="session")
def mysql_server() -> dict[str, object]:
    """Connection arguments for the MariaDB/MySQL server (pymysql style)."""
    require_service("MariaDB/MySQL", MYSQL_HOST, MYSQL_PORT)
    return {"host": MYSQL_HOST, "port": MYSQL_PORT, "user": MYSQL_USER, "password": ""}


@pytest.fixture
def mysql_database(mysql_server: dict[str, object]) -> Iterator[dict[str, object]]:
    """A fresh MySQL database for one test; yields pymysql connect kwargs including it."""
    import pymysql

    name = f"syncline_t_{uuid.uuid4().hex[:12]}"
    conn = pymysql.connect(**mysql_server)  # type: ignore[arg-type]
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}`")
        yield {**mysql_server, "database": name}
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
