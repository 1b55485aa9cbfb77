"""The sync form's fields, both ways: a stored sync -> form values, a posted form -> API body.

Pure (no store, no request), so the shapes the form can produce are tested on their own. The
mapping rows, the frequency picker and the alert rules produce exactly what ``SyncSpec``
accepts (``FieldMapping`` with ``source_column`` or ``constant_value`` and an optional
``type_cast``; a cron string or a frequency object; ``alert_attributes``), and the services
validate the result like any API request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from syncline.domain.enums import TypeCast
from syncline.domain.schedule import WEEKDAYS

CASTS: tuple[str, ...] = tuple(c.value for c in TypeCast)
# Alert rule types (the sync schema's ``AlertType``) and whether the rule takes a threshold.
ALERTS: tuple[tuple[str, str, str], ...] = (
    ("FailureAlertConfiguration", "A run fails (and recovers)", ""),
    ("InvalidRecordPercentAlertConfiguration", "Rejected records above", "percent"),
    ("RecordCountDeviationAlertConfiguration", "Model row count moves more than", "percent"),
    ("RuntimeAlertConfiguration", "A run takes longer than", "minutes"),
    ("FullSyncTriggerAlertConfiguration", "A full resync runs", ""),
    ("StatusAlertConfiguration", "Health changes (up to date ↔ failing)", ""),
)
KINDS = ("manual", "minutes", "hours", "daily", "weekly", "cron", "continuous")
MAX_ROWS = 1000
SPARE_ROWS = 3
_ROW_KEY = re.compile(r"^(?:src|const|dst|cast)_(\d{1,4})$")
CONSTANT_KINDS = ("boolean", "integer", "number", "json")
_EVERY_MINUTES = re.compile(r"^\*/(\d{1,2}) \* \* \* \*$")
_EVERY_HOURS = re.compile(r"^0 (?:\*/(\d{1,2})|\*) \* \* \*$")


def match_key(name: str) -> str:
    """A name compared case- and separator-insensitively: ``First_Name`` ~ ``firstname``."""
    return re.sub(r"[\s_\-.]", "", name).casefold()


def suggestions(columns: list[str], fields: list[str]) -> dict[str, str]:
    """Model column -> destination field whose names match (first field wins on ties)."""
    by_key: dict[str, str] = {}
    for f in fields:
        by_key.setdefault(match_key(f), f)
    return {c: by_key[match_key(c)] for c in columns if match_key(c) in by_key}


def padded(mapping: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The mapping rows to show: the real ones and a few empty ones to add more."""
    return [*mapping, *({} for _ in range(SPARE_ROWS if mapping else 5))]


def apply_suggestions(mapping: list[dict[str, Any]], suggested: dict[str, str]) -> list[Any]:
    """``mapping`` plus one row per suggested pair whose column and field are not mapped yet."""
    used_src = {m.get("source_column") for m in mapping}
    used_dst = {m.get("destination_field") for m in mapping}
    extra = [
        {"source_column": c, "destination_field": f}
        for c, f in suggested.items()
        if c not in used_src and f not in used_dst
    ]
    return [*mapping, *extra]


def constant_text(value: Any) -> tuple[str, str]:
    """A stored constant as the form shows it, and the JSON kind to read it back as.

    A constant stored by the API as a number, boolean or object keeps its type when the form
    is saved again unchanged (the form's text box alone would turn it into a string).
    """
    if value is None or isinstance(value, str):
        return ("" if value is None else value, "")
    if isinstance(value, bool):
        return ("true" if value else "false", "boolean")
    if isinstance(value, int):
        return (str(value), "integer")
    if isinstance(value, float):
        return (repr(value), "number")
    return (json.dumps(value, sort_keys=True), "json")


def _constant(text: str, kind: str) -> Any:
    """The constant typed in, as the kind it was stored as when the text still reads as one."""
    if kind not in CONSTANT_KINDS:
        return text
    try:
        value = json.loads(text)
    except ValueError:
        return text
    wanted: dict[str, type | tuple[type, ...]] = {
        "boolean": bool,
        "integer": int,
        "number": (int, float),
        "json": (dict, list),
    }
    ok = isinstance(value, wanted[kind]) and (kind == "boolean" or not isinstance(value, bool))
    return value if ok else text


def mapping_from_form(form: Mapping[str, str]) -> list[dict[str, Any]]:
    """The posted mapping rows, in row order; a row with nothing typed in is skipped.

    A row with both a column and a constant is passed on as is: ``FieldMapping`` refuses it
    with its own message, shown next to that row.
    """
    rows = sorted({int(m.group(1)) for k in form if (m := _ROW_KEY.match(k))})[:MAX_ROWS]
    out: list[dict[str, Any]] = []
    for i in rows:
        src, const = form.get(f"src_{i}", "").strip(), form.get(f"const_{i}", "")
        dst, cast = form.get(f"dst_{i}", "").strip(), form.get(f"cast_{i}", "").strip()
        if not (src or const.strip() or dst):
            continue
        item: dict[str, Any] = {"destination_field": dst}
        if src or not const.strip():
            item["source_column"] = src
        if const.strip():
            item["constant_value"] = _constant(const, form.get(f"ctype_{i}", ""))
        if cast:
            item["type_cast"] = cast
        out.append(item)
    return out


