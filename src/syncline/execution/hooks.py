"""Which executor a process runs, and what ``syncline serve`` runs beside the API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from syncline.services.context import AppContext

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
    """The hooks for an all-in-one process: workers and the scheduler."""
    from syncline.scheduler.tick import scheduler_loop

    return [run_executor, scheduler_loop]
