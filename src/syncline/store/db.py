"""Engine, sessions and migrations of the metadata store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


_CHECKED_IN = "syncline_checked_in"


def ping_when_idle(engine: sa.Engine, idle_seconds: float) -> None:
    """Ping a pooled connection at checkout only when it sat idle ``idle_seconds`` or more.

    SQLAlchemy's ``pool_pre_ping`` costs a round trip on every checkout, i.e. on every API
    request. A connection returned moments ago is as alive as a ping would show, so only one
    idle for a while (where a server restart or an idle timeout may have dropped it) is
    pinged; a dead one is replaced before anyone uses it (``DisconnectionError`` makes the
    pool retry with a fresh connection). 0 pings on every checkout, like ``pool_pre_ping``.
    """

    @sa.event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        last = record.info.get(_CHECKED_IN)  # None: connected just now (info dies with it)
        if last is None or time.monotonic() - last < idle_seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise sa.exc.DisconnectionError(f"stale pooled connection: {exc}") from exc
        if not alive:  # pragma: no cover - the dialects raise rather than answer False
            raise sa.exc.DisconnectionError("stale pooled connection")


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 20,
    pool_timeout: float = 30.0,
    ping_idle_seconds: float = 2.0,
) -> sa.Engine:
    """Create the SQLAlchemy engine for ``url``, tuned for SQLite or PostgreSQL.

    Pooled connections are pinged at checkout only after ``ping_idle_seconds`` idle
    (:func:`ping_when_idle`), not on every request.
    """
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if path == ":memory:" or not path:
            pool = {}  # one in-memory database per connection: SQLAlchemy picks its own pool
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **pool,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = sa.create_engine(url, **pool)
    ping_when_idle(engine, ping_idle_seconds)
    return engine


def make_sessionmaker(engine: sa.Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay usable after commit (we serialise after commit)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction: commit on success, roll back on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Schema comparison ignores procrastinate's tables: its own schema manages them."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations, no alembic.ini needed."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def is_up_to_date(engine: sa.Engine) -> bool:
    """True when the store is reachable and migrated to the newest revision."""
    script = ScriptDirectory.from_config(alembic_config(str(engine.url)))
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    return set(current) == set(script.get_heads())
