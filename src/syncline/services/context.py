"""The handles every use case needs, built once per process from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from syncline.execution.queue import JobQueue, NullQueue
from syncline.security.secrets import SecretBox, load_or_create_key
from syncline.settings import Settings
from syncline.store.db import make_engine, make_sessionmaker


@dataclass
class AppContext:
    """Settings, the metadata store and the secret box of one Syncline process."""

    settings: Settings
    engine: sa.Engine
    sessions: sessionmaker[Session]
    secrets: SecretBox
    # Replaced by the executor at start-up (embedded pool or procrastinate).
    queue: JobQueue = field(default_factory=NullQueue)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def dispose(self) -> None:
        self.engine.dispose()


def build_context(settings: Settings) -> AppContext:
    """Open the metadata store and the secret key named by ``settings``."""
    settings.ensure_data_dir()
    engine = make_engine(settings.resolved_database_url())
    key = load_or_create_key(settings.secret_key, settings.data_dir)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        secrets=SecretBox(key),
    )
    if settings.resolved_backend() == "procrastinate":
        if not ctx.is_postgres:
            raise ValueError("SYNCLINE_EXECUTION_BACKEND=procrastinate needs a PostgreSQL store")
        from syncline.execution.procrastinate import ProcrastinateQueue

        ctx.queue = ProcrastinateQueue(settings.resolved_database_url())
    return ctx
