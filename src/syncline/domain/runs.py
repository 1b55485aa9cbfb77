"""The run state machine and run outcomes: what the engine reports and the lifecycle records.

Pure: shared by the engine (which produces outcomes), ``runs/`` (which checks every status
change against the tables below and records outcomes) and fan-out (which combines the
outcomes of shards). Outcomes are built only through the constructors here, so a status, its
result class and its reason code always agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from syncline.domain.enums import ReasonCode, ResultClass, RunStatus

_P, _R = RunStatus.PENDING, RunStatus.RUNNING
_C, _F, _X = RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED

# from-status -> the statuses a run may move to. Terminal statuses move nowhere: a retry or a
# resume is a new run, linked to the old one.
RUN_TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    _P: frozenset({_R, _X}),  # claimed; cancelled before a worker took it
    _R: frozenset({_P, _C, _F, _X}),  # handed back by a stopping worker; ended; reaped
    _C: frozenset(),
    _F: frozenset(),
    _X: frozenset(),
}

# The same for one shard of a fan-out run.
SHARD_TRANSITIONS: Mapping[RunStatus, frozenset[RunStatus]] = {
    _P: frozenset({_R, _X}),  # claimed; closed because its run already ended
    _R: frozenset({_P, _C, _F, _X}),  # handed back or reaped and resumed; ended; reaped for good
    _C: frozenset(),
    _F: frozenset(),
    _X: frozenset(),
}

Kind = Literal["run", "shard"]
TRANSITIONS: Mapping[Kind, Mapping[RunStatus, frozenset[RunStatus]]] = {
    "run": RUN_TRANSITIONS,
    "shard": SHARD_TRANSITIONS,
}


class TransitionRefused(ValueError):
    """A status change the state machine does not allow (a bug in the caller, not a race)."""

    def __init__(self, kind: Kind, from_status: RunStatus, to_status: RunStatus) -> None:
        allowed = ", ".join(sorted(TRANSITIONS[kind][from_status])) or "nothing (terminal)"
        super().__init__(
            f"a {kind} cannot go from {from_status.value} to {to_status.value}; "
            f"from {from_status.value} it may go to {allowed}"
        )
        self.kind = kind
        self.from_status = from_status
        self.to_status = to_status


def check_transition(kind: Kind, from_status: RunStatus, to_status: RunStatus) -> None:
    """Raise ``TransitionRefused`` unless a ``kind`` may move from one status to the other."""
    if to_status not in TRANSITIONS[kind][from_status]:
        raise TransitionRefused(kind, from_status, to_status)


class DiffClass(StrEnum):
    """What the diff says about one record compared with the snapshot (summary keys too)."""

    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, as the engine reports it."""

    status: RunStatus
    result_class: ResultClass
    reason_code: str
    error_message: str = ""
    rows_synced: int = 0
    rows_failed: int = 0
    summary: dict[str, Any] | None = None


@dataclass(frozen=True)
class ShardRef:
    """Which hash partition of a fan-out run this execution covers."""

    id: str
    index: int
    count: int

    @property
    def label(self) -> str:
        return f"s{self.index + 1}of{self.count}"


# -- outcome constructors -------------------------------------------------------------------


def success(*, rows_synced: int = 0, summary: dict[str, Any] | None = None) -> RunOutcome:
    """Every record was sent and acknowledged."""
    return RunOutcome(
        RunStatus.COMPLETED, ResultClass.SUCCESS, ReasonCode.OK.value, "", rows_synced, 0, summary
    )


def partial(
    *, rows_synced: int = 0, rows_failed: int, summary: dict[str, Any] | None = None
) -> RunOutcome:
    """The run completed but the destination rejected some records."""
    return RunOutcome(
        RunStatus.COMPLETED,
        ResultClass.PARTIAL,
        ReasonCode.RECORDS_REJECTED.value,
        "",
        rows_synced,
        rows_failed,
        summary,
    )


def completed(
    *, rows_synced: int = 0, rows_failed: int = 0, summary: dict[str, Any] | None = None
) -> RunOutcome:
    """A completed run: a success, or partial when any record was rejected."""
    if rows_failed:
        return partial(rows_synced=rows_synced, rows_failed=rows_failed, summary=summary)
    return success(rows_synced=rows_synced, summary=summary)


