"""Commit: after the last batch, settle the snapshot and move the high-water mark.

Per-batch deltas are committed by the loader as the destination acknowledges them; what is
left at the end is forgetting what a full run could not send, compaction and the mark.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from syncline.domain.jsonsafe import json_safe
from syncline.engine.diff import Differ
from syncline.engine.extract import PreparedDiff
from syncline.engine.load import BatchLoader
from syncline.engine.ports import RunControl
from syncline.engine.snapshot.types import SnapshotStore, delta_table


def finish_snapshot(
    snapshots: SnapshotStore,
    control: RunControl,
    *,
    sync_id: str,
    run_id: str,
    prepared: PreparedDiff,
    loader: BatchLoader,
    full: bool,
    in_shard: bool,
) -> None:
    """Forget failed records of a full run, compact, and save a new high-water mark."""
    differ, hwm, mark = prepared.differ, prepared.hwm, prepared.mark
    if full and loader.failed_keys:
        # After a full resend the destination state of a failed record is unknown:
        # forget it so the next run sends it again.
        delta = delta_table([], [], loader.failed_keys)
        snapshots.commit_delta(
            sync_id, delta.replace_schema_metadata({"hash_probe": differ.probe}), run_id=run_id
        )
    if in_shard:
        return  # shards run side by side: the run's finaliser compacts (no HWM in fan-out)
    compact_if_due(snapshots, sync_id, run_id, differ)
    if hwm:
        new_mark = _new_mark(differ, loader, hwm)
        if new_mark is not None and new_mark != mark:
            control.save_state({"high_water_mark": new_mark})


def _new_mark(differ: Differ, loader: BatchLoader, hwm: str) -> Any:
    """The highest mark below every failed or rejected candidate (those must be retried)."""
    con = differ.con
    con.execute("CREATE OR REPLACE TABLE failed_keys (pk VARCHAR)")
    if loader.failed_keys:
        con.register("__fk", pa.table({"pk": pa.array(loader.failed_keys, pa.string())}))
        con.execute("INSERT INTO failed_keys SELECT pk FROM __fk")
    col = f'm."{hwm.replace(chr(34), chr(34) * 2)}"'
    row = con.sql(
        f"""WITH cand AS (
              SELECT {col} AS v,
                (p.__class NOT IN ('added','changed','unchanged')
                 OR p.__pk IN (SELECT pk FROM failed_keys)) AS bad
              FROM plan p JOIN model m ON m.rowid = p.__row)
            SELECT CASE WHEN count(*) FILTER (WHERE bad) = 0 THEN max(v)
                        ELSE max(v) FILTER (WHERE v < (SELECT min(v) FROM cand WHERE bad))
                   END AS mark FROM cand"""
    ).to_arrow_table()
    return json_safe(_py(row.column("mark")[0])) if row.num_rows else None


def _py(value: pa.Scalar) -> Any:
    """An Arrow scalar as Python; a zoned timestamp as an aware UTC datetime.

    Zoned timestamps are converted here instead of by DuckDB or ``as_py()``, which need
    ``pytz`` for them (a TIMESTAMPTZ mark once failed the run with "No module named 'pytz'").
    """
    if pa.types.is_timestamp(value.type) and value.type.tz is not None:
        if not value.is_valid:
            return None
        naive = pa.scalar(value.value, pa.timestamp(value.type.unit)).as_py()
        return naive.replace(tzinfo=dt.UTC)
    return value.as_py()


def compact_if_due(snapshots: SnapshotStore, sync_id: str, run_id: str, differ: Differ) -> None:
    """Fold the deltas into a new base once they are many or large (reads stay fast).

    Only when no other execution of the sync writes: at the end of a run, or of a fan-out
    run's last shard.
    """
    # Row counts only: most runs have nothing to compact. The oldest segment counts as the
    # base whatever its kind: a snapshot of one segment (an initial load's single delta)
    # reads as fast as a base, and rewriting it would only cost a full read and write.
    sizes = [rows for _, rows in snapshots.sizes(sync_id)]
    base_rows, deltas = (sizes[0], sizes[1:]) if sizes else (0, [])
    if len(deltas) >= 20 or sum(deltas) > 0.2 * max(base_rows, 1):
        segments = snapshots.segments(sync_id)
        snapshots.compact(sync_id, differ.merged_snapshot(segments), run_id=run_id)
