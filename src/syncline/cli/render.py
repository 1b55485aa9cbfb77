"""How the operator CLI shows API objects to people: rich tables, the live run view, dry runs.

Kept apart from the commands so that what a human sees can change without touching what a
script gets (``--json`` always prints the API's JSON unchanged and never comes through here).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

FINISHED = ("completed", "failed", "cancelled")
_STATUS_STYLE = {
    "completed": "green",
    "active": "green",
    "failed": "red",
    "error": "red",
    "cancelled": "yellow",
    "paused": "yellow",
    "running": "cyan",
    "pending": "cyan",
    "draft": "dim",
}


def when(value: Any) -> str:
    """An API timestamp, to the second (``2024-01-15 15:00:00Z``); ``-`` when unset."""
    if not value:
        return "-"
    text = str(value).replace("T", " ")
    if "." in text:  # drop sub-second digits, keep the zone marker
        head, _, tail = text.partition(".")
        text = head + tail.lstrip("0123456789")
    return text


def status(value: Any) -> Text:
    """A status word, coloured so failures stand out in a long table."""
    word = str(value or "-")
    return Text(word, style=_STATUS_STYLE.get(word, ""))


def schedule(value: Any) -> str:
    """A cron string as is; a frequency object as ``daily hour=6 minute=0``."""
    if value is None:
        return "-"
    if isinstance(value, dict):
        rest = " ".join(f"{k}={v}" for k, v in value.items() if k != "frequency")
        return f"{value.get('frequency', '?')} {rest}".strip()
    return str(value)


def _total(rows: list[dict[str, Any]], total: int | None, noun: str) -> str:
    shown = len(rows)
    count = total if total is not None else shown
    label = f"{count} {noun}{'' if count == 1 else 's'}"
    return label if count == shown else f"{shown} of {label} (use --page)"


def cell(value: Any) -> str:
    """A record value in a table cell: text as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def syncs_table(rows: list[dict[str, Any]], total: int | None) -> Table:
    """The sync list: what runs, how, when next, and when it last succeeded.

    A failed last run shows as status ``error`` (``sync get`` says why); the last run's own
    status would cost one request per sync, so it is left to ``run list``.
    """
    table = Table(title=_total(rows, total, "sync"), title_justify="left")
    table.add_column("id", no_wrap=True)
    for col in ("name", "mode", "status", "schedule", "next_run_at", "last success"):
        table.add_column(col)
    for s in rows:
        table.add_row(
            str(s["id"]),
            s["name"],
            s["sync_mode"],
            status(s["status"]),
            schedule(s.get("schedule")),
            when(s.get("next_run_at")),
            when(s.get("last_synced_at")),
        )
    return table


