"""Run logs in the warehouse: a run's summary and its rejected records, written back to the source.

Analysts query failures with SQL beside their models: ``syncline_sync_runs`` (one row per run)
and ``syncline_rejected_records`` (one row per rejected record). This is the only place
Syncline writes to a warehouse, so it never reuses a source's connection: model SQL is read on
read-only connections behind the SQL guard, and this writer opens a short connection of its own
that runs only the fixed statements below, on those two tables, with values bound as
parameters. The network guard applies as it does to the source.

A write is one transaction that first deletes the run's rows, then inserts them: delivering the
same run again replaces its rows instead of adding a second copy. The tables are created when
missing (checked first, so a user granted only ``SELECT, INSERT, DELETE`` on tables created
beforehand never needs ``CREATE``).
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from itertools import islice
from typing import Any

import pyarrow as pa

from syncline.connectors.base import SourceError
from syncline.connectors.sources.duckdb import _OPENING as _DUCKDB_OPENING

__all__ = [
    "REJECTED_TABLE",
    "RUNS_TABLE",
    "RejectedRecord",
    "RunSummary",
    "check_schema_name",
    "json_text",
    "supports",
    "write_run_log",
]

RUNS_TABLE = "syncline_sync_runs"
REJECTED_TABLE = "syncline_rejected_records"
CHUNK = 2000
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class RunSummary:
    """One ended run, as ``syncline_sync_runs`` holds it (column order)."""

    run_id: str
    sync_id: str
    sync_name: str
    workspace_id: str
    status: str
    result_class: str | None
    result_reason_code: str | None
    error_message: str
    run_mode: str
    triggered_by: str | None
    attempt_number: int
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_seconds: float | None
    rows_synced: int
    rows_failed: int
    summary: str  # JSON text
    written_at: datetime


@dataclass(frozen=True)
class RejectedRecord:
    """One rejected record, as ``syncline_rejected_records`` holds it (column order)."""

    run_id: str
    record_id: int
    sync_id: str
    primary_key: str | None
    operation: str
    error_class: str
    error_message: str
    payload: str | None  # JSON text
    rejected_at: datetime


def check_schema_name(name: str) -> str:
    """A schema name the writer may put in SQL: a plain identifier, nothing to quote around."""
    if not _IDENT.match(name):
        raise ValueError(
            "warehouse_run_logs_schema must be a plain identifier (letters, digits, _)"
        )
    return name


@dataclass(frozen=True)
class _Dialect:
    """What differs between warehouses: parameter style, quoting, types and how to look."""

    param: str
    quote: str
    timestamp: str
    double: str
    text_key: str  # a text column that is part of a primary key


_DIALECTS = {
    "duckdb": _Dialect("?", '"', "TIMESTAMPTZ", "DOUBLE", "VARCHAR"),
    "postgres": _Dialect("%s", '"', "TIMESTAMPTZ", "DOUBLE PRECISION", "VARCHAR(36)"),
    "mysql": _Dialect("%s", "`", "DATETIME(6)", "DOUBLE", "VARCHAR(36)"),
    "sqlite": _Dialect("?", '"', "TEXT", "REAL", "TEXT"),
}


def supports(source_type: str) -> bool:
    """Whether run logs can be written into a source of this type."""
    return source_type in _DIALECTS


def _ddl(d: _Dialect, runs: str, rejected: str) -> tuple[str, str]:
    ts, key = d.timestamp, d.text_key
    return (
        f"CREATE TABLE {runs} (run_id {key} NOT NULL PRIMARY KEY, sync_id {key} NOT NULL, "
        f"sync_name TEXT, workspace_id {key} NOT NULL, status VARCHAR(16) NOT NULL, "
        "result_class VARCHAR(16), result_reason_code VARCHAR(64), error_message TEXT, "
        "run_mode VARCHAR(16), triggered_by VARCHAR(64), attempt_number INTEGER, "
        f"created_at {ts}, started_at {ts}, completed_at {ts}, duration_seconds {d.double}, "
        f"rows_synced BIGINT, rows_failed BIGINT, summary TEXT, written_at {ts})",
        f"CREATE TABLE {rejected} (run_id {key} NOT NULL, record_id BIGINT NOT NULL, "
        f"sync_id {key} NOT NULL, primary_key TEXT, operation VARCHAR(16), "
        f"error_class VARCHAR(64), error_message TEXT, payload TEXT, rejected_at {ts}, "
        "PRIMARY KEY (run_id, record_id))",
    )


def _exists(source_type: str, cur: Any, d: _Dialect, schema: str | None, table: str) -> bool:
    p = d.param
    if source_type == "sqlite":
        cur.execute(f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = {p}", [table])
    else:
        current = "DATABASE()" if source_type == "mysql" else "current_schema()"
        where_schema = p if schema else current
        args = [schema, table] if schema else [table]
        cur.execute(
            "SELECT 1 FROM information_schema.tables "
            f"WHERE table_schema = {where_schema} AND table_name = {p}",
            args,
        )
    return cur.fetchone() is not None


def _values(row: Any, source_type: str) -> tuple[Any, ...]:
    """A row's values as the driver takes them (SQLite and MySQL: naive UTC timestamps)."""
    out = astuple(row)
    if source_type == "sqlite":
        return tuple(v.isoformat() if isinstance(v, datetime) else v for v in out)
    if source_type == "mysql":
        return tuple(
            v.replace(tzinfo=None) if isinstance(v, datetime) and v.tzinfo else v for v in out
        )
    return out


