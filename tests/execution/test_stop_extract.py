"""Cancel within 2 s while a slow PostgreSQL source is being read, and a source that dies
mid-stream is a named, retried ``source_error`` (issue 12).

Real PostgreSQL (a model with ``pg_sleep`` per row), real webhook receiver, the embedded
executor; every latency is measured from outside the run.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from syncline.emulators.receiver import WebhookReceiver
from syncline.execution.embedded import EmbeddedExecutor
from syncline.store.tables import Model, Source, Sync
from tests.engine.conftest import Harness
from tests.execution.test_failures import _cancel, _run, _trigger, _until_done
from tests.execution.test_lifecycle import MAPPING

# A few ms per row on the server, streamed: one batch of 1,000 rows takes 5 s, so only
# cancelling the query on the server stops the read within 2 s.
SLOW_MODEL = (
    "SELECT g.i AS id, 'v' || g.i AS v{extra} FROM generate_series(1, {rows}) AS g(i) "
    "CROSS JOIN LATERAL (SELECT pg_sleep({per_row} + 0 * g.i)) AS s"
)
# jsonb is not on the ADBC path: the model goes through psycopg's server-side cursor.
PATHS = {"adbc": "", "cursor": ", jsonb_build_object('i', g.i) AS j"}


def _pg_sync(h: Harness, dsn: str, model_sql: str, url: str, **config: object) -> str:
    sync_id = h.make_sync(
        model_sql=model_sql,
        primary_key="id",
        destination_type="webhook",
        destination_config={"url": url},
        mapping=MAPPING,
        config=config or None,
    )
    with h.ctx.sessions.begin() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None
        model = s.get(Model, sync.model_id)
        assert model is not None
        source = s.get(Source, model.source_id)
        assert source is not None
        source.type = "postgres"
        source.config = h.ctx.secrets.encrypt_config({"dsn": dsn})
    return sync_id


def _model_backends(dsn: str) -> list[int]:
    """Backends running the model's query right now."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE state = 'active' "
            "AND (query ILIKE '%%generate_series%%' OR query ILIKE '%%syncline_read%%') "
            "AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(r[0]) for r in rows]


def _wait_for_backend(dsn: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not _model_backends(dsn):
        assert time.monotonic() < deadline, "the model's query never started"
        time.sleep(0.05)


@pytest.mark.parametrize("path", sorted(PATHS))
def test_cancel_during_extract_of_a_slow_postgres_source(
    harness: Harness, pg_database: str, path: str
) -> None:
    h = harness
    sql = SLOW_MODEL.format(extra=PATHS[path], rows=100_000, per_row=0.005)
    with WebhookReceiver() as rx:
        sync_id = _pg_sync(h, pg_database, sql, rx.url)
        run_id = _trigger(h, sync_id)
        ex = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
        ex.start()
        try:
            _wait_for_backend(pg_database)
            time.sleep(0.5)  # well inside the stream now
            asked = time.monotonic()
            _cancel(h, sync_id, run_id)
            run = _until_done(h, run_id, 30)
            latency = time.monotonic() - asked
        finally:
            ex.stop()
        assert not rx.requests  # nothing was sent
    print(f"cancel latency {latency:.2f}s")  # shown with -s: the figure the issue asks for
    assert latency < 2, f"cancel took {latency:.2f}s"
    assert run.status == "cancelled" and run.result_reason_code == "cancelled_by_user"
    assert "wrong target" in (run.error_message or "")
    deadline = time.monotonic() + 5
    while _model_backends(pg_database):  # the query itself was cancelled on the server
        assert time.monotonic() < deadline, "the source query kept running"
        time.sleep(0.05)


def _mysql_processes(server: dict[str, object]) -> list[int]:
    import pymysql

    conn = pymysql.connect(**server)  # type: ignore[arg-type]
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT id FROM information_schema.processlist "
                "WHERE info LIKE '%%seq_1_to_%%' AND id <> CONNECTION_ID()"
            )
            return [int(r[0]) for r in cur.fetchall()]
    finally:
        conn.close()


