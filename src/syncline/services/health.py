"""Use case: the health of syncs (``domain.health.sync_health``) from their last outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.domain.health import OUTCOME_STATUSES, Health, sync_health
from syncline.store.tables import Sync, SyncRun

__all__ = ["last_outcomes", "sync_healths"]


def _last_outcomes_statement() -> sa.Select[tuple[str, str, str | None]]:
    ranked = (
        sa.select(
            SyncRun.sync_id,
            SyncRun.status,
            SyncRun.result_class,
            sa.func.row_number()
            .over(
                partition_by=SyncRun.sync_id,
                order_by=(SyncRun.created_at.desc(), SyncRun.id.desc()),
            )
            .label("n"),
        )
        .where(
            SyncRun.sync_id.in_(sa.bindparam("sync_ids", expanding=True)),
            SyncRun.status.in_(OUTCOME_STATUSES),
        )
        .subquery()
    )
    return sa.select(ranked.c.sync_id, ranked.c.status, ranked.c.result_class).where(
        ranked.c.n == 1
    )


# Built once: constructing the statement (its subquery's columns) cost more than running it.
_LAST_OUTCOMES = _last_outcomes_statement()
# One sync (GET /syncs/{id}): its newest outcome, no window over its whole history.
_LAST_OUTCOME = (
    sa.select(SyncRun.sync_id, SyncRun.status, SyncRun.result_class)
    .where(SyncRun.sync_id == sa.bindparam("sync_id"), SyncRun.status.in_(OUTCOME_STATUSES))
    .order_by(SyncRun.created_at.desc(), SyncRun.id.desc())
    .limit(1)
)


def last_outcomes(session: Session, sync_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """Each sync's last run that completed or failed, as (status, result_class): one query."""
    if not sync_ids:
        return {}
    if len(sync_ids) == 1:
        result = session.execute(_LAST_OUTCOME, {"sync_id": sync_ids[0]})
    else:
        result = session.execute(_LAST_OUTCOMES, {"sync_ids": list(sync_ids)})
    rows: list[tuple[Any, ...]] = [tuple(row) for row in result]
    return {str(row[0]): (str(row[1]), row[2]) for row in rows}


def sync_healths(session: Session, syncs: Sequence[Sync]) -> dict[str, Health]:
    """The health of each sync, by id."""
    last = last_outcomes(session, [s.id for s in syncs])
    out = {}
    for sync in syncs:
        status, result_class = last.get(sync.id, (None, None))
        out[sync.id] = sync_health(
            last_status=status, last_result_class=result_class, sync_status=sync.status
        )
    return out
