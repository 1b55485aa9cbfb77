"""The one health rule (issue 12): every outcome it can see, and what it says."""

from __future__ import annotations

import pytest

from syncline.domain.health import Health, sync_health


@pytest.mark.parametrize(
    ("status", "result_class", "sync_status", "expected"),
    [
        (None, None, "active", Health.READY),
        (None, None, "draft", Health.READY),
        ("completed", "success", "active", Health.UP_TO_DATE),
        ("completed", None, "paused", Health.UP_TO_DATE),
        ("completed", "partial", "active", Health.WARNING),
        ("failed", "failure", "error", Health.FAILING),
        ("failed", "failure", "paused", Health.FAILING),
        ("completed", "success", "error", Health.FAILING),  # a broken sync fails whatever ran
        (None, None, "error", Health.FAILING),
        ("cancelled", "cancelled", "active", Health.READY),  # not an outcome: callers skip it
    ],
)
def test_health_of_the_last_outcome(
    status: str | None, result_class: str | None, sync_status: str, expected: Health
) -> None:
    got = sync_health(last_status=status, last_result_class=result_class, sync_status=sync_status)
    assert got is expected


def test_the_vocabulary_is_seed_002s_plus_warning() -> None:
    assert [h.value for h in Health] == ["ready", "up to date", "failing", "warning"]
