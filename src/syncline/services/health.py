"""Use case: the health of syncs (``domain.health.sync_health``) from their last outcomes."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.domain.health import OUTCOME_STATUSES, Health, sync_health
from syncline.store.tables import Sync, SyncRun

__all__ = ["last_outcomes", "sync_healths"]


def last_outcomes(session: Session, sync_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """Each sync's last run that completed or failed, as (status, result_class): one query."""
    if not sync_ids:
        return {}
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
        .where(SyncRun.sync_id.in_(list(sync_ids)), SyncRun.status.in_(OUTCOME_STATUSES))
        .subquery()
    )
    rows = session.execute(
        sa.select(ranked.c.sync_id, ranked.c.status, ranked.c.result_class).where(ranked.c.n == 1)
    ).all()
    return {str(sid): (str(status), result_class) for sid, status, result_class in rows}


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
