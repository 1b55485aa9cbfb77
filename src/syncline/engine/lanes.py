"""Load lanes: one run's idempotent batches written on several destination sessions at once.

Why: a server that ingests a COPY on one CPU-bound backend (PostgreSQL) leaves the engine
idle while it works; two sessions writing disjoint keys load side by side. Where a destination
allows it (``Capabilities.max_writers``, within ``config.load_parallelism``) the runner opens
one destination instance per lane and begins each before any batch is written.

The rules (docs/engine.md, "Load lanes"): at most one batch in flight per lane, each batch
atomic in its own destination transaction; batch ``seq`` numbers are assigned, and
acknowledged keys committed to the snapshot, on the loader's thread only, and only once a
batch's write has returned. Inserts (a create may not be idempotent) never go out on lanes.
The first failed or interrupted batch stops new batches; the batches in flight are waited for
and settled (what they acknowledged is committed) before the first error is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from syncline.connectors._budget import RetryBudget
from syncline.connectors.base import ChangeBatch, Destination, Interrupted, Operation

log = logging.getLogger(__name__)

#: ``config.load_parallelism`` accepts 1..MAX_LANES (the destination's ``max_writers`` caps it).
MAX_LANES = 8

Batch = tuple[pa.Table, list[str], pa.Array | None]
"""What the differ yields for one batch: records, their keys, their row hashes."""

Written = list[tuple[int, str, str]]
"""A written batch's rejected records: (index, error class, message)."""


@dataclass(frozen=True)
class Lane:
    """One writer of a run: its own destination session and its own batch retry clock."""

    destination: Destination
    budget: RetryBudget


class BatchLoader(Protocol):
    """What the lanes need of ``engine.load.BatchLoader``."""

    lanes: list[Lane]

    def next_batch(
        self, operation: Operation, records: pa.Table, keys: list[str], hashes: pa.Array | None
    ) -> ChangeBatch: ...

    def write_on(self, batch: ChangeBatch, lane: int) -> Written: ...

    def settle(
        self, batch: ChangeBatch, lane: int, written: Written, answered: set[int]
    ) -> None: ...

    def batch_settled(self, lane: int) -> None: ...


@dataclass(frozen=True)
class _Flight:
    lane: int
    batch: ChangeBatch


def load_lanes(max_writers: int, config: dict[str, Any] | None) -> int:
    """How many lanes a run writes on: ``config.load_parallelism`` (default: as many as the
    destination allows), never more than the destination's ``max_writers``."""
    wanted = (config or {}).get("load_parallelism")
    limit = min(max(1, max_writers), MAX_LANES)
    return limit if wanted is None else max(1, min(limit, int(wanted)))


def spreads(operation: Operation) -> bool:
    """Whether batches of ``operation`` may be written side by side (idempotent by key)."""
    return operation is not Operation.INSERT


def send_on_lanes(loader: BatchLoader, operation: Operation, batches: Iterable[Batch]) -> None:
    """Send ``batches`` of one operation on the loader's lanes; return once all are settled.

    This thread reads the next batch while the lanes write. An error on this thread (a stop
    at a batch boundary, a failed snapshot commit) drains the lanes too before it propagates.
    """
    with ThreadPoolExecutor(len(loader.lanes), thread_name_prefix="syncline-lane") as pool:
        _send(loader, pool, operation, batches)


def _send(
    loader: BatchLoader, pool: ThreadPoolExecutor, operation: Operation, batches: Iterable[Batch]
) -> None:
    free = list(range(len(loader.lanes)))
    flights: dict[Future[Written], _Flight] = {}
    errors: list[BaseException] = []
    try:
        for records, keys, hashes in batches:
            while not free and not errors:
                _settle(loader, flights, free, errors, block=True)
            if errors:
                break
            batch = loader.next_batch(operation, records, keys, hashes)
            lane = free.pop(0)
            flights[pool.submit(loader.write_on, batch, lane)] = _Flight(lane, batch)
            _settle(loader, flights, free, errors, block=False)
            if errors:
                break
    finally:
        while flights:
            _settle(loader, flights, free, errors, block=True)
    if errors:
        for extra in errors[1:]:
            log.warning("another load lane failed too: %s", extra)
        raise errors[0]


def _settle(
    loader: BatchLoader,
    flights: dict[Future[Written], _Flight],
    free: list[int],
    errors: list[BaseException],
    *,
    block: bool,
) -> None:
    """Settle the flights whose write returned (waiting for one if ``block``): commit what
    each acknowledged, free its lane, and collect failures into ``errors``."""
    if block:
        done, _ = wait(list(flights), return_when=FIRST_COMPLETED)
    else:
        done = {f for f in flights if f.done()}
    for future in done:
        flight = flights.pop(future)
        free.append(flight.lane)
        failure: BaseException | None = None
        try:
            written = future.result()
            answered = set(range(len(flight.batch.keys)))
        except Interrupted as exc:
            # Stopped mid-batch: exactly what the destination confirmed is committed.
            failure = exc
            written = [(e.index, e.error_class, e.message) for e in exc.errors]
            answered = set(exc.acknowledged) | {i for i, _, _ in written}
        except BaseException as exc:  # the batch failed whole: nothing of it to commit
            errors.append(exc)
            loader.batch_settled(flight.lane)
            continue
        try:
            loader.settle(flight.batch, flight.lane, written, answered)
        except BaseException as exc:  # raised once the lanes are drained
            errors.append(exc)
        if failure is not None:
            errors.append(failure)


def finish_lanes(lanes: Sequence[Lane], *, success: bool) -> None:
    """``finish`` every lane (lane 0 last), each even when another's fails; the first
    failure is raised once all are done."""
    first: Exception | None = None
    for lane in reversed(lanes):
        try:
            lane.destination.finish(success=success)
        except Exception as exc:
            if first is None:
                first = exc
            else:
                log.exception("finishing a load lane failed")
    if first is not None:
        raise first
