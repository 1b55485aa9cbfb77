"""A run's live progress: its phase, rows read, the planned totals and records sent so far.

Why a side thread: while a source streams or a destination's ``write()`` works through a
10,000-record batch, the engine's own thread is busy for minutes. Counting is cheap and
thread-safe (a lock and an int: the webhook's event loop counts each answered request);
saving the summary is a round trip to the metadata store, so a reporter thread saves what
changed at most every ``INTERVAL_SECONDS`` (never per row), and a phase change is saved at
once. Everything goes through ``RunControl.progress`` (the run lifecycle writes it).

The summary's live fields (documented in docs/engine.md, "Progress"):

* ``phase``: one of ``domain.phases.PHASES`` (``queued`` is the run lifecycle's);
* ``rows_read``: model rows read from the source so far (counted per source batch);
* ``planned`` (per operation) and ``planned_total``: what the plan sends, once the diff is known;
* ``sent_total``: records the destination answered so far, the batch in flight included.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pyarrow as pa
from pydantic import BaseModel

from syncline.connectors.base import CheckResult, Column, Source
from syncline.domain.phases import PHASES
from syncline.engine.ports import RunControl

log = logging.getLogger(__name__)

#: The longest a changed count waits before it is saved (a save is due every interval).
INTERVAL_SECONDS = 1.0

Base = tuple[int, int, dict[str, Any]]
"""What the engine knows at a boundary: (rows_synced, rows_failed, summary)."""


def _total(value: Any) -> int:
    if isinstance(value, dict):
        return sum(int(v) for v in value.values() if isinstance(v, int | float))
    return int(value) if isinstance(value, int | float) else 0


class LiveProgress:
    """The live counts of one execution and the thread that saves them."""

    def __init__(self, control: RunControl, *, interval: float | None = None) -> None:
        self._control = control
        self._interval = INTERVAL_SECONDS if interval is None else interval
        self._lock = threading.Lock()  # the counts
        self._saving = threading.Lock()  # one save at a time, in the order they were built
        self._phase = "extracting"
        self._rows_read = 0
        self._planned: dict[str, int] | None = None
        self._in_batch: dict[int, int] = {}  # per load lane: answered of its batch in flight
        self._base: Base = (0, 0, {})
        self._version = 0
        self._saved_version = -1
        self._saved_at = float("-inf")
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    # -- counting (any thread) ---------------------------------------------------------------

    def phase(self, name: str, base: Base | None = None) -> None:
        """Enter phase ``name`` (with the engine's counts so far) and save it now."""
        assert name in PHASES, name
        with self._lock:
            self._phase = name
            if base is not None:
                self._base = base
                self._in_batch.clear()
            self._version += 1
        self._save()

    def publish(self, base: Base, *, settled: tuple[int, ...] | None = None) -> None:
        """A batch boundary: the engine's committed counts, and the lanes whose batch they now
        include (``settled``; None: every lane) start at 0 again. One step, so a committed
        batch is never counted twice nor missing from ``sent_total``."""
        with self._lock:
            self._base = base
            if settled is None:
                self._in_batch.clear()
            else:
                for lane in settled:
                    self._in_batch.pop(lane, None)
            self._version += 1
        if time.monotonic() - self._saved_at >= self._interval:
            self._save()

    def add_read(self, rows: int) -> None:
        """``rows`` more model rows were read from the source."""
        with self._lock:
            self._rows_read += rows
            self._version += 1

    def set_planned(self, planned: dict[str, int]) -> None:
        """What the plan will send, per operation (known once the diff is)."""
        with self._lock:
            self._planned = dict(planned)
            self._version += 1

    def add_sent(self, records: int, lane: int = 0) -> None:
        """The destination answered ``records`` more records of the batch in flight (on
        load lane ``lane``)."""
        with self._lock:
            self._in_batch[lane] = self._in_batch.get(lane, 0) + records
            self._version += 1

    def restart_batch(self, lane: int | None = None) -> None:
        """The batch in flight on ``lane`` (None: on every lane) is tried again from its
        first record (or ended: its committed part is in the engine's counts)."""
        with self._lock:
            if lane is None:
                changed = any(self._in_batch.values())
                self._in_batch.clear()
            else:
                changed = bool(self._in_batch.pop(lane, 0))
            if changed:
                self._version += 1

    # -- reading -----------------------------------------------------------------------------

    def merged(self, summary: dict[str, Any], *, phase: str | None = None) -> dict[str, Any]:
        """``summary`` with the live fields added (``phase`` overrides the current one)."""
        with self._lock:
            return self._merged(summary, phase or self._phase)

    def _merged(self, summary: dict[str, Any], phase: str) -> dict[str, Any]:
        out = {**summary, "phase": phase, "rows_read": self._rows_read}
        if self._planned is not None:
            out["planned"] = dict(self._planned)
            out["planned_total"] = sum(self._planned.values())
        out["sent_total"] = _total(summary.get("sent")) + sum(self._in_batch.values())
        return out

    # -- saving ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reporter thread (it saves what changed, at most every interval)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.name = "syncline-run-progress"
            self._thread.start()

    def close(self) -> None:
        """Stop the reporter; nothing is saved after this returns (the outcome is next)."""
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._saving:  # wait out a save in progress
            pass

    def _watch(self) -> None:
        # A due save is at most a quarter interval late (a look is a lock and a compare).
        while not self._done.wait(max(self._interval / 4, 0.05)):
            if time.monotonic() - self._saved_at >= self._interval:
                self._save()

    def _save(self) -> None:
        with self._saving:
            if self._done.is_set() and threading.current_thread() is self._thread:
                return
            with self._lock:
                if self._version == self._saved_version:
                    return
                version = self._version
                synced, failed, summary = self._base
                merged = self._merged(summary, self._phase)
            try:
                self._control.progress(rows_synced=synced, rows_failed=failed, summary=merged)
            except Exception:  # progress is best effort: a busy store must not fail the run
                log.warning("saving a run's progress failed", exc_info=True)
                return
            self._saved_version = version
            self._saved_at = time.monotonic()


class CountingSource:
    """A source whose ``read()`` counts rows into a run's progress, and says when it ends."""

    config_model: ClassVar[type[BaseModel]] = BaseModel

    def __init__(self, inner: Source, live: LiveProgress) -> None:
        self._inner = inner
        self._live = live

    def check(self) -> CheckResult:
        return self._inner.check()

    def columns(self, sql: str) -> list[Column]:
        return self._inner.columns(sql)

    def read(self, sql: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]:
        for batch in self._inner.read(sql, batch_rows=batch_rows):
            self._live.add_read(batch.num_rows)
            yield batch
        self._live.phase("diffing")  # the model is read: classifying it comes next

    def close(self) -> None:
        self._inner.close()

    def interrupt(self) -> None:
        """The inner source's ``interrupt()`` (cancel its running query), if it has one."""
        inner = getattr(self._inner, "interrupt", None)
        if inner is not None:
            inner()


def counting(
    open_source: Callable[[str, dict[str, Any]], Source], live: LiveProgress
) -> Callable[[str, dict[str, Any]], Source]:
    """``open_source`` whose sources count what they read into ``live``."""

    def opened(type_name: str, config: dict[str, Any]) -> Source:
        return CountingSource(open_source(type_name, config), live)

    return opened
