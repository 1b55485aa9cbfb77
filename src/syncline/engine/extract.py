"""Extract and classify: stream the model into the run's DuckDB and diff it (no writes).

Shared by runs and dry runs: everything here reads; what it opens is handed back to close.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from syncline.domain.enums import SyncMode
from syncline.domain.runs import ShardRef
from syncline.engine.diff import DiffCounts, Differ, open_duckdb
from syncline.engine.mapping import (
    CompiledMapping,
    MappingError,
    compile_mapping,
    resolve_mappings,
)
from syncline.engine.plan import plan_for
from syncline.engine.ports import ReadEnv
from syncline.store.tables import Model, Source, Sync


def extract(
    env: ReadEnv,
    *,
    model: Model,
    source_row: Source,
    work_dir: Path,
    closers: list[Callable[[], None]],
) -> Differ:
    """Open the source and stream the model's rows into a DuckDB spilling to ``work_dir``."""
    source = env.sources(source_row.type, env.decrypt(source_row.config))
    closers.append(source.close)
    work_dir.mkdir(parents=True, exist_ok=True)
    differ = Differ(open_duckdb(temp_dir=str(work_dir)))
    closers.append(differ.close)
    differ.stage_model(
        source.read(model.sql, batch_rows=env.batch_rows),
        columns=lambda: [c.name for c in source.columns(model.sql)],
    )
    # The model is staged in the run's own DuckDB: release the source now, so the warehouse
    # is free (a dbt build can write to it) while the destination is loaded.
    closers.remove(source.close)
    source.close()
    return differ


@dataclass
class PreparedDiff:
    differ: Differ
    mapping: CompiledMapping
    counts: DiffCounts
    hwm: str | None
    mark: Any
    # (removed, model_rows, snapshot_rows) over the whole model, for the mirror delete guard.
    guard: tuple[int, int, int] | None = None


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
) -> PreparedDiff:
    """Extract the model, compile the mapping and classify rows (no writes anywhere).

    Shared by runs and dry runs; what it opens is appended to ``closers``.
    """
    mode = SyncMode(sync.sync_mode)
    differ = extract(env, model=model, source_row=source_row, work_dir=work_dir, closers=closers)
    columns = differ.model_columns()
    mappings = resolve_mappings(
        field_mapping=sync.field_mapping,
        field_behavior=sync.field_behavior,
        field_normalization=sync.field_normalization,
        model_columns=columns,
    )
    mapping = compile_mapping(
        mappings,
        primary_key=sync.primary_key,
        model_columns=columns,
        field_order=sync.field_order,
    )
    differ.load_snapshot(env.snapshots.segments(sync.id))
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
    if hwm and hwm not in columns:
        raise MappingError(f"high_water_mark column {hwm!r} is not in the model")
    mark = (sync.state or {}).get("high_water_mark") if hwm and not full else None
    counts = differ.classify(
        mapping, primary_key=sync.primary_key, full=full, hwm_column=hwm, hwm_after=mark
    )
    if guard is None:
        guard = (counts.removed, counts.model_rows, counts.snapshot_rows)
    return PreparedDiff(differ, mapping, counts, hwm, mark, guard)
