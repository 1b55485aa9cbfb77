"""A sync's health, seed 002's vocabulary: the one rule every view of a sync uses.

The API's sync object (``health``), the compatibility API (``status``), the dashboard's chip
and the status alerts all call :func:`sync_health`, so they never disagree. Health looks at
the sync's last run that **ended with an outcome** (completed or failed): a pending or running
run does not change it until it ends, and a cancelled run says nothing about the sync's
health (the user stopped it), so it is passed over.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OUTCOME_STATUSES", "Health", "sync_health"]

#: The run statuses that decide health; the last run in one of them is "the last outcome".
OUTCOME_STATUSES = ("completed", "failed")


class Health(StrEnum):
    READY = "ready"  # never ran (no run has completed or failed yet)
    UP_TO_DATE = "up to date"  # the last run succeeded
    FAILING = "failing"  # the last run failed, or the sync is in status error
    WARNING = "warning"  # the last run completed but some records were rejected (partial)


def sync_health(
    *,
    last_status: str | None,
    last_result_class: str | None = None,
    sync_status: str | None = None,
) -> Health:
    """The health of a sync from its last outcome.

    Args:
        last_status: status of the sync's last run that completed or failed (None: none did).
        last_result_class: that run's result class (``success``, ``partial``, ...).
        sync_status: the sync's own status; ``error`` (a broken sync) is failing whatever
            its runs did.
    """
    if sync_status == "error" or last_status == "failed":
        return Health.FAILING
    if last_status != "completed":
        return Health.READY
    if last_result_class == "partial":
        return Health.WARNING
    return Health.UP_TO_DATE
