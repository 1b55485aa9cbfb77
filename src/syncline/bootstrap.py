"""The composition root: the context, the executor and the hooks a process runs.

Only entry points (cli, api, ui, config) import this module; everything below receives the
``AppContext`` or narrower ports, so the arrows point down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from syncline.alerts.rules import on_run_transition
from syncline.alerts.worker import alert_loop
from syncline.context import AppContext
from syncline.observability.metrics import install as install_metrics
from syncline.runlog.hook import on_run_transition as queue_run_logs
from syncline.runlog.worker import run_log_loop
from syncline.runs import hooks as run_hooks
from syncline.security.keys import load_keys
from syncline.security.redact import install_log_redaction
from syncline.security.secrets import SecretBox
from syncline.security.tokens import load_or_create_pepper
from syncline.services.audit import install as install_audit
from syncline.services.connector_policy import configure_connectors, configure_rate_limits
from syncline.settings import Settings
from syncline.store.db import make_engine, make_sessionmaker


def build_context(settings: Settings) -> AppContext:
    """Open the metadata store and the secret key named by ``settings``."""
    install_log_redaction()
    settings.ensure_data_dir()
    configure_connectors(settings)
    run_hooks.register(on_run_transition)  # alert rules, in the transaction that ends a run
    run_hooks.register(queue_run_logs)  # run logs for the warehouse, likewise (an outbox row)
    install_metrics()
    install_audit()
    engine = make_engine(
        settings.resolved_database_url(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout,
        ping_idle_seconds=settings.db_ping_idle_seconds,
    )
    configure_rate_limits(engine)
    ring = load_keys(settings.secret_key, settings.data_dir, settings.secret_key_file)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=make_sessionmaker(engine),
        secrets=SecretBox(ring.keys, fallbacks=ring.fallbacks),
        token_pepper=load_or_create_pepper(settings.token_pepper, settings.data_dir),
    )
    if settings.resolved_backend() == "procrastinate":
        if not ctx.is_postgres:
            raise ValueError("SYNCLINE_EXECUTION_BACKEND=procrastinate needs a PostgreSQL store")
        from syncline.execution.procrastinate import ProcrastinateQueue

        ctx.queue = ProcrastinateQueue(settings.resolved_database_url())
    return ctx


Hook = Callable[[AppContext], AbstractContextManager[None]]


class Executor(Protocol):
    executor_id: str

    def start(self) -> None: ...

    def stop(self, timeout: float = ...) -> None: ...


def make_executor(ctx: AppContext, *, workers: int | None = None) -> Executor:
    """The settings' backend: an embedded pool (SQLite) or a procrastinate worker (PostgreSQL)."""
    if ctx.settings.resolved_backend() == "procrastinate":
        from syncline.execution.procrastinate import ProcrastinateWorker

        return ProcrastinateWorker(ctx, concurrency=workers)
    from syncline.execution.embedded import EmbeddedExecutor

    executor = EmbeddedExecutor(ctx, workers=workers)
    ctx.queue = executor  # a created run wakes the pool at once
    return executor


@contextmanager
def run_executor(ctx: AppContext) -> Iterator[None]:
    """Start this process's workers; on shutdown let running runs reach a batch end."""
    executor = make_executor(ctx)
    executor.start()
    try:
        yield
    finally:
        executor.stop()


def executor_hooks(ctx: AppContext) -> list[Hook]:
    """The hooks for an all-in-one process: workers, the scheduler, alert delivery and the
    run logs written into warehouses."""
    from syncline.scheduler.tick import scheduler_loop

    return [run_executor, scheduler_loop, alert_loop, run_log_loop]
