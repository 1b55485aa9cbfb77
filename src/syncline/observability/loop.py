"""A process's periodic background pass (alert checks and delivery, warehouse run logs).

One thread per pass, woken every ``every`` seconds until the process hook exits; a pass that
raises is logged and the next one runs anyway, so a broken channel or warehouse never stops
the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def periodic(
    name: str, every: float, work: Callable[[], object], log: logging.Logger
) -> Iterator[None]:
    """Run ``work`` now and every ``every`` seconds in a thread named ``name``, until exit."""
    stop = threading.Event()

    def loop() -> None:
        while True:
            try:
                work()
            except Exception:
                log.exception("%s pass failed", name)
            if stop.wait(every):
                return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
