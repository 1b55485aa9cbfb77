"""Sync schedules: a 5-field UTC cron string or a frequency object, and their next fire time.

Pure: no clock, no I/O. The caller passes "now" in, so the API (``next_run_at``) and the
scheduler compute fire times the same way and tests need no frozen clock.

Accepted shapes::

    "0 */6 * * *"                                    # cron, UTC
    {"frequency": "never"}
    {"frequency": "continuous"}                      # as often as possible (every 60 s)
    {"frequency": "quarter_hourly"}                  # :00, :15, :30, :45
    {"frequency": "hourly", "minute": 30}
    {"frequency": "daily", "hour": 6, "minute": 0}
    {"frequency": "weekly", "day": "Monday", "hour": 6, "minute": 0}
    {"frequency": "expression", "expression": "0 */6 * * *"}

A sync in seed 001's ``mode: {type: live}`` has the ``continuous`` schedule (see
``LIVE_MIN_INTERVAL``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from croniter import croniter

CONTINUOUS_INTERVAL = timedelta(seconds=60)
# A ``mode: live`` sync runs back to back: it is scheduled ``continuous``, so the scheduler
# starts a run at most this long after the previous one ended, and never sooner than this
# after the previous one started (a run still going when a slot comes consumes the slot).
LIVE_MIN_INTERVAL = CONTINUOUS_INTERVAL
LIVE_SCHEDULE: dict[str, str] = {"frequency": "continuous"}
_REFERENCE = datetime(2024, 1, 1, tzinfo=UTC)


class Frequency(StrEnum):
    NEVER = "never"
    CONTINUOUS = "continuous"
    QUARTER_HOURLY = "quarter_hourly"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    EXPRESSION = "expression"


WEEKDAYS: tuple[str, ...] = (
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
)

# Which optional keys each frequency reads; any other non-null key is a mistake worth reporting.
_KEYS: dict[Frequency, frozenset[str]] = {
    Frequency.NEVER: frozenset(),
    Frequency.CONTINUOUS: frozenset(),
    Frequency.QUARTER_HOURLY: frozenset(),
    Frequency.HOURLY: frozenset({"minute"}),
    Frequency.DAILY: frozenset({"hour", "minute"}),
    Frequency.WEEKLY: frozenset({"day", "hour", "minute"}),
    Frequency.EXPRESSION: frozenset({"expression"}),
}
_ALL_KEYS = frozenset({"frequency", "day", "hour", "minute", "expression"})


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: its frequency and, when it fires on a clock, the equivalent cron."""

    frequency: Frequency
    cron: str | None = None

    @property
    def fires(self) -> bool:
        """Whether this schedule ever starts a run on its own."""
        return self.frequency != Frequency.NEVER


# The five cron fields in order, with the numeric range each accepts.
_CRON_FIELDS: tuple[tuple[str, int, int], ...] = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)


def _bad_field(expression: str, fields: list[str]) -> str:
    """Why a five-field expression croniter refuses is wrong, naming the first bad field."""
    for i, (name, low, high) in enumerate(_CRON_FIELDS):
        alone = " ".join(fields[i] if j == i else "*" for j in range(5))
        if croniter.is_valid(alone):
            continue
        numbers = [int(n) for n in re.findall(r"\d+", fields[i].split("/")[0])]
        if any(not low <= n <= high for n in numbers):
            return (
                f"invalid cron expression {expression!r}: "
                f"{name} field {fields[i]!r} is out of range {low}-{high}"
            )
        return (
            f"invalid cron expression {expression!r}: "
            f"{name} field {fields[i]!r} is not a valid {name} ({low}-{high}, lists, ranges, steps)"
        )
    return f"invalid cron expression {expression!r}"


def validate_cron(expression: str) -> str:
    """Check a 5-field cron expression and return it stripped.

    Raises:
        ValueError: not five fields, a field out of range or malformed (named in the message),
            or a date that never occurs (``0 0 31 2 *``).
    """
    expr = " ".join(expression.split())
    fields = expr.split(" ")
    if len(fields) != 5:
        raise ValueError(
            f"invalid cron expression {expression!r}: expected 5 fields "
            "(minute hour day-of-month month day-of-week), e.g. '0 */6 * * *'"
        )
    if not croniter.is_valid(expr):
        raise ValueError(_bad_field(expression, fields))
    try:
        croniter(expr, _REFERENCE).get_next(datetime)
    except Exception as exc:  # croniter raises several types for impossible dates
        raise ValueError(f"cron expression {expression!r} never fires") from exc
    return expr


def _int_in(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"schedule {name} must be an integer from {low} to {high}")
    return value


def _parse_object(value: Mapping[str, Any]) -> Schedule:
    unknown = sorted(set(value) - _ALL_KEYS)
    if unknown:
        raise ValueError(f"unknown schedule keys: {', '.join(map(str, unknown))}")
    raw = value.get("frequency")
    try:
        frequency = Frequency(str(raw))
    except ValueError:
        choices = ", ".join(f.value for f in Frequency)
        raise ValueError(f"schedule frequency must be one of: {choices}") from None
    allowed = _KEYS[frequency]
    extra = sorted(k for k in _ALL_KEYS - {"frequency"} - allowed if value.get(k) is not None)
    if extra:
        raise ValueError(f"{', '.join(extra)} not used with frequency {frequency.value!r}")
    minute = _int_in(value.get("minute", 0) or 0, "minute", 0, 59)
    hour = _int_in(value.get("hour", 0) or 0, "hour", 0, 23)
    if frequency in (Frequency.NEVER, Frequency.CONTINUOUS):
        return Schedule(frequency)
    if frequency == Frequency.QUARTER_HOURLY:
        return Schedule(frequency, "*/15 * * * *")
    if frequency == Frequency.HOURLY:
        return Schedule(frequency, f"{minute} * * * *")
    if frequency == Frequency.DAILY:
        return Schedule(frequency, f"{minute} {hour} * * *")
    if frequency == Frequency.WEEKLY:
        day = value.get("day")
        if day not in WEEKDAYS:
            raise ValueError(f"weekly schedules need a day, one of: {', '.join(WEEKDAYS)}")
        return Schedule(frequency, f"{minute} {hour} * * {WEEKDAYS.index(day)}")
    expression = value.get("expression")
    if not isinstance(expression, str):
        raise ValueError("frequency 'expression' needs an expression (a 5-field cron string)")
    return Schedule(frequency, validate_cron(expression))


def parse_schedule(value: str | Mapping[str, Any]) -> Schedule:
    """Parse a schedule as the API accepts it.

    Args:
        value: a cron string or a frequency object (see the module docstring).

    Raises:
        ValueError: with a message fit for an API user.
    """
    if isinstance(value, str):
        return Schedule(Frequency.EXPRESSION, validate_cron(value))
    if isinstance(value, Mapping):
        return _parse_object(value)
    raise ValueError("a schedule is a cron string or an object with a 'frequency'")


def next_fire_time(schedule: Schedule, after: datetime) -> datetime | None:
    """The first time strictly after ``after`` when ``schedule`` starts a run (UTC).

    Returns None for ``never``. A naive ``after`` is taken as UTC.
    """
    if after.tzinfo is None:
        after = after.replace(tzinfo=UTC)
    after = after.astimezone(UTC)
    if schedule.frequency == Frequency.NEVER:
        return None
    if schedule.frequency == Frequency.CONTINUOUS or schedule.cron is None:
        return after + CONTINUOUS_INTERVAL
    nxt: datetime = croniter(schedule.cron, after).get_next(datetime)
    return nxt.astimezone(UTC)
