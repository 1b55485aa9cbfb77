"""``freshness_status``: the freshness SLA of seed 003 reported on each sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from api_helpers import Tenant

from syncline.context import AppContext
from syncline.domain.freshness import Freshness, freshness_status
from syncline.store.tables import Sync

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_freshness_rule() -> None:
    assert freshness_status(sla_seconds=None, last_success_at=NOW, now=NOW) is None
    assert freshness_status(sla_seconds=60, last_success_at=None, now=NOW) == "never_synced"
    recent = NOW - timedelta(seconds=30)
    assert freshness_status(sla_seconds=60, last_success_at=recent, now=NOW) == Freshness.FRESH
    old = NOW - timedelta(seconds=61)
    assert freshness_status(sla_seconds=60, last_success_at=old, now=NOW) == Freshness.STALE


def test_sync_reports_freshness(tenant: Tenant, ctx: AppContext) -> None:
    sync = tenant.sync(freshness_sla_seconds=3600)
    assert sync["freshness_status"] == "never_synced" and sync["last_success_at"] is None
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(Sync).values(last_success_at=datetime.now(UTC) - timedelta(hours=2)))
    assert tenant.get(f"/syncs/{sync['id']}").json()["freshness_status"] == "stale"
    with ctx.engine.begin() as conn:
        conn.execute(sa.update(Sync).values(last_success_at=datetime.now(UTC)))
    assert tenant.get(f"/syncs/{sync['id']}").json()["freshness_status"] == "fresh"
    plain = tenant.sync(name="no sla")
    assert plain["freshness_status"] is None
