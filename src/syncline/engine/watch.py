"""Watches a run's control from a side thread and raises the run's stop signal.

Cancelling used to wait for the next batch boundary, and a batch of 10,000 rows to a slow
webhook takes minutes. The watcher polls the control's ``stop_requested`` (a cheap read of the
run's cancel flag, and of whether the worker is stopping or lost the run) and sets
``RunInfo.stop``, which every retry wait and every destination request checks, so a stop takes
effect within a second wherever the run is. Work that cannot check a flag (a long DuckDB
query, a source query streaming from the warehouse) registers an interrupt instead: the
watcher calls it once the run must stop, and again every poll while the work runs, so a
query started just after the stop is interrupted too.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator

log = logging.getLogger(__name__)

#: Seconds between two looks at the control.
POLL_SECONDS = 0.25


class StopWatcher:
    """Sets ``stop`` once ``control.stop_requested()`` says so; a control without that
    method (a test fake) is never watched, and the run stops at batch boundaries."""

    def __init__(self, control: object, stop: threading.Event) -> None:
        self.stop = stop
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._interrupts: list[Callable[[], None]] = []
        requested: Callable[[], bool] | None = getattr(control, "stop_requested", None)
        self._thread: threading.Thread | None = None
        if requested is not None:
            self._requested = requested
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.name = "syncline-run-watch"
            self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(POLL_SECONDS):
            if self.stop.is_set():
                self._interrupt()
                continue
            try:
                if self._requested():
                    self.stop.set()
                    self._interrupt()
            except Exception:  # a flaky metadata store must not kill the watch
                log.debug("stop watch failed; retrying", exc_info=True)

    def _interrupt(self) -> None:
        with self._lock:
            fns = list(self._interrupts)
        for fn in fns:
            try:
                fn()
            except Exception:  # an interrupt that fails must not stop the others
                log.debug("interrupting failed", exc_info=True)

    @contextlib.contextmanager
    def interrupting(self, fns: Iterable[Callable[[], None] | None]) -> Iterator[None]:
        """While the block runs, a stop calls ``fns`` (None entries are skipped)."""
        added = [fn for fn in fns if fn is not None]
        with self._lock:
            self._interrupts.extend(added)
        if self.stop.is_set():
            self._interrupt()
        try:
            yield
        finally:
            with self._lock:
                for fn in added:
                    self._interrupts.remove(fn)

    def close(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
