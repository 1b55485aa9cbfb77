"""Extract and classify: stream the model into the run's DuckDB and diff it (no writes).

Shared by runs and dry runs: everything here reads; what it opens is handed back to close.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from syncline.connectors._budget import RetryBudget, planned_wait
from syncline.connectors.base import Interrupted, SourceError
from syncline.domain.enums import SyncMode
from syncline.domain.runs import ShardRef
from syncline.engine.diff import DiffCounts, Differ, HiddenDuplicates, open_duckdb
from syncline.engine.mapping import (
    CompiledMapping,
    MappingError,
    compile_mapping,
    resolve_mappings,
)
from syncline.engine.plan import plan_for
from syncline.engine.ports import ReadEnv
from syncline.engine.stream import STREAM_COLUMNS, stream_model
from syncline.engine.watch import StopWatcher
from syncline.store.tables import Model, Source, Sync


def _watched(
    batches: Iterable[pa.RecordBatch], watch: StopWatcher | None, failure: list[BaseException]
) -> Iterator[pa.RecordBatch]:
    """The source's batches, checking the run's stop between them; the source's own error
    is kept, because DuckDB, which pulls the batches, may hand back its own instead."""
    try:
        for batch in batches:
            if watch is not None and watch.stop.is_set():
                raise Interrupted("the run was asked to stop while reading the source")
            yield batch
    except BaseException as exc:
        failure.append(exc)
        raise


def extract(
    env: ReadEnv,
    *,
    model: Model,
    source_row: Source,
    work_dir: Path,
    closers: list[Callable[[], None]],
    watch: StopWatcher | None = None,
) -> Differ:
    """Open the source and stream the model's rows into a DuckDB spilling to ``work_dir``.

    Given ``watch``, a stop interrupts the source's query and the DuckDB staging it.
    """
    with _reading(env, model, source_row, work_dir, closers, watch) as (source, differ, batches):
        differ.stage_model(batches, columns=lambda: [c.name for c in source.columns(model.sql)])
    return differ


@contextlib.contextmanager
def _reading(
    env: ReadEnv,
    model: Model,
    source_row: Source,
    work_dir: Path,
    closers: list[Callable[[], None]],
    watch: StopWatcher | None,
) -> Iterator[tuple[Any, Differ, Iterator[pa.RecordBatch]]]:
    """Open the source and the run's DuckDB and read the model: ``(source, differ, batches)``.

    A stop interrupts the source's query and DuckDB; the source's own error wins over the one
    DuckDB (which pulls the batches) hands back. Once the model is in the run's DuckDB the
    source is released at once, so the warehouse is free (a dbt build can write to it) while
    the destination is loaded.
    """
    source = env.sources(source_row.type, env.decrypt(source_row.config))
    closers.append(source.close)
    work_dir.mkdir(parents=True, exist_ok=True)
    differ = Differ(open_duckdb(temp_dir=str(work_dir), memory_mb=env.run_memory_mb))
    closers.append(differ.close)
    failure: list[BaseException] = []
    interrupts = (differ.con.interrupt, getattr(source, "interrupt", None))
    with watch.interrupting(interrupts) if watch else contextlib.nullcontext():
        try:
            read = source.read(model.sql, batch_rows=env.batch_rows)
            yield source, differ, _watched(read, watch, failure)
        except Exception as exc:
            if failure and failure[0] is not exc and isinstance(failure[0], Exception):
                raise failure[0] from exc
            raise
    closers.remove(source.close)
    source.close()


@dataclass
class PreparedDiff:
    differ: Differ
    mapping: CompiledMapping
    counts: DiffCounts
    hwm: str | None
    mark: Any
    # (removed, model_rows, snapshot_rows) over the whole model, for the mirror delete guard.
    guard: tuple[int, int, int] | None = None


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, SourceError) and exc.retryable


class _SourceRetries:
    """Extracting again after a retryable source failure (the connection was terminated, the
    warehouse restarted), within the run's one retry budget; waits end at once on a stop."""

    def __init__(self, budget: RetryBudget, watch: StopWatcher | None, backoff: float) -> None:
        self.budget, self.watch = budget, watch
        self._expo = wait_exponential_jitter(multiplier=backoff, max=20.0, jitter=backoff)

    def stop(self, state: RetryCallState) -> bool:
        if self.watch is not None and self.watch.stop.is_set():
            return True
        wait = planned_wait(state, self._expo)  # type: ignore[arg-type]
        exc = state.outcome.exception() if state.outcome else None
        reason = str(exc)
        return not self.budget.allow(
            wait, what="reading the source", reason=reason, attempt=state.attempt_number
        )

    def sleep(self, seconds: float) -> None:
        if self.watch is not None and self.watch.stop.wait(seconds):
            raise Interrupted("the run was asked to stop")

    def retrying(self) -> Retrying:
        return Retrying(
            stop=self.stop,
            wait=lambda state: planned_wait(state, self._expo),  # type: ignore[arg-type]
            sleep=self.sleep,
            retry=retry_if_exception(_retryable),
            reraise=True,
        )