def test_cancel_during_extract_of_a_slow_mysql_source(
    harness: Harness, mysql_database: dict[str, object]
) -> None:
    """MariaDB streams the model through an unbuffered cursor; the stop kills the query."""
    h = harness
    sql = "SELECT seq AS id, CONCAT('v', seq) AS v FROM seq_1_to_100000 WHERE SLEEP(0.005) = 0"
    with WebhookReceiver() as rx:
        sync_id = _pg_sync(h, "", sql, rx.url)
        with h.ctx.sessions.begin() as s:
            sync = s.get(Sync, sync_id)
            assert sync is not None
            model = s.get(Model, sync.model_id)
            assert model is not None
            source = s.get(Source, model.source_id)
            assert source is not None
            source.type = "mysql"
            source.config = h.ctx.secrets.encrypt_config(dict(mysql_database))
        server = {k: v for k, v in mysql_database.items() if k != "database"}
        run_id = _trigger(h, sync_id)
        ex = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
        ex.start()
        try:
            deadline = time.monotonic() + 30
            while not _mysql_processes(server):
                assert time.monotonic() < deadline, "the model's query never started"
                time.sleep(0.05)
            time.sleep(0.5)
            asked = time.monotonic()
            _cancel(h, sync_id, run_id)
            run = _until_done(h, run_id, 30)
            latency = time.monotonic() - asked
        finally:
            ex.stop()
        assert not rx.requests
    print(f"cancel latency {latency:.2f}s")  # shown with -s: the figure the issue asks for
    assert latency < 2, f"cancel took {latency:.2f}s"
    assert run.status == "cancelled" and "wrong target" in (run.error_message or "")
    deadline = time.monotonic() + 5
    while _mysql_processes(server):  # the query was killed on the server
        assert time.monotonic() < deadline, "the source query kept running"
        time.sleep(0.05)


def _terminator(dsn: str, stop: threading.Event, killed: list[int], once: bool) -> None:
    """pg_terminate_backend on every backend that runs the model (the warehouse restarting)."""
    while not stop.is_set():
        for pid in _model_backends(dsn):
            time.sleep(0.2)  # let it stream a little first
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
            killed.append(pid)
            if once:
                return
        time.sleep(0.02)


def _run_with_terminator(
    h: Harness, dsn: str, *, once: bool, rows: int, **config: object
) -> tuple[str, list[int], int]:
    sql = SLOW_MODEL.format(extra="", rows=rows, per_row=0.0005)
    killed: list[int] = []
    done = threading.Event()
    with WebhookReceiver() as rx:
        sync_id = _pg_sync(h, dsn, sql, rx.url, **config)
        run_id = _trigger(h, sync_id)
        killer = threading.Thread(target=_terminator, args=(dsn, done, killed, once), daemon=True)
        killer.start()
        ex = EmbeddedExecutor(h.ctx, workers=1, poll_interval=0.05)
        ex.start()
        try:
            _until_done(h, run_id, 60)
        finally:
            done.set()
            ex.stop()
            killer.join(10)
        return run_id, killed, len(rx.state)


def test_a_source_that_dies_mid_stream_fails_with_source_error(
    harness: Harness, pg_database: str
) -> None:
    """Every attempt is terminated: the extract is retried within the budget, then the run
    fails ``source_error`` (not ``internal_error``) naming the source's last error."""
    h = harness
    started = time.monotonic()
    run_id, killed, held = _run_with_terminator(
        h, pg_database, once=False, rows=100_000, retry_budget_seconds=3, retry_backoff_seconds=0.2
    )
    took = time.monotonic() - started
    run = _run(h, run_id)
    assert run.status == "failed" and run.result_reason_code == "source_error", (
        run.result_reason_code,
        run.error_message,
    )
    assert "PostgreSQL" in (run.error_message or ""), run.error_message
    assert len(killed) >= 2, killed  # it was retried
    assert held == 0 and took < 30, took


def test_a_source_that_dies_once_is_retried_and_the_run_completes(
    harness: Harness, pg_database: str
) -> None:
    h = harness
    run_id, killed, held = _run_with_terminator(
        h, pg_database, once=True, rows=3000, retry_backoff_seconds=0.2
    )
    run = _run(h, run_id)
    assert len(killed) == 1
    assert run.status == "completed", (run.result_reason_code, run.error_message)
    assert held == 3000 and run.rows_synced == 3000