_REJECTED_ARROW = pa.schema(
    [
        ("run_id", pa.string()),
        ("record_id", pa.int64()),
        ("sync_id", pa.string()),
        ("primary_key", pa.string()),
        ("operation", pa.string()),
        ("error_class", pa.string()),
        ("error_message", pa.string()),
        ("payload", pa.string()),
        ("rejected_at", pa.timestamp("us", tz="UTC")),
    ]
)


def _arrow(chunk: list[RejectedRecord]) -> pa.Table:
    columns = list(zip(*(astuple(r) for r in chunk), strict=True))
    return pa.Table.from_arrays(
        [pa.array(col, type=f.type) for col, f in zip(columns, _REJECTED_ARROW, strict=True)],
        schema=_REJECTED_ARROW,
    )


def _columns(cls: type, d: _Dialect) -> tuple[str, str]:
    """``(column list, parameter marks)`` of a row class (its fields, in order)."""
    names = [f.name for f in fields(cls)]
    return ", ".join(names), ", ".join([d.param] * len(names))


def _chunks(rows: Iterable[RejectedRecord]) -> Iterator[list[RejectedRecord]]:
    it = iter(rows)
    while chunk := list(islice(it, CHUNK)):
        yield chunk


def _write(
    source_type: str,
    conn: Any,
    schema: str | None,
    run: RunSummary,
    rejected: Iterable[RejectedRecord],
) -> int:
    """The statements of one write, in the caller's transaction; rejected rows written."""
    d = _DIALECTS[source_type]
    q = d.quote
    prefix = f"{q}{schema}{q}." if schema else ""
    runs, rej = f"{prefix}{RUNS_TABLE}", f"{prefix}{REJECTED_TABLE}"
    # A DuckDB connection's cursor() is another connection, outside this transaction.
    cur = conn if source_type == "duckdb" else conn.cursor()
    try:
        for table, ddl in zip((RUNS_TABLE, REJECTED_TABLE), _ddl(d, runs, rej), strict=True):
            if not _exists(source_type, cur, d, schema, table):
                cur.execute(ddl)
        cur.execute(f"DELETE FROM {rej} WHERE run_id = {d.param}", [run.run_id])
        cur.execute(f"DELETE FROM {runs} WHERE run_id = {d.param}", [run.run_id])
        # Columns named: tables created beforehand may order them differently.
        names, marks = _columns(RunSummary, d)
        cur.execute(f"INSERT INTO {runs} ({names}) VALUES ({marks})", _values(run, source_type))
        names, marks = _columns(RejectedRecord, d)
        n = 0
        for chunk in _chunks(rejected):
            if source_type == "duckdb":  # row by row is slow in DuckDB: insert from Arrow
                conn.register("syncline_incoming", _arrow(chunk))
                try:
                    conn.execute(
                        f"INSERT INTO {rej} ({names}) SELECT {names} FROM syncline_incoming"
                    )
                finally:
                    conn.unregister("syncline_incoming")
            else:
                cur.executemany(
                    f"INSERT INTO {rej} ({names}) VALUES ({marks})",
                    [_values(r, source_type) for r in chunk],
                )
            n += len(chunk)
        return n
    finally:
        if cur is not conn:
            cur.close()


