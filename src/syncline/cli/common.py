"""What every command group shares: logging set-up and a migrated context for local commands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from syncline.context import AppContext
from syncline.settings import Settings, get_settings


def _setup_logging(level: str = "INFO") -> None:
    from syncline.observability.logs import configure_logging

    configure_logging(level)  # JSON lines (structlog), docs/operations.md
    from syncline.security.redact import install_log_redaction

    install_log_redaction()


@contextmanager
def _context(settings: Settings | None = None) -> Iterator[AppContext]:
    from syncline.bootstrap import build_context
    from syncline.store.db import upgrade

    settings = settings or get_settings()
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url())
    ctx = build_context(settings)
    try:
        yield ctx
    finally:
        ctx.dispose()


@contextmanager
def _as_cli_user() -> Iterator[None]:
    """Audit events of a local command name the OS user (no token is involved)."""
    import getpass

    from syncline.services.audit import Actor, acting_as

    with acting_as(Actor(None, f"cli ({getpass.getuser()})", "cli")):
        yield