def _fields(title: str, pairs: list[tuple[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in pairs:
        table.add_row(key, value if isinstance(value, Text) else str(value))
    return table


def sync_view(s: dict[str, Any]) -> Group:
    """One sync: its settings, then its field mapping."""
    pairs: list[tuple[str, Any]] = [
        ("id", s["id"]),
        ("name", s["name"]),
        ("status", status(s["status"])),
        ("mode", s["sync_mode"]),
        ("model_id", s["model_id"]),
        ("destination_id", s["destination_id"]),
        ("primary_key", s["primary_key"]),
        ("schedule", schedule(s.get("schedule"))),
        ("trigger_mode", s.get("trigger_mode", "-")),
        ("next_run_at", when(s.get("next_run_at"))),
        ("last_synced_at", when(s.get("last_synced_at"))),
        ("last_run_id", s.get("last_run_id") or "-"),
    ]
    if s.get("status_error"):
        pairs.append(("status_error", Text(s["status_error"], style="red")))
    mapping = Table("source", "destination field", "type_cast", title="field mapping")
    for m in s.get("field_mapping") or []:
        src = m.get("source_column") or f"= {json.dumps(m.get('constant_value'))}"
        mapping.add_row(src, m.get("destination_field", ""), m.get("type_cast") or "-")
    parts: list[RenderableType] = [_fields(f"sync {s['name']}", pairs)]
    if s.get("field_mapping"):
        parts.append(mapping)
    return Group(*parts)


def _duration(run: dict[str, Any]) -> str:
    seconds = (run.get("summary") or {}).get("duration_seconds")
    return f"{seconds} s" if seconds is not None else "-"


def runs_table(rows: list[dict[str, Any]], total: int | None) -> Table:
    """Run history, newest first (the API's order)."""
    table = Table(title=_total(rows, total, "run"), title_justify="left")
    table.add_column("id", no_wrap=True)
    for col in ("status", "result", "synced", "failed", "started", "completed", "error"):
        table.add_column(col, justify="right" if col in ("synced", "failed") else "left")
    for r in rows:
        table.add_row(
            str(r["id"]),
            status(r["status"]),
            r.get("result_class") or "-",
            str(r["rows_synced"]),
            str(r["rows_failed"]),
            when(r.get("started_at")),
            when(r.get("completed_at")),
            Text(r.get("error_message") or "", style="red"),
        )
    return table


def run_view(r: dict[str, Any]) -> Table:
    """One run: outcome, counts, attempt chain and timing."""
    summary = r.get("summary") or {}
    pairs: list[tuple[str, Any]] = [
        ("id", r["id"]),
        ("sync_id", r["sync_id"]),
        ("status", status(r["status"])),
        ("result", f"{r.get('result_class') or '-'} ({r.get('result_reason_code') or '-'})"),
        ("run_mode", r.get("run_mode", "-")),
        ("rows_synced", r["rows_synced"]),
        ("rows_failed", r["rows_failed"]),
        ("diff", diff_line(summary)),
        ("started_at", when(r.get("started_at"))),
        ("completed_at", when(r.get("completed_at"))),
        ("duration", _duration(r)),
        ("attempt", r.get("attempt_number", 1)),
        ("previous attempt", r.get("previous_attempt_run_id") or "-"),
        ("next attempt", r.get("next_attempt_run_id") or "-"),
        ("triggered", f"{r.get('trigger_ref') or '-'} by {r.get('triggered_by') or '-'}"),
    ]
    if r.get("cancel_requested_at"):
        pairs.append(
            ("cancel requested", f"{when(r['cancel_requested_at'])} {r.get('cancel_reason') or ''}")
        )
    if r.get("error_message"):
        pairs.append(("error", Text(r["error_message"], style="red")))
    return _fields(f"run {r['id']}", pairs)


def diff_line(summary: dict[str, Any]) -> str:
    """``+added ~changed =unchanged -removed`` from a run or dry-run summary."""
    keys = (("+", "added"), ("~", "changed"), ("=", "unchanged"), ("-", "removed"))
    return " ".join(f"{sign}{summary.get(key, 0)} {key}" for sign, key in keys)


def sent_total(summary: dict[str, Any]) -> int:
    """Records sent to the destination, over every operation."""
    sent = summary.get("sent") or {}
    return sum(int(v) for v in sent.values()) if isinstance(sent, dict) else int(sent)


def phase(run: dict[str, Any]) -> str:
    """The run's phase (``summary.phase``; a run without one is queued or starting)."""
    summary = run.get("summary") or {}
    return str(summary.get("phase") or ("queued" if run["status"] == "pending" else "starting"))


def sent_text(summary: dict[str, Any]) -> str:
    """``1,200 of 20,052 sent`` once the plan is known, else ``1,200 sent``."""
    sent = summary.get("sent_total")
    done = int(sent) if isinstance(sent, int) else sent_total(summary)
    planned = summary.get("planned_total")
    if isinstance(planned, int):
        return f"{done:,} of {planned:,} sent"
    return f"{done:,} sent"


def rows_read(summary: dict[str, Any]) -> int:
    """Model rows read so far (``rows_read`` while extracting, ``model_rows`` after)."""
    return int(summary.get("rows_read") or summary.get("model_rows") or 0)


def progress_line(run: dict[str, Any], elapsed: float) -> str:
    """One line of progress, for a ``--wait`` whose stderr is not a terminal (CI logs)."""
    summary = run.get("summary") or {}
    return (
        f"run {run['id']} {run['status']}: {phase(run)}, {rows_read(summary):,} read, "
        f"{sent_text(summary)} ({elapsed:.0f} s)"
    )


def progress_view(run: dict[str, Any], elapsed: float) -> Table:
    """The live display of ``--wait``: phase, then rows through each stage."""
    summary = run.get("summary") or {}
    table = Table(title=f"run {run['id']}", title_justify="left")
    for col in ("status", "phase", "read", "diff", "sent", "acknowledged", "failed", "elapsed"):
        table.add_column(col)
    table.add_row(
        status(run["status"]),
        phase(run),
        f"{rows_read(summary):,}",
        diff_line(summary),
        sent_text(summary),
        str(run["rows_synced"]),
        str(run["rows_failed"]),
        f"{elapsed:.1f} s",
    )
    return table


def final_line(run: dict[str, Any]) -> str:
    """The one line a finished run leaves behind."""
    base = (
        f"run {run['id']} {run['status']}"
        f" ({run.get('result_class') or '-'}): {run['rows_synced']} synced,"
        f" {run['rows_failed']} failed in {_duration(run)}"
    )
    return f"{base}: {run['error_message']}" if run.get("error_message") else base


def records_table(rows: list[dict[str, Any]], total: int | None) -> Table:
    """A run's records: which key, what was tried, why it was rejected, what was sent."""
    table = Table(title=_total(rows, total, "record"), title_justify="left")
    for col in ("id", "primary_key", "operation", "status", "error", "payload"):
        table.add_column(col, overflow="fold")
    for r in rows:
        error = f"{r.get('error_class')}: {r.get('error_message')}" if r.get("error_class") else ""
        payload = json.dumps(r.get("payload"), default=str)
        table.add_row(
            str(r["id"]),
            str(r.get("primary_key")),
            r["operation"],
            status(r["status"]),
            Text(error, style="red"),
            payload if len(payload) <= 120 else payload[:117] + "...",
        )
    return table


def _sample(title: str, sample: list[dict[str, Any]]) -> Table:
    columns = list(dict.fromkeys(k for row in sample for k in row))
    table = Table(*columns, title=title, title_justify="left")
    for row in sample:
        table.add_row(*(cell(row.get(c)) for c in columns))
    return table


def dry_run_view(plan: dict[str, Any]) -> Group:
    """Counts of a dry run, the delete guard's verdict, then sample records per outcome."""
    counts = plan.get("counts") or {}
    table = _fields(
        f"dry run ({plan['sync_mode']}, {plan['run_mode']}): nothing written",
        [
            ("model rows", counts.get("model_rows", 0)),
            ("diff", diff_line(counts)),
            ("would create", plan["creates"]["count"]),
            ("would update", plan["updates"]["count"]),
            ("would delete", plan["deletes"]["count"]),
            ("rejected", plan["rejected"]["count"]),
        ],
    )
    parts: list[RenderableType] = [table]
    for kind, check in (plan.get("checks") or {}).items():
        word, style = ("ok", "green") if check.get("ok") else ("FAILED", "red")
        parts.append(Text(f"{kind} check: {word}: {check.get('message', '')}", style=style))
    if plan.get("ok") is False:
        parts.append(Text(f"dry run failed: {plan.get('error', '')}", style="bold red"))
    guard = plan.get("delete_guard") or {}
    if guard.get("would_fail"):
        parts.append(Text(f"delete guard: the run would fail: {guard['message']}", style="red"))
    for key, title in (("creates", "creates"), ("updates", "updates"), ("deletes", "deletes")):
        if plan[key]["sample"]:
            parts.append(_sample(f"sample {title}", plan[key]["sample"]))
    if plan["rejected"]["sample"]:
        parts.append(_sample("sample rejected", plan["rejected"]["sample"]))
    return Group(*parts)
