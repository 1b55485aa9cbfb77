"""The phases of a run, as ``summary.phase`` names them (the API, the CLI and the dashboard).

In one place because two layers write them: the run lifecycle (``queued`` for a run waiting for
a worker, ``done`` for a run it ends itself) and the engine (the others, then ``done``).
"""

from __future__ import annotations

from typing import Any

#: In order: waiting for a worker, reading the model, classifying it against the snapshot,
#: sending to the destination, settling the snapshot and the mark, ended (whatever the outcome).
PHASES = ("queued", "extracting", "diffing", "loading", "committing", "done")
QUEUED, DONE = PHASES[0], PHASES[-1]


def queued_summary() -> dict[str, Any]:
    """The summary of a run waiting for a worker (new, or handed back by a stopping one)."""
    return {"phase": QUEUED}


def started_summary() -> dict[str, Any]:
    """The summary of a run a worker just claimed: its engine opens the source first."""
    return {"phase": PHASES[1]}


def ended_summary(summary: dict[str, Any] | None) -> dict[str, Any]:
    """``summary`` of a run that ended without the engine saying so (cancelled while queued,
    reaped): its counts kept, its phase ``done``."""
    return {**(summary or {}), "phase": DONE}


def fan_out_summary(shards: list[tuple[str, dict[str, Any] | None]]) -> dict[str, Any]:
    """The live summary of a fan-out run from its shards' (status, summary): the earliest
    phase of a shard still at work, and the rows read, planned and sent summed over shards
    (``planned_total`` once every shard knows its own)."""
    open_phases = [
        ((summary or {}).get("phase") or PHASES[1]) if status == "running" else QUEUED
        for status, summary in shards
        if status in ("pending", "running")
    ]
    ranked = [PHASES.index(p) for p in open_phases if p in PHASES]
    out: dict[str, Any] = {
        "phase": PHASES[min(ranked)] if ranked else "committing",
        "shards": len(shards),
    }
    for key in ("rows_read", "sent_total"):
        out[key] = sum(int((summary or {}).get(key) or 0) for _, summary in shards)
    planned = [(summary or {}).get("planned_total") for _, summary in shards]
    if planned and all(isinstance(p, int) for p in planned):
        out["planned_total"] = sum(int(p or 0) for p in planned)
    return out