def _time(value: str) -> tuple[int, int]:
    found = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip())
    if not found or int(found.group(1)) > 23 or int(found.group(2)) > 59:
        raise ValueError("enter a time of day as HH:MM (UTC), e.g. 06:00")
    return int(found.group(1)), int(found.group(2))


def _every(value: str, high: int, unit: str) -> int:
    try:
        n = int(value.strip())
    except ValueError:
        n = 0
    if not 1 <= n <= high:
        raise ValueError(f"every how many {unit}: a whole number from 1 to {high}")
    return n


def schedule_from_form(form: Mapping[str, str]) -> Any:
    """The frequency picker as the schedule ``SyncSpec`` takes (None: manual only).

    Raises:
        ValueError: a number or a time out of range (the cron text is checked by the spec).
    """
    kind = form.get("sched_kind", "manual")
    if kind == "minutes":
        return f"*/{_every(form.get('sched_every', ''), 59, 'minutes')} * * * *"
    if kind == "hours":
        n = _every(form.get("sched_every", ""), 23, "hours")
        return "0 * * * *" if n == 1 else f"0 */{n} * * *"
    if kind == "daily":
        hour, minute = _time(form.get("sched_time", ""))
        return {"frequency": "daily", "hour": hour, "minute": minute}
    if kind == "weekly":
        hour, minute = _time(form.get("sched_time", ""))
        day = form.get("sched_day", "")
        if day not in WEEKDAYS:
            raise ValueError(f"pick a day of the week: {', '.join(WEEKDAYS)}")
        return {"frequency": "weekly", "day": day, "hour": hour, "minute": minute}
    if kind == "cron":
        return form.get("sched_cron", "").strip() or None
    if kind == "continuous":
        return {"frequency": "continuous"}
    return None


def schedule_fields(value: Any) -> dict[str, str]:
    """A stored schedule as the picker shows it (anything it cannot name becomes cron text)."""
    out = {"sched_kind": "manual", "sched_every": "6", "sched_time": "06:00"}
    out |= {"sched_day": "Monday", "sched_cron": ""}
    if isinstance(value, str):
        text = " ".join(value.split())
        if found := _EVERY_MINUTES.match(text):
            return out | {"sched_kind": "minutes", "sched_every": found.group(1)}
        if found := _EVERY_HOURS.match(text):
            return out | {"sched_kind": "hours", "sched_every": found.group(1) or "1"}
        return out | {"sched_kind": "cron", "sched_cron": text}
    if not isinstance(value, Mapping):
        return out
    freq = value.get("frequency")
    at = f"{value.get('hour') or 0:02d}:{value.get('minute') or 0:02d}"
    if freq in ("daily", "weekly"):
        return out | {"sched_kind": freq, "sched_time": at, "sched_day": value.get("day") or ""}
    if freq == "quarter_hourly":
        return out | {"sched_kind": "minutes", "sched_every": "15"}
    if freq == "hourly":
        return out | {"sched_kind": "cron", "sched_cron": f"{value.get('minute') or 0} * * * *"}
    if freq == "expression":
        return out | {"sched_kind": "cron", "sched_cron": str(value.get("expression") or "")}
    if freq == "continuous":
        return out | {"sched_kind": "continuous"}
    return out


def _threshold(text: str) -> float | int:
    try:
        number = float(text.strip())
    except ValueError:
        raise ValueError("enter a number") from None
    if number <= 0:
        raise ValueError("enter a number above 0")
    return int(number) if number.is_integer() else number


def alerts_from_form(
    form: Mapping[str, str], current: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The ticked alert rules, keeping options the form does not show (``channel_ids``...).

    Returns the rules and errors keyed ``alert.<type>``; rules of types the form does not
    know are kept as they were.
    """
    known = {t for t, _, _ in ALERTS}
    kept = [dict(r) for r in current if r.get("type") not in known]
    rules, errors = [], {}
    for type_, _, unit in ALERTS:
        if form.get(f"alert_{type_}") != "on":
            continue
        old = next((dict(r) for r in current if r.get("type") == type_), {})
        rule = {**old, "type": type_, "send_for": form.get(f"alert_send_{type_}", "first_time")}
        text = form.get(f"alert_threshold_{type_}", "").strip()
        if unit and text:
            try:
                rule["threshold"] = _threshold(text)
            except ValueError as exc:
                errors[f"alert.{type_}"] = str(exc)
        rules.append(rule)
    return rules + kept, errors


def alert_fields(current: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per alert type: whether it is on, its ``send_for`` and threshold, for the form."""
    out: dict[str, dict[str, Any]] = {}
    for type_, _, _ in ALERTS:
        rule = next((r for r in current if r.get("type") == type_), None)
        threshold = None if rule is None else rule.get("threshold", rule.get("minutes"))
        out[type_] = {
            "on": rule is not None,
            "send_for": (rule or {}).get("send_for") or "first_time",
            "threshold": "" if threshold is None else str(threshold),
        }
    return out


def alert_words(rule: Mapping[str, Any]) -> str:
    """One alert rule in words for the sync page, e.g. 'Rejected records above 5 %'."""
    for type_, label, unit in ALERTS:
        if rule.get("type") == type_:
            limit = rule.get("threshold", rule.get("minutes"))
            text = f"{label} {limit} {'%' if unit == 'percent' else unit}" if unit else label
            if unit and limit is None:
                text = f"{label} the default"
            return f"{text} ({str(rule.get('send_for') or 'first_time').replace('_', ' ')})"
    return str(rule.get("type", "?"))
