"""The Alembic migrations build exactly the schema the ORM declares, on both backends."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from syncline.store.db import include_object, is_up_to_date, make_engine, upgrade
from syncline.store.tables import Base


def _assert_no_drift(url: str) -> None:
    upgrade(url)
    upgrade(url)  # idempotent
    engine = make_engine(url)
    try:
        assert is_up_to_date(engine)
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"include_object": include_object}),
                Base.metadata,
            )
        assert diff == [], diff
    finally:
        engine.dispose()


def test_sqlite_migrations_match_models(tmp_path: Path) -> None:
    _assert_no_drift(f"sqlite:///{tmp_path / 'm.db'}")


def test_postgres_migrations_match_models(pg_database: str) -> None:
    _assert_no_drift(pg_database.replace("postgresql://", "postgresql+psycopg://"))


def test_fresh_store_is_not_up_to_date(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        assert not is_up_to_date(engine)
    finally:
        engine.dispose()
