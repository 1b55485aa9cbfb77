"""What ``syncline serve`` runs beside the API, as lifespan hooks of the app."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from syncline.execution.embedded import EmbeddedExecutor
from syncline.services.context import AppContext

Hook = Callable[[AppContext], AbstractContextManager[None]]


@contextmanager
def embedded_executor(ctx: AppContext) -> Iterator[None]:
    """Start the in-process worker pool; on shutdown let running runs reach a batch end."""
    executor = EmbeddedExecutor(ctx)
    ctx.queue = executor
    executor.start()
    try:
        yield
    finally:
        executor.stop()


def executor_hooks(ctx: AppContext) -> list[Hook]:
    """The hooks for an all-in-one process: embedded workers and the scheduler."""
    from syncline.scheduler.tick import scheduler_loop

    return [embedded_executor, scheduler_loop]
