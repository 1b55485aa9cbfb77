"""Freshness SLA: is a sync's last successful run recent enough? Pure; the clock is injected."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class Freshness(StrEnum):
    FRESH = "fresh"
    STALE = "stale"
    NEVER_SYNCED = "never_synced"


def freshness_status(
    *, sla_seconds: int | None, last_success_at: datetime | None, now: datetime
) -> Freshness | None:
    """``None`` without an SLA; otherwise whether the last success is within it."""
    if sla_seconds is None:
        return None
    if last_success_at is None:
        return Freshness.NEVER_SYNCED
    if now - last_success_at > timedelta(seconds=sla_seconds):
        return Freshness.STALE
    return Freshness.FRESH
