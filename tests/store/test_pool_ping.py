"""Pooled connections are pinged only after sitting idle, and a dead one is replaced unseen."""

from __future__ import annotations

import time

import psycopg
import sqlalchemy as sa

from syncline.store.db import make_engine


def _sa_url(dsn: str) -> str:
    return dsn.replace("postgresql://", "postgresql+psycopg://")


def test_an_idle_connection_killed_by_the_server_is_replaced(pg_database: str) -> None:
    engine = make_engine(_sa_url(pg_database), ping_idle_seconds=0.05)
    try:
        with engine.connect() as conn:
            pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with psycopg.connect(pg_database, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        time.sleep(0.1)
        with engine.connect() as conn:  # pinged, found dead, replaced: no error here
            assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != pid
    finally:
        engine.dispose()


def test_a_recently_used_connection_is_used_without_a_round_trip(pg_database: str) -> None:
    engine = make_engine(_sa_url(pg_database), ping_idle_seconds=60)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        calls: list[int] = []
        original = engine.dialect.do_ping
        engine.dialect.do_ping = lambda c: calls.append(1) or original(c)  # type: ignore[method-assign]
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        assert calls == []
        engine.dialect.do_ping = original  # type: ignore[method-assign]
    finally:
        engine.dispose()
