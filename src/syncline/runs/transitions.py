"""The one place a run's or a shard's status changes: ``transition()``.

Every status change is one conditional UPDATE (``WHERE status = <from> AND ...``), so of two
executions racing for the same row exactly one matches, on SQLite as on PostgreSQL. Before
the UPDATE the pair is checked against the state machine in ``domain/runs.py``; a refused
pair is a bug and raises ``TransitionRefused`` without touching the store. Hooks that react to
run outcomes (alerts, metrics) belong here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, sessionmaker

from syncline.domain.enums import RunStatus
from syncline.domain.runs import Kind, RunOutcome, TransitionRefused, check_transition
from syncline.runs import hooks
from syncline.store.tables import RunShard, SyncRun, utcnow

__all__ = [
    "FAN_OUT_EXECUTOR",
    "Owned",
    "TransitionRefused",
    "beat",
    "changed",
    "end",
    "outcome_values",
    "owned",
    "transition",
]

# executor_id of a fan-out run while its shards work: the shards heartbeat, not the run.
FAN_OUT_EXECUTOR = "fan-out"

Owned = type[SyncRun] | type[RunShard]

log = logging.getLogger(__name__)


def kind_of(table: Owned) -> Kind:
    return "shard" if table is RunShard else "run"


def changed(session: Session, stmt: sa.Update) -> bool:
    """Execute a conditional UPDATE; whether it matched a row (the one rowcount check)."""
    result = cast(CursorResult[Any], session.execute(stmt))
    return result.rowcount > 0


def owned(table: Owned, row_id: str, executor_id: str) -> tuple[sa.ColumnElement[bool], ...]:
    """WHERE clauses: the run (or shard) is running and this execution's claim."""
    return (
        table.id == row_id,
        table.status == RunStatus.RUNNING.value,
        table.executor_id == executor_id,
    )


def transition(
    session: Session,
    table: Owned,
    row_id: str,
    from_status: RunStatus,
    to_status: RunStatus,
    *,
    where: Iterable[sa.ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """Move one run or shard from ``from_status`` to ``to_status`` if it is still there.

    ``where`` adds conditions (the owner, a stale heartbeat); ``values`` are written with the
    status. Returns whether this call made the change (False: another execution got there
    first, or a condition no longer holds).

    Raises:
        TransitionRefused: the state machine does not allow the pair.
    """
    kind = kind_of(table)
    check_transition(kind, from_status, to_status)
    stmt = (
        sa.update(table)
        .where(table.id == row_id, table.status == from_status.value, *where)
        .values({"updated_at": now or utcnow(), **(values or {}), "status": to_status.value})
    )
    done = changed(session, stmt)
    if done:
        log.debug("%s %s: %s -> %s", kind, row_id, from_status.value, to_status.value)
        if table is SyncRun:
            hooks.fire(session, row_id, from_status, to_status)
    return done


def outcome_values(outcome: RunOutcome, *, now: datetime) -> dict[str, Any]:
    """The columns an ended run or shard records from its outcome (the counts aside)."""
    return {
        "result_class": outcome.result_class.value,
        "result_reason_code": outcome.reason_code,
        "error_message": outcome.error_message,
        "completed_at": now,
    }


def end(
    session: Session,
    table: Owned,
    row_id: str,
    outcome: RunOutcome,
    *,
    where: Iterable[sa.ColumnElement[bool]] = (),
    values: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> bool:
    """End a running run or shard with ``outcome``; False if it was not running any more."""
    now = now or utcnow()
    return transition(
        session,
        table,
        row_id,
        RunStatus.RUNNING,
        outcome.status,
        where=where,
        values={**outcome_values(outcome, now=now), **(values or {})},
        now=now,
    )


def beat(sessions: sessionmaker[Session], table: Owned, row_id: str, *, executor_id: str) -> bool:
    """Prove a run or shard is alive; False when it is no longer ours (reaped or finished)."""
    with sessions.begin() as s:
        return changed(
            s,
            sa.update(table)
            .where(*owned(table, row_id, executor_id))
            .values(last_heartbeat_at=utcnow()),
        )