def prepare_diff(
    env: ReadEnv,
    *,
    sync: Sync,
    model: Model,
    source_row: Source,
    full: bool,
    work_dir: Path,
    closers: list[Callable[[], None]],
    shard: ShardRef | None = None,
    watch: StopWatcher | None = None,
    budget: RetryBudget | None = None,
) -> PreparedDiff:
    """Extract the model, compile the mapping and classify rows (no writes anywhere).

    Shared by runs and dry runs; what it opens is appended to ``closers``. Given ``budget``,
    a retryable source failure is extracted again within it; given ``watch``, a stop
    interrupts the source's query and the diff's DuckDB queries.
    """
    if budget is None:
        return _prepare(env, sync, model, source_row, full, work_dir, closers, shard, watch)
    backoff = float((sync.config or {}).get("retry_backoff_seconds", 0.5))
    for attempt in _SourceRetries(budget, watch, backoff).retrying():
        with attempt:
            opened: list[Callable[[], None]] = []
            try:
                prepared = _prepare(
                    env, sync, model, source_row, full, work_dir, opened, shard, watch
                )
            except SourceError:
                for fn in reversed(opened):  # this attempt's DuckDB and source, before the next
                    with contextlib.suppress(Exception):
                        fn()
                raise
            except BaseException:
                closers.extend(opened)
                raise
            closers.extend(opened)
    return prepared


def _prepare(
    env: ReadEnv,
    sync: Sync,
    model: Model,
    source_row: Source,
    full: bool,
    work_dir: Path,
    closers: list[Callable[[], None]],
    shard: ShardRef | None,
    watch: StopWatcher | None,
) -> PreparedDiff:
    mode = SyncMode(sync.sync_mode)
    hwm = sync.high_water_mark if mode == SyncMode.APPEND else None
    if not full and shard is None and not hwm:
        # The common case, a key diff of the whole model: streamed (docs/engine.md).
        opened: list[Callable[[], None]] = []
        try:
            streamed = _prepare_streamed(env, sync, model, source_row, work_dir, opened, watch)
        except HiddenDuplicates:
            for fn in reversed(opened):  # the partial diff is useless: stage the whole model
                with contextlib.suppress(Exception):
                    fn()
        except BaseException:
            closers.extend(opened)
            raise
        else:
            closers.extend(opened)
            return streamed
    differ = extract(
        env, model=model, source_row=source_row, work_dir=work_dir, closers=closers, watch=watch
    )
    with watch.interrupting([differ.con.interrupt]) if watch else contextlib.nullcontext():
        mapping = _compile(sync, differ.model_columns())
        differ.load_snapshot(env.snapshots.segments(sync.id))
        return _classify(sync, differ, mapping, mode, full, shard)


def _compile(sync: Sync, columns: list[str]) -> CompiledMapping:
    mappings = resolve_mappings(
        field_mapping=sync.field_mapping,
        field_behavior=sync.field_behavior,
        field_normalization=sync.field_normalization,
        model_columns=columns,
    )
    return compile_mapping(
        mappings,
        primary_key=sync.primary_key,
        model_columns=columns,
        field_order=sync.field_order,
    )


def _prepare_streamed(
    env: ReadEnv,
    sync: Sync,
    model: Model,
    source_row: Source,
    work_dir: Path,
    closers: list[Callable[[], None]],
    watch: StopWatcher | None,
) -> PreparedDiff:
    """Diff the model as it streams from the source, staging only the rows that may need
    action (``stream.stream_model``); the source is read once.

    The first batch gives the columns, so the mapping compiles (and a ``MappingError``
    fires) before the rest is read. An empty model, an empty snapshot (every row is new:
    keeping only the new rows keeps all of them), a repeated column name or a column named
    like the stream's own are staged whole, as ``extract`` does. Raises
    ``HiddenDuplicates`` when the caller must stage the whole model after all.
    """
    mapping: CompiledMapping | None = None
    with _reading(env, model, source_row, work_dir, closers, watch) as (source, differ, batches):
        first = next(batches, None)
        names = first.schema.names if first is not None else []
        # Repeated names are renamed by staging (``id``, ``id_1``): compile from those.
        streams = len(set(names)) == len(names) and not STREAM_COLUMNS.intersection(names)
        if first is not None and streams:
            mapping = _compile(sync, names)
            differ.load_snapshot(env.snapshots.segments(sync.id))
            streams = differ.counts.snapshot_rows > 0
        if first is not None and mapping is not None and streams:
            stream_model(differ, first, batches, mapping, primary_key=sync.primary_key)
        else:
            differ.stage_model(
                [] if first is None else itertools.chain([first], batches),
                columns=lambda: [c.name for c in source.columns(model.sql)],
            )
    mode = SyncMode(sync.sync_mode)
    with watch.interrupting([differ.con.interrupt]) if watch else contextlib.nullcontext():
        if mapping is None:  # staged before the mapping compiled: the staged columns count
            mapping = _compile(sync, differ.model_columns())
            differ.load_snapshot(env.snapshots.segments(sync.id))
        return _classify(sync, differ, mapping, mode, False, None)


def _classify(
    sync: Sync,
    differ: Differ,
    mapping: CompiledMapping,
    mode: SyncMode,
    full: bool,
    shard: ShardRef | None,
) -> PreparedDiff:
    guard = None
    if shard is not None:
        if plan_for(mode).deletes:
            guard = (
                differ.count_removed(sync.primary_key),
                differ.counts.model_rows,
                differ.counts.snapshot_rows,
            )
        differ.restrict_to_shard(sync.primary_key, shard.index, shard.count)
    hwm = sync.high_water_mark if mode == SyncMode.APPEND else None
    if hwm and hwm not in differ.model_columns():
        raise MappingError(f"high_water_mark column {hwm!r} is not in the model")
    mark = (sync.state or {}).get("high_water_mark") if hwm and not full else None
    counts = differ.classify(
        mapping, primary_key=sync.primary_key, full=full, hwm_column=hwm, hwm_after=mark
    )
    if guard is None:
        guard = (counts.removed, counts.model_rows, counts.snapshot_rows)
    return PreparedDiff(differ, mapping, counts, hwm, mark, guard)
