"""Display helpers for the dashboard: health, schedules in words, durations, the runs chart.

Pure functions over stored rows, so templates stay free of rules; none of them decides
anything the services decide (they only describe what the services stored).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cron_descriptor import Options, get_description
from sqlalchemy.orm import Session

from syncline.domain.health import Health
from syncline.domain.schedule import WEEKDAYS, next_fire_time, parse_schedule
from syncline.services.health import sync_healths
from syncline.store.tables import Sync, SyncRun

HEALTHS = tuple(h.value for h in Health)
_CRON_WORDS = Options()
_CRON_WORDS.use_24hour_time_format = True


def health(session: Session, sync: Sync) -> str:
    """The sync's health chip: ``domain.health.sync_health`` of its last outcome, the rule
    the API and the compatibility API use too."""
    return sync_healths(session, [sync])[sync.id].value


def outcome(run: SyncRun | None) -> str:
    """A run's outcome word: partial and failed are told apart from success."""
    if run is None:
        return "never run"
    if run.status == "completed":
        return "partial" if run.result_class == "partial" or run.rows_failed else "success"
    return str(run.status)


def schedule_words(value: Any) -> str:
    """A schedule (cron string or frequency object) in words, e.g. 'Every 6 hours'."""
    if value is None:
        return "Manual"
    try:
        parsed = parse_schedule(value)
    except (ValueError, TypeError):
        return str(value)
    if not parsed.fires:
        return "Never"
    if parsed.cron is None:
        return "Continuously"
    if parsed.frequency in ("daily", "weekly"):
        minute, hour, _, _, dow = parsed.cron.split()
        at = f"at {int(hour):02d}:{int(minute):02d} UTC"
        return f"Daily {at}" if dow == "*" else f"Weekly on {WEEKDAYS[int(dow)]} {at}"
    return str(get_description(parsed.cron, _CRON_WORDS))


def next_fires(value: Any, after: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` fire times of a schedule (empty when it never fires on a clock)."""
    out: list[datetime] = []
    try:
        parsed = parse_schedule(value)
    except (ValueError, TypeError):
        return out
    when = after
    while len(out) < count:
        nxt = next_fire_time(parsed, when)
        if nxt is None:
            break
        out.append(nxt)
        when = nxt + timedelta(seconds=1)
    return out


def duration(run: SyncRun) -> str:
    """How long a run took (or has taken so far), e.g. '1m 05s'."""
    if run.started_at is None:
        return "—"
    end = run.completed_at or datetime.now(run.started_at.tzinfo)
    seconds = max(0, int((end - run.started_at).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    return f"{seconds // 60}m {seconds % 60:02d}s"


def _total(value: Any) -> int:
    if isinstance(value, dict):
        return sum(int(v) for v in value.values() if isinstance(v, int | float))
    return int(value) if isinstance(value, int | float) else 0


@dataclass(frozen=True)
class Progress:
    """A run's live progress: its phase, rows read, and how many records of how many were
    sent (``planned`` is False until the diff has said how many will be)."""

    phase: str
    done: int
    total: int
    read: int = 0
    planned: bool = False

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done / self.total)) if self.total else 0


def progress(run: SyncRun) -> Progress:
    """Phase and counts from the run's live summary (the engine saves them every second or
    so, inside a batch too: ``sent_total`` of ``planned_total``; see docs/engine.md)."""
    summary = run.summary or {}
    if isinstance(summary.get("planned_total"), int):
        total, planned = int(summary["planned_total"]), True
    else:
        total = sum(_total(summary.get(k)) for k in ("added", "changed", "removed"))
        planned = "added" in summary
    sent = summary.get("sent_total")
    done = int(sent) if isinstance(sent, int) else _total(summary.get("sent"))
    done = done or run.rows_synced + run.rows_failed
    unsaid = {"pending": "queued", "running": "starting"}  # a run saved before phases
    phase = str(summary.get("phase") or unsaid.get(run.status, run.status))
    read = int(summary.get("rows_read") or summary.get("model_rows") or 0)
    return Progress(phase=phase, done=done, total=max(total, done), read=read, planned=planned)


def chart(runs: list[SyncRun], width: int = 600, height: int = 120) -> dict[str, Any]:
    """Bars of rows synced and a line of durations for the last runs, oldest first, for SVG."""
    ordered = list(reversed(runs[:20]))
    if not ordered:
        return {"bars": [], "line": "", "width": width, "height": height}
    rows = [r.rows_synced + r.rows_failed for r in ordered]
    secs = [
        (r.completed_at - r.started_at).total_seconds() if r.completed_at and r.started_at else 0
        for r in ordered
    ]
    top_rows, top_secs = max(rows) or 1, max(secs) or 1
    step = width / len(ordered)
    bars, points = [], []
    for i, (run, n, s) in enumerate(zip(ordered, rows, secs, strict=True)):
        h = round((height - 10) * n / top_rows)
        bars.append(
            {
                "x": round(i * step + 2),
                "y": height - h,
                "w": max(2, round(step - 4)),
                "h": h,
                "label": f"{n:,} rows, {s:.0f}s ({outcome(run)})",
                "cls": outcome(run),
            }
        )
        points.append(
            f"{round(i * step + step / 2)},{round(height - (height - 10) * s / top_secs)}"
        )
    return {"bars": bars, "line": " ".join(points), "width": width, "height": height}
