"""domain/schedule.py: cron strings and frequency objects, next fire times (pure, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from syncline.domain.schedule import Frequency, next_fire_time, parse_schedule

T0 = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0 */6 * * *", datetime(2024, 1, 15, 12, 0, tzinfo=UTC)),
        ("  0   */12 * * * ", datetime(2024, 1, 15, 12, 0, tzinfo=UTC)),
        ({"frequency": "quarter_hourly"}, datetime(2024, 1, 15, 9, 45, tzinfo=UTC)),
        ({"frequency": "hourly"}, datetime(2024, 1, 15, 10, 0, tzinfo=UTC)),
        ({"frequency": "hourly", "minute": 45}, datetime(2024, 1, 15, 9, 45, tzinfo=UTC)),
        ({"frequency": "daily", "hour": 6}, datetime(2024, 1, 16, 6, 0, tzinfo=UTC)),
        ({"frequency": "daily", "hour": 10, "minute": 5}, datetime(2024, 1, 15, 10, 5, tzinfo=UTC)),
        (
            {"frequency": "weekly", "day": "Wednesday", "hour": 8},
            datetime(2024, 1, 17, 8, 0, tzinfo=UTC),
        ),
        ({"frequency": "weekly", "day": "Monday"}, datetime(2024, 1, 22, 0, 0, tzinfo=UTC)),
        (
            {"frequency": "expression", "expression": "30 9 * * *"},
            datetime(2024, 1, 16, 9, 30, tzinfo=UTC),
        ),
        ({"frequency": "continuous"}, T0 + timedelta(seconds=60)),
        ({"frequency": "never"}, None),
        ({"frequency": "daily", "day": None, "hour": 1}, datetime(2024, 1, 16, 1, 0, tzinfo=UTC)),
    ],
)
def test_next_fire_time(value: Any, expected: datetime | None) -> None:
    assert next_fire_time(parse_schedule(value), T0) == expected


def test_naive_after_is_utc_and_result_is_strictly_later() -> None:
    sched = parse_schedule("30 9 * * *")
    assert next_fire_time(sched, T0.replace(tzinfo=None)) == T0 + timedelta(days=1)
    assert parse_schedule({"frequency": "never"}).fires is False
    assert parse_schedule("* * * * *").frequency == Frequency.EXPRESSION


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "5 fields"),
        ("every day", "5 fields"),
        ("0 0 * * * *", "5 fields"),
        ("60 * * * *", "invalid cron"),
        ("0 0 31 2 *", "never fires"),
        (5, "cron string or an object"),
        (None, "cron string or an object"),
        ({}, "frequency must be one of"),
        ({"frequency": "monthly"}, "frequency must be one of"),
        ({"frequency": "weekly"}, "weekly schedules need a day"),
        ({"frequency": "weekly", "day": "Funday"}, "weekly schedules need a day"),
        ({"frequency": "daily", "hour": 24}, "hour must be an integer from 0 to 23"),
        ({"frequency": "daily", "hour": True}, "hour must be an integer"),
        ({"frequency": "hourly", "minute": 60}, "minute must be an integer from 0 to 59"),
        ({"frequency": "hourly", "minute": "5"}, "minute must be an integer"),
        ({"frequency": "hourly", "hour": 5}, "hour not used with frequency 'hourly'"),
        ({"frequency": "never", "expression": "* * * * *"}, "not used"),
        ({"frequency": "expression"}, "needs an expression"),
        ({"frequency": "expression", "expression": "nope"}, "invalid cron"),
        ({"frequency": "daily", "timezone": "CET"}, "unknown schedule keys: timezone"),
    ],
)
def test_invalid_schedules(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_schedule(value)


@pytest.mark.parametrize(
    ("expression", "field", "message"),
    [
        ("61 * * * *", "minute", "'61' is out of range 0-59"),
        ("0 24 * * *", "hour", "'24' is out of range 0-23"),
        ("0 0 32 * *", "day-of-month", "'32' is out of range 1-31"),
        ("0 0 1 13 *", "month", "'13' is out of range 1-12"),
        ("0 0 * * 9", "day-of-week", "'9' is out of range 0-7"),
        ("0-70 * * * *", "minute", "'0-70' is out of range 0-59"),
        ("x * * * *", "minute", "'x' is not a valid minute"),
        ("*/0 * * * *", "minute", "'*/0' is not a valid minute"),
    ],
)
def test_cron_error_names_the_field(expression: str, field: str, message: str) -> None:
    """A five-field expression with one bad field says which field, not "expected 5 fields"."""
    with pytest.raises(ValueError) as err:
        parse_schedule(expression)
    text = str(err.value)
    assert "expected 5 fields" not in text
    assert f"{field} field {message}" in text
