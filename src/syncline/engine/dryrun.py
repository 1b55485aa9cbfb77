"""Dry run: what a run would create, update and delete, with samples — writing nothing.

It extracts and diffs exactly like a run (same code), then stops before the destination: no
destination call, no snapshot change, no run row, no run records.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from typing import Any

from syncline.domain.enums import RunMode, SyncMode
from syncline.domain.jsonsafe import json_safe
from syncline.engine.diff import Differ
from syncline.engine.extract import prepare_diff
from syncline.engine.mapping import CompiledMapping
from syncline.engine.plan import DeleteGuardError, check_delete_guard, plan_for, preview
from syncline.engine.ports import ReadEnv
from syncline.store.tables import Model, Source, Sync


def _sample(
    differ: Differ, mapping: CompiledMapping, classes: tuple[str, ...], n: int
) -> list[dict[str, Any]]:
    if not classes or n <= 0:
        return []
    for records, _keys, _hashes in differ.send_batches(mapping, classes, n):
        return [json_safe(r) for r in records.to_pylist()[:n]]
    return []


def dry_run(
    env: ReadEnv,
    *,
    sync: Sync,
    model: Model,
    source: Source,
    run_mode: RunMode = RunMode.INCREMENTAL,
    sample_size: int = 10,
) -> dict[str, Any]:
    """The plan of a run of ``sync`` now: counts and sample records per outcome."""
    work_dir = env.work_dir / f"dry-{uuid.uuid4().hex}"
    closers: list[Callable[[], None]] = []
    try:
        prepared = prepare_diff(
            env,
            sync=sync,
            model=model,
            source_row=source,
            full=run_mode == RunMode.FULL,
            work_dir=work_dir,
            closers=closers,
        )
        differ, mapping, counts = prepared.differ, prepared.mapping, prepared.counts
        mode = SyncMode(sync.sync_mode)
        steps = plan_for(mode)
        by_class = {"added": counts.added, "changed": counts.changed}
        plan: dict[str, Any] = {}
        for outcome, classes in preview(steps).items():
            plan[outcome] = {
                "count": sum(by_class[c] for c in classes),
                "sample": _sample(differ, mapping, classes, sample_size),
            }
        deletes: dict[str, Any] = {"count": 0, "sample": []}
        guard: dict[str, Any] = {"would_fail": False, "message": ""}
        if steps.deletes:
            keys = next(differ.removed_batches(max(1, sample_size)), [])
            deletes = {
                "count": counts.removed,
                "sample": [{mapping.key_field: k} for k in keys[:sample_size]],
            }
            try:
                check_delete_guard(
                    sync.config, counts.removed, counts.model_rows, counts.snapshot_rows
                )
            except DeleteGuardError as exc:
                guard = {"would_fail": True, "message": str(exc)}
        plan["deletes"] = deletes
        rejected_sample = [
            {"primary_key": pk, "error_class": cls, "error_message": msg, "payload": json_safe(p)}
            for pk, cls, msg, p in next(differ.rejected_rows(mapping, max(1, sample_size)), [])
        ][:sample_size]
        return {
            "sync_id": sync.id,
            "sync_mode": mode.value,
            "run_mode": run_mode.value,
            "key_field": mapping.key_field,
            "fields": mapping.destination_fields,
            "counts": counts.as_dict(),
            "creates": plan["creates"],
            "updates": plan["updates"],
            "deletes": plan["deletes"],
            "rejected": {
                "count": counts.rejected_total,
                "by_reason": counts.rejected,
                "sample": rejected_sample,
            },
            "delete_guard": guard,
        }
    finally:
        for fn in reversed(closers):
            fn()
        shutil.rmtree(work_dir, ignore_errors=True)
