"""Many runs at once: the scheduler's due syncs become runs in a few statements per chunk.

``start_unless_active`` (``runs.start``) for a whole batch, set-based: a tick over thousands
of due syncs does not load or synchronise an ORM object per sync (that was quadratic). On
PostgreSQL one statement per batch does the busy check, the insert and the syncs' update
server-side, with the batch passed as a handful of arrays; SQLite takes a few executemany
statements. Either way it works in the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from syncline.domain.enums import ACTIVE_RUN_STATUSES, RunMode, RunStatus
from syncline.domain.phases import queued_summary
from syncline.runs.queue import JobQueue
from syncline.store.tables import Sync, SyncRun, new_id, utcnow


@dataclass(frozen=True)
class DueStart:
    """One sync to start in a set-based batch (the scheduler's due syncs)."""

    sync_id: str
    workspace_id: str
    execution_mode: str
    trigger_ref: str


class StartedRun(NamedTuple):
    """A run the batch created: what a queue needs to give it a job (no ORM object)."""

    id: str
    sync_id: str
    workspace_id: str


def start_many(
    session: Session,
    *,
    queue: JobQueue,
    due: Sequence[DueStart],
    triggered_by: str,
    advance: Mapping[str, datetime | None] | None = None,
) -> list[str]:
    """Start a run of every ``due`` sync that has none pending or running; the new run ids.

    Syncs with an active run are skipped; a run that loses a race to a concurrent starter is
    dropped by ``ON CONFLICT DO NOTHING`` on the one-active-run index, so the batch never
    fails on it. ``advance`` sets syncs' ``next_run_at`` in the same statement (the scheduler
    consumes a slot where it creates its run). A queue with ``enqueue_many`` gets the batch's
    jobs in one call.
    """
    unique: dict[str, DueStart] = {}
    for d in due:
        unique.setdefault(d.sync_id, d)  # the same sync twice in one batch starts once
    if not unique and not advance:
        return []
    batch = list(unique.values())
    if session.get_bind().dialect.name == "postgresql":
        started = _start_pg(session, batch, triggered_by, advance or {})
    else:
        started = _start_generic(session, batch, triggered_by, advance or {})
    if started:
        many = getattr(queue, "enqueue_many", None)  # optional: one statement for the batch
        if many is not None:
            many(session, started)
        else:
            for r in started:  # transient: a queue reads the ids only, the session never sees it
                queue.enqueue(
                    session, SyncRun(id=r.id, sync_id=r.sync_id, workspace_id=r.workspace_id)
                )
    return [r.id for r in started]


# Run ids are made server-side (``gen_random_uuid``: the same UUID4 text as ``new_id``); a CTE
# with a volatile function is evaluated once, so ``id`` and ``attempt_root_run_id`` agree.
# ``syncs`` is updated once per sync, its slot and its latest run together.
_START_PG = sa.text(
    """
WITH due AS (
    SELECT gen_random_uuid()::text AS id, d.*
    FROM unnest(
        CAST(:sync_ids AS varchar[]), CAST(:workspace_ids AS varchar[]),
        CAST(:modes AS varchar[]), CAST(:refs AS varchar[])
    ) AS d(sync_id, workspace_id, execution_mode, trigger_ref)
), ins AS (
    INSERT INTO sync_runs (
        id, sync_id, workspace_id, status, triggered_by, trigger_ref, run_mode,
        execution_mode, attempt_number, attempt_root_run_id, rows_synced, rows_failed,
        error_message, summary, created_at, updated_at
    )
    SELECT d.id, d.sync_id, d.workspace_id, :pending, :triggered_by, d.trigger_ref,
           :run_mode, d.execution_mode, 1, d.id, 0, 0, '', CAST(:summary AS jsonb), :now, :now
    FROM due d
    -- a busy sync is skipped by its active run's entry in uq_sync_runs_one_active: one index
    -- probe per row (a NOT EXISTS was planned as a hash anti join over every active run,
    -- which grew with the runs the tick had created: quadratic at 100,000 syncs)
    ON CONFLICT DO NOTHING
    RETURNING id, sync_id, workspace_id
), moves AS (
    SELECT * FROM unnest(CAST(:move_ids AS varchar[]), CAST(:move_next AS timestamptz[]))
        AS m(sync_id, next_run_at)
), touched AS (
    UPDATE syncs SET
        last_run_id = COALESCE(ins.id, syncs.last_run_id),
        next_run_at = CASE WHEN moves.sync_id IS NULL THEN syncs.next_run_at
                      ELSE moves.next_run_at END
    FROM ins FULL JOIN moves ON moves.sync_id = ins.sync_id
    WHERE syncs.id = COALESCE(ins.sync_id, moves.sync_id)
      -- index lookups of the batch's syncs, not a scan of the table
      AND syncs.id = ANY(ARRAY(SELECT sync_id FROM due UNION SELECT sync_id FROM moves))
)
SELECT id, sync_id, workspace_id FROM ins
"""
)


def _start_pg(
    session: Session,
    batch: list[DueStart],
    triggered_by: str,
    advance: Mapping[str, datetime | None],
) -> list[StartedRun]:
    result = session.execute(
        _START_PG,
        {
            "sync_ids": [d.sync_id for d in batch],
            "workspace_ids": [d.workspace_id for d in batch],
            "modes": [d.execution_mode for d in batch],
            "refs": [d.trigger_ref for d in batch],
            "pending": RunStatus.PENDING.value,
            "triggered_by": triggered_by,
            "run_mode": RunMode.INCREMENTAL.value,
            "now": utcnow(),
            "summary": json.dumps(queued_summary()),
            "move_ids": list(advance),
            "move_next": list(advance.values()),
        },
    )
    return [StartedRun(str(i), str(s), str(w)) for i, s, w in result]


def _start_generic(
    session: Session,
    batch: list[DueStart],
    triggered_by: str,
    advance: Mapping[str, datetime | None],
) -> list[StartedRun]:
    """The same in a few executemany statements (SQLite: no arrays, no data-modifying CTEs)."""
    conn = session.connection()
    syncs = cast(sa.Table, Sync.__table__)
    if advance:
        conn.execute(
            sa.update(syncs)
            .where(syncs.c.id == sa.bindparam("b_id"))
            .values(next_run_at=sa.bindparam("b_next"), updated_at=syncs.c.updated_at),
            [{"b_id": k, "b_next": v} for k, v in advance.items()],
        )
    if not batch:
        return []
    busy = set(
        session.scalars(
            sa.select(SyncRun.sync_id).where(
                SyncRun.sync_id.in_([d.sync_id for d in batch]),
                SyncRun.status.in_(ACTIVE_RUN_STATUSES),
            )
        )
    )
    rows = [_run_row(d, triggered_by) for d in batch if d.sync_id not in busy]
    if not rows:
        return []
    conn.execute(sqlite_insert(cast(sa.Table, SyncRun.__table__)).on_conflict_do_nothing(), rows)
    created = set(
        conn.scalars(sa.select(SyncRun.id).where(SyncRun.id.in_([r["id"] for r in rows])))
    )
    started = [
        StartedRun(r["id"], r["sync_id"], r["workspace_id"]) for r in rows if r["id"] in created
    ]
    if started:
        conn.execute(
            sa.update(syncs)
            .where(syncs.c.id == sa.bindparam("b_sync"))
            .values(last_run_id=sa.bindparam("b_run"), updated_at=syncs.c.updated_at),
            [{"b_sync": r.sync_id, "b_run": r.id} for r in started],
        )
    return started


def _run_row(d: DueStart, triggered_by: str) -> dict[str, Any]:
    run_id = new_id()
    return {
        "id": run_id,
        "sync_id": d.sync_id,
        "workspace_id": d.workspace_id,
        "status": RunStatus.PENDING.value,
        "triggered_by": triggered_by,
        "trigger_ref": d.trigger_ref,
        "run_mode": RunMode.INCREMENTAL.value,
        "execution_mode": d.execution_mode,
        "attempt_number": 1,
        "attempt_root_run_id": run_id,
        "rows_synced": 0,
        "rows_failed": 0,
        "error_message": "",
        "summary": queued_summary(),
    }
