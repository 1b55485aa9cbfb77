"""The handles every use case needs; built once per process by ``syncline.bootstrap``."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from syncline.runs.queue import JobQueue, NullQueue
from syncline.security.secrets import SecretBox
from syncline.settings import Settings


@dataclass
class AppContext:
    """Settings, the metadata store and the secret box of one Syncline process."""

    settings: Settings
    engine: sa.Engine
    sessions: sessionmaker[Session]
    secrets: SecretBox
    # The HMAC key API tokens are hashed with (security/tokens.py).
    token_pepper: bytes
    # Replaced by the executor at start-up (embedded pool or procrastinate).
    queue: JobQueue = field(default_factory=NullQueue)

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def dispose(self) -> None:
        self.engine.dispose()