def _duckdb(config: Any) -> tuple[Any, Callable[[Any], None]]:
    import duckdb

    path = getattr(config, "path", None)
    if path in (None, "", ":memory:"):
        raise SourceError("an in-memory DuckDB source has no file to keep run logs in")
    conn = duckdb.connect(
        str(path),
        read_only=False,
        config={"autoload_known_extensions": False, "autoinstall_known_extensions": False},
    )
    conn.execute("SET enable_external_access = false")
    conn.execute("BEGIN TRANSACTION")
    return conn, lambda c: c.execute("COMMIT")


def _postgres(config: Any) -> tuple[Any, Callable[[Any], None]]:
    import psycopg

    from syncline.connectors.sources.postgres import PostgresSource

    conn = psycopg.connect(PostgresSource(config).guarded_conninfo())  # a transaction of its own
    conn.execute("SET statement_timeout TO 60000")
    return conn, lambda c: c.commit()


def _mysql(config: Any) -> tuple[Any, Callable[[Any], None]]:
    import pymysql

    from syncline.connectors._netguard import guarded_addresses

    [address, *_] = guarded_addresses(config.host, what="MySQL")
    conn = pymysql.connect(
        host=address,
        port=config.port,
        user=config.user,
        password=config.password,
        database=config.database,
        connect_timeout=config.connect_timeout,
        charset="utf8mb4",
        client_flag=0,  # one statement per query
        init_command="SET SESSION time_zone = '+00:00'",
        autocommit=False,
    )
    return conn, lambda c: c.commit()


def _sqlite(config: Any) -> tuple[Any, Callable[[Any], None]]:
    conn = sqlite3.connect(str(config.path), timeout=10)
    conn.execute("BEGIN IMMEDIATE")
    return conn, lambda c: c.commit()


_OPENERS = {"duckdb": _duckdb, "postgres": _postgres, "mysql": _mysql, "sqlite": _sqlite}


def write_run_log(
    source_type: str,
    config: Any,
    *,
    schema: str | None,
    run: RunSummary,
    rejected: Iterable[RejectedRecord],
) -> int:
    """Write (or rewrite) one run's rows into the source warehouse; rejected rows written.

    ``config`` is the source's validated config model. The connection lives only for this
    call, so a DuckDB file is locked for the write and released at once.

    Raises:
        SourceError: the type keeps no run logs, or the warehouse refused (message included).
    """
    if source_type not in _OPENERS:
        raise SourceError(f"a {source_type} source cannot keep run logs")
    if schema is not None:
        check_schema_name(schema)
    # A DuckDB source of this process opening the file meanwhile waits for the write to end
    # (it would fail on the file's write lock otherwise): the sources open under this lock.
    with _DUCKDB_OPENING if source_type == "duckdb" else contextlib.nullcontext():
        try:
            conn, commit = _OPENERS[source_type](config)
        except SourceError:
            raise
        except Exception as exc:
            raise SourceError(f"cannot open the warehouse for run logs: {_text(exc)}") from exc
        try:
            n = _write(source_type, conn, schema, run, rejected)
            commit(conn)
            return n
        except Exception as exc:
            _rollback(conn)
            raise SourceError(f"cannot write run logs: {_text(exc)}") from exc
        finally:
            conn.close()


def _rollback(conn: Any) -> None:
    with contextlib.suppress(Exception):  # the connection is being closed anyway
        conn.rollback()


def _text(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__).splitlines()[0][:500]


def json_text(value: Any) -> str:
    """JSON text of a stored value (for the ``summary`` and ``payload`` columns)."""
    return json.dumps(value, default=str, sort_keys=True)
