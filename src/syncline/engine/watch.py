"""Watches a run's control from a side thread and raises the run's stop signal.

Cancelling used to wait for the next batch boundary, and a batch of 10,000 rows to a slow
webhook takes minutes. The watcher polls the control's ``stop_requested`` (a cheap read of the
run's cancel flag) and sets ``RunInfo.stop``, which every retry wait and every destination
request checks, so a cancel takes effect within a second wherever the run is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Seconds between two looks at the control.
POLL_SECONDS = 0.25


class StopWatcher:
    """Sets ``stop`` once ``control.stop_requested()`` says so; a control without that
    method (a test fake) is never watched, and the run stops at batch boundaries."""

    def __init__(self, control: object, stop: threading.Event) -> None:
        self._stop = stop
        self._done = threading.Event()
        requested: Callable[[], bool] | None = getattr(control, "stop_requested", None)
        self._thread: threading.Thread | None = None
        if requested is not None:
            self._requested = requested
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.name = "syncline-run-watch"
            self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(POLL_SECONDS):
            try:
                if self._requested():
                    self._stop.set()
                    return
            except Exception:  # a flaky metadata store must not kill the watch
                log.debug("stop watch failed; retrying", exc_info=True)

    def close(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
