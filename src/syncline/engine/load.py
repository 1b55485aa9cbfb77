"""Load: write batches to the destination with retries, then commit what it acknowledged.

The order per batch is fixed: write -> snapshot delta for acknowledged records -> run records
for rejected ones. A crash between write and commit means those records are sent again next
time (destinations are idempotent by key); it never means a record is forgotten.

Deltas of upserts, updates and deletes (idempotent by key, per the ``Destination`` contract)
are gathered and committed as one segment every ``DELTA_ROWS`` rows or ``DELTA_SECONDS``
seconds, and whenever the load ends, however it ends: a run pays a few segment writes, not
one per batch, and a crash resends at most that window. Inserts (a create may not be
idempotent) are committed batch by batch.

Load lanes (``engine.lanes``): idempotent batches may go out on several sessions at once;
their keys are still committed here, on the loader's thread, once each write has returned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from syncline.connectors._budget import (
    DEFAULT_BATCH_SECONDS,
    DEFAULT_RUN_SECONDS,
    RetryBudget,
    planned_wait,
)
from syncline.connectors.base import (
    ChangeBatch,
    Destination,
    DestinationError,
    Interrupted,
    Operation,
    RunInfo,
)
from syncline.engine.batching import even_batch_rows
from syncline.engine.diff import Differ
from syncline.engine.lanes import Batch, Lane, finish_lanes, send_on_lanes, spreads
from syncline.engine.mapping import CompiledMapping
from syncline.engine.plan import Plan
from syncline.engine.ports import RecordSink
from syncline.engine.snapshot.types import SnapshotStore, delta_table
from syncline.store.tables import Sync

log = logging.getLogger(__name__)

DELTA_ROWS = 1_000_000
DELTA_SECONDS = 30.0


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, DestinationError) and exc.retryable


@dataclass
class LoadStats:
    sent: dict[str, int] = field(default_factory=dict)
    acknowledged: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    failed_by_class: dict[str, int] = field(default_factory=dict)
    batches: int = 0

    @property
    def acked_total(self) -> int:
        return sum(self.acknowledged.values())

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    def as_summary(self) -> dict[str, Any]:
        """The load's part of a run's summary."""
        return {
            "sent": self.sent,
            "acknowledged": self.acknowledged,
            "failed": self.failed,
            "destination_rejected": self.failed_by_class,
            "batches": self.batches,
        }


class BatchLoader:
    """Sends ChangeBatches for one run and keeps the snapshot in step with acknowledgements."""

    def __init__(
        self,
        *,
        destination: Destination,
        snapshots: SnapshotStore,
        records: RecordSink,
        sync_id: str,
        run_id: str,
        key_field: str,
        skip_nulls: bool,
        hash_probe: str,
        max_attempts: int = 5,
        backoff_initial: float = 0.5,
        backoff_max: float = 20.0,
        between_batches: Callable[[], None] | None = None,
        run: RunInfo | None = None,
        attempt_started: Callable[[int], None] | None = None,
        lanes: Sequence[Lane] | None = None,
        batch_settled: Callable[[int], None] | None = None,
    ) -> None:
        self.destination = destination
        self.snapshots = snapshots
        self.records = records
        self.sync_id = sync_id
        self.run_id = run_id
        self.key_field = key_field
        self.skip_nulls = skip_nulls
        self.hash_probe = hash_probe
        self.max_attempts = max_attempts
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.between_batches = between_batches or (lambda: None)
        # Each attempt at a batch starts its lane's in-batch progress count again.
        self.attempt_started = attempt_started or (lambda lane: None)
        # A batch written on lanes is committed (its counts are in ``stats``); on one lane the
        # next batch boundary (``between_batches``) says so.
        self.batch_settled = batch_settled or (lambda lane: None)
        self.stats = LoadStats()
        self.failed_keys: list[str] = []
        self.run = run
        self.budget = run.budget if run is not None else RetryBudget()
        # Lane 0 is ``destination``; more lanes only where the runner opened them.
        self.lanes: list[Lane] = list(lanes) if lanes else [Lane(destination, self.budget)]
        self._expo = wait_exponential_jitter(
            multiplier=backoff_initial, max=backoff_max, jitter=backoff_initial
        )
        self._pending: list[pa.Table] = []  # acknowledged deltas not yet committed
        self._pending_rows = 0
        self._pending_since = 0.0

    def _stopper(self, budget: RetryBudget, seq: int) -> Callable[[RetryCallState], bool]:
        """Stop after ``max_attempts``, or when the run's retry budget cannot pay the wait
        (the destination's own retries spend the same budget: nothing multiplies)."""

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= self.max_attempts:
                return True
            wait = planned_wait(state, self._expo)  # type: ignore[arg-type]
            exc = state.outcome.exception() if state.outcome else None
            reason, attempt = str(exc), state.attempt_number
            return not budget.allow(wait, what=f"batch {seq}", reason=reason, attempt=attempt)

        return stop

    def _sleep(self, seconds: float) -> None:
        if self.run is not None:
            self.run.wait(seconds)  # raises Interrupted on a stop
        else:
            time.sleep(seconds)

    def write_on(self, batch: ChangeBatch, lane: int) -> list[tuple[int, str, str]]:
        """Write ``batch`` on ``lane`` with retries; safe on a lane's own thread (it touches
        only that lane's destination and budget, and thread-safe callbacks)."""
        writer = self.lanes[lane]
        writer.budget.start_batch()
        for attempt in Retrying(
            stop=self._stopper(writer.budget, batch.seq),
            wait=lambda state: planned_wait(state, self._expo),  # type: ignore[arg-type]
            sleep=self._sleep,
            retry=retry_if_exception(_retryable),
            reraise=True,
        ):
            with attempt:
                self.attempt_started(lane)
                result = writer.destination.write(batch)
        errors = [(e.index, e.error_class, e.message) for e in result.errors]
        return errors

    def send(
        self,
        operation: Operation,
        records: pa.Table,
        keys: list[str],
        hashes: pa.Array | None,
    ) -> None:
        """Write one batch on lane 0, commit acknowledged keys, record rejected ones."""
        batch = self.next_batch(operation, records, keys, hashes)
        interrupted: Interrupted | None = None
        try:
            errors = self.write_on(batch, 0)
            answered = set(range(len(keys)))
        except Interrupted as exc:
            # Stopped mid-batch: commit exactly what the destination confirmed, then stop.
            interrupted = exc
            errors = [(e.index, e.error_class, e.message) for e in exc.errors]
            answered = set(exc.acknowledged) | {i for i, _, _ in errors}
        self._commit(operation, records, keys, hashes, errors, answered)
        if len(self.lanes) > 1:  # on lanes, settling (not the next boundary) resets lane 0
            self.batch_settled(0)
        if interrupted is not None:
            raise interrupted

    def next_batch(
        self, operation: Operation, records: pa.Table, keys: list[str], hashes: pa.Array | None
    ) -> ChangeBatch:
        """The boundary before a batch (the control may stop the run here), and the batch
        with the next ``seq``: on the loader's thread only."""
        self.between_batches()
        self.stats.batches += 1
        return ChangeBatch(
            operation=operation,
            records=records,
            keys=keys,
            key_field=self.key_field,
            seq=self.stats.batches,
            skip_nulls=self.skip_nulls,
            row_hashes=hashes,
        )

    def send_all(self, operation: Operation, batches: Iterable[Batch]) -> None:
        """Send every batch of one operation: side by side on the lanes when there are
        several and the operation is idempotent by key, else one after the other on lane 0.
        Returns once every batch is settled (all lanes drained)."""
        if len(self.lanes) == 1 or not spreads(operation):
            for records, keys, hashes in batches:
                self.send(operation, records, keys, hashes)
            return
        send_on_lanes(self, operation, batches)

    def settle(
        self,
        batch: ChangeBatch,
        lane: int,
        written: list[tuple[int, str, str]],
        answered: set[int],
    ) -> None:
        """Commit the ``answered`` records of a batch written on ``lane`` (on the loader's
        thread, once its write returned), then say the lane's batch is settled."""
        try:
            self._commit(
                batch.operation, batch.records, batch.keys, batch.row_hashes, written, answered
            )
        finally:
            self.batch_settled(lane)

    def _commit(
        self,
        operation: Operation,
        records: pa.Table,
        keys: list[str],
        hashes: pa.Array | None,
        errors: list[tuple[int, str, str]],
        answered: set[int],
    ) -> None:
        """Count and commit the ``answered`` records of a batch; record the rejected ones."""
        failed = {i for i, _, _ in errors}
        op = operation.value
        n = len(keys)
        ok = [i in answered and i not in failed for i in range(n)]
        self.stats.sent[op] = self.stats.sent.get(op, 0) + len(answered)
        self.stats.acknowledged[op] = self.stats.acknowledged.get(op, 0) + sum(ok)
        if failed:
            self.stats.failed[op] = self.stats.failed.get(op, 0) + len(failed)
        ok_mask = pa.array(ok, pa.bool_())
        ok_keys = [k for i, k in enumerate(keys) if ok[i]]
        if operation == Operation.DELETE:
            delta = delta_table([], [], ok_keys)
        else:
            assert hashes is not None
            delta = delta_table(ok_keys, hashes.filter(ok_mask), [])
        delta = delta.replace_schema_metadata({"hash_probe": self.hash_probe})
        if answered and delta.num_rows:
            self._hold(delta, at_once=operation == Operation.INSERT)
        if errors:
            rows = records.to_pylist() if operation != Operation.DELETE else None
            out = []
            for index, error_class, message in errors:
                if not 0 <= index < n:
                    continue
                self.failed_keys.append(keys[index])
                self.stats.failed_by_class[error_class] = (
                    self.stats.failed_by_class.get(error_class, 0) + 1
                )
                payload = rows[index] if rows is not None else {self.key_field: keys[index]}
                out.append((keys[index], op, error_class, message, payload))
            self.records.write(out)

    def _hold(self, delta: pa.Table, *, at_once: bool) -> None:
        """Queue an acknowledged delta; commit the queue when it is due (or ``at_once``).

        A run's keys are disjoint across its batches (each key is classified once), so the
        deltas of one window never disagree about a key and concatenate into one segment.
        """
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append(delta)
        self._pending_rows += delta.num_rows
        due = time.monotonic() - self._pending_since >= DELTA_SECONDS
        if at_once or due or self._pending_rows >= DELTA_ROWS:
            self.flush()

    def flush(self) -> None:
        """Commit every acknowledged delta still queued, as one segment."""
        if not self._pending:
            return
        delta = pa.concat_tables(self._pending) if len(self._pending) > 1 else self._pending[0]
        self.snapshots.commit_delta(self.sync_id, delta, run_id=self.run_id)
        self._pending.clear()
        self._pending_rows = 0


def batch_size(max_batch_rows: int, config: dict[str, Any] | None, default: int) -> int:
    """Rows per batch: ``config.batch_size`` (or the default), within the destination's limit."""
    return max(1, min(max_batch_rows, int((config or {}).get("batch_size", default))))


def retry_budget(config: dict[str, Any] | None) -> RetryBudget:
    """The run's one retry budget, from the sync config (documented defaults otherwise)."""
    cfg = config or {}
    return RetryBudget(
        batch_seconds=float(cfg.get("retry_budget_seconds", DEFAULT_BATCH_SECONDS)),
        run_seconds=float(cfg.get("run_retry_budget_seconds", DEFAULT_RUN_SECONDS)),
    )


def loader_for(
    destination: Destination,
    sync: Sync,
    *,
    snapshots: SnapshotStore,
    records: RecordSink,
    run_id: str,
    key_field: str,
    hash_probe: str,
    between_batches: Callable[[], None],
    run: RunInfo | None = None,
    attempt_started: Callable[[int], None] | None = None,
    lanes: Sequence[Lane] | None = None,
    batch_settled: Callable[[int], None] | None = None,
) -> BatchLoader:
    """A loader for one run of ``sync``, with the sync's retry settings."""
    cfg = sync.config or {}
    if run is not None:
        run.budget.batch_seconds = float(cfg.get("retry_budget_seconds", DEFAULT_BATCH_SECONDS))
        run.budget.run_seconds = float(cfg.get("run_retry_budget_seconds", DEFAULT_RUN_SECONDS))
    return BatchLoader(
        destination=destination,
        snapshots=snapshots,
        records=records,
        sync_id=sync.id,
        run_id=run_id,
        key_field=key_field,
        skip_nulls=not sync.sync_null_values,
        hash_probe=hash_probe,
        max_attempts=int(cfg.get("max_retries", 5)),
        backoff_initial=float(cfg.get("retry_backoff_seconds", 0.5)),
        between_batches=between_batches,
        run=run,
        attempt_started=attempt_started,
        lanes=lanes,
        batch_settled=batch_settled,
    )


def send_plan(
    loader: BatchLoader,
    differ: Differ,
    mapping: CompiledMapping,
    plan: Plan,
    *,
    batch_rows: int,
) -> None:
    """Send what the plan says in its order (a mirror's deletes last, once every upsert is
    settled), then finish every lane."""
    success, lanes, counts = False, len(loader.lanes), differ.counts
    try:
        for operation, classes in plan.sends:
            size = even_batch_rows(batch_rows, counts.of_classes(classes), lanes, operation)
            loader.send_all(operation, differ.send_batches(mapping, classes, size))
        if plan.deletes:
            key_field = mapping.key_field
            size = even_batch_rows(batch_rows, counts.removed, lanes, Operation.DELETE)

            def deletes() -> Iterable[Batch]:
                for keys in differ.removed_batches(size):
                    yield pa.table({key_field: pa.array(keys, pa.string())}), keys, None

            loader.send_all(Operation.DELETE, deletes())
        success = True
    finally:
        try:
            # What the destination acknowledged is committed however the load ends (a cancel,
            # a lost lease, a failed batch): the next run must not resend it.
            loader.flush()
        except Exception:
            if success:
                raise
            log.exception("committing the acknowledged snapshot deltas failed")
        finish_lanes(loader.lanes, success=success)