def failure(
    reason_code: str,
    message: str,
    *,
    rows_synced: int = 0,
    rows_failed: int = 0,
    summary: dict[str, Any] | None = None,
) -> RunOutcome:
    """The run failed for ``reason_code`` (a ``ReasonCode`` value or a connector's own)."""
    return RunOutcome(
        RunStatus.FAILED,
        ResultClass.FAILURE,
        reason_code,
        message,
        rows_synced,
        rows_failed,
        summary,
    )


def cancelled(
    message: str,
    *,
    rows_synced: int = 0,
    rows_failed: int = 0,
    summary: dict[str, Any] | None = None,
) -> RunOutcome:
    """The user cancelled the run; ``message`` is usually ``cancel_message(...)``."""
    return RunOutcome(
        RunStatus.CANCELLED,
        ResultClass.CANCELLED,
        ReasonCode.CANCELLED_BY_USER.value,
        message,
        rows_synced,
        rows_failed,
        summary,
    )


def cancel_message(reason: str | None, *, unconfirmed: bool = False) -> str:
    """The error message of a cancelled run; ``unconfirmed``: its worker died before stopping."""
    message = f"cancelled by user: {reason}" if reason else "cancelled by user"
    if unconfirmed:
        message += " (its worker stopped before confirming; committed batches stay)"
    return message


def run_heartbeat_timeout(timeout_seconds: float) -> RunOutcome:
    """A run whose worker stopped heartbeating (the reaper ends it)."""
    return failure(
        ReasonCode.HEARTBEAT_TIMEOUT.value,
        f"the worker running this run stopped sending heartbeats for more "
        f"than {timeout_seconds:g}s (killed or hung)",
    )


def shard_heartbeat_timeout(attempts: int) -> RunOutcome:
    """A shard whose workers stopped heartbeating on every attempt it was allowed."""
    return failure(
        ReasonCode.HEARTBEAT_TIMEOUT.value,
        f"the worker of this shard stopped sending heartbeats {attempts} times (killed or hung)",
    )


# -- fan-out: the run's outcome from its shards' ---------------------------------------------


@dataclass(frozen=True)
class ShardResult:
    """How one shard ended, as stored on its row (what ``combine_outcomes`` reads)."""

    index: int
    status: RunStatus
    attempts: int = 1
    rows_synced: int = 0
    rows_failed: int = 0
    result_reason_code: str | None = None
    error_message: str = ""
    summary: Mapping[str, Any] = field(default_factory=dict)


def _add(total: dict[str, Any], part: Mapping[str, Any]) -> None:
    for key, value in part.items():
        if isinstance(value, bool):
            continue
        if key == "duration_seconds" and isinstance(value, int | float):
            total[key] = max(float(total.get(key, 0.0)), float(value))
        elif isinstance(value, int | float):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, Mapping):
            sub = total.setdefault(key, {})
            if isinstance(sub, dict):
                _add(sub, value)


def combine_outcomes(shards: Sequence[ShardResult]) -> RunOutcome:
    """The run's outcome from its shards': counts summed, the worst status wins."""
    summary: dict[str, Any] = {}
    for shard in shards:
        _add(summary, shard.summary or {})
    summary["phase"] = "done"
    summary["shards"] = [
        {
            "index": sh.index,
            "status": sh.status.value,
            "attempts": sh.attempts,
            "rows_synced": sh.rows_synced,
            "rows_failed": sh.rows_failed,
            "result_reason_code": sh.result_reason_code,
        }
        for sh in shards
    ]
    synced = sum(sh.rows_synced for sh in shards)
    failed_rows = sum(sh.rows_failed for sh in shards)
    n = len(shards)
    failed = [sh for sh in shards if sh.status == RunStatus.FAILED]
    if failed:
        first = failed[0]
        return failure(
            first.result_reason_code or ReasonCode.INTERNAL_ERROR.value,
            f"{len(failed)} of {n} shards failed; shard {first.index + 1}/{n}: "
            f"{first.error_message}",
            rows_synced=synced,
            rows_failed=failed_rows,
            summary=summary,
        )
    cancelled_shards = [sh for sh in shards if sh.status == RunStatus.CANCELLED]
    if cancelled_shards:
        return cancelled(
            cancelled_shards[0].error_message or cancel_message(None),
            rows_synced=synced,
            rows_failed=failed_rows,
            summary=summary,
        )
    return completed(rows_synced=synced, rows_failed=failed_rows, summary=summary)
