"""How a run ends: every error the engine can meet mapped to its outcome, in one place.

The outcomes themselves are built by the domain's constructors (``domain/runs.py``), the same
ones the run lifecycle uses for what it decides (reaped, cancelled before start): an
``Ending`` is one of them waiting for the run's counts and summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from syncline.connectors.base import ConnectorError
from syncline.connectors.registry import UnknownConnectorError
from syncline.domain import runs
from syncline.domain.enums import ReasonCode
from syncline.domain.faults import is_disk_full
from syncline.domain.runs import RunOutcome
from syncline.engine.mapping import MappingError
from syncline.engine.plan import DeleteGuardError
from syncline.engine.ports import ExecutionLost, RunCancelled, WorkerStopping


class _Build(Protocol):
    def __call__(
        self, *, rows_synced: int, rows_failed: int, summary: dict[str, Any] | None
    ) -> RunOutcome: ...


@dataclass(frozen=True)
class Ending:
    """An outcome before the run's counts and summary are added to it."""

    build: _Build

    def outcome(
        self, synced: int = 0, failed: int = 0, summary: dict[str, Any] | None = None
    ) -> RunOutcome:
        """The outcome, with the run's counts and summary."""
        return self.build(rows_synced=synced, rows_failed=failed, summary=summary)


# Not outcomes: the executor hands the run back, or the run is no longer this execution's.
NOT_AN_OUTCOME: tuple[type[Exception], ...] = (WorkerStopping, ExecutionLost)


def _failed(reason: ReasonCode | str, message: str) -> Ending:
    code = reason.value if isinstance(reason, ReasonCode) else reason
    return Ending(partial(runs.failure, code, message))


def completed(
    failed_rows: int, *, attempted: int = 0, max_rejected_pct: float | None = None
) -> Ending:
    """A run that got to the end: a success, partial when some records were rejected, and a
    failure when every record it tried was rejected (``all_records_rejected``) or more than
    ``max_rejected_pct`` percent were (``too_many_rejected``).

    ``failed_rows`` is the count the outcome will carry (``Ending.outcome``'s ``failed``);
    ``attempted`` counts the records sent, those rejected before sending and the unchanged ones.
    """
    if failed_rows and attempted and failed_rows >= attempted:
        return _failed(
            ReasonCode.ALL_RECORDS_REJECTED,
            f"all records were rejected ({failed_rows} of {attempted}); see the run's records",
        )
    if failed_rows and attempted and max_rejected_pct is not None:
        pct = 100.0 * failed_rows / attempted
        if pct > max_rejected_pct:
            return _failed(
                ReasonCode.TOO_MANY_REJECTED,
                f"{failed_rows} of {attempted} records rejected ({pct:.1f}%), over the sync's "
                f"max_rejected_pct of {max_rejected_pct:g}%",
            )
    return Ending(runs.completed)


def spec_missing(exc: LookupError) -> Ending:
    """The run, or its sync, model, source or destination, is gone."""
    return _failed(ReasonCode.CONFIG_ERROR, str(exc))


def ending_of(exc: Exception) -> Ending | None:
    """The outcome of a run that stopped with ``exc``; None for an unexpected error (a bug:
    see ``crashed``). ``exc`` is never one of NOT_AN_OUTCOME."""
    if isinstance(exc, RunCancelled):
        return Ending(partial(runs.cancelled, str(exc) or runs.cancel_message(None)))
    if isinstance(exc, DeleteGuardError):
        return _failed(ReasonCode.DELETE_GUARD, str(exc))
    if isinstance(exc, (MappingError, UnknownConnectorError, ValueError)):
        return _failed(ReasonCode.CONFIG_ERROR, f"configuration error: {exc}")
    if isinstance(exc, ConnectorError):
        return _failed(exc.reason_code, str(exc))
    if is_disk_full(exc):
        return _failed(
            ReasonCode.DISK_FULL,
            f"the disk of the data directory is full ({type(exc).__name__}: {exc}); free some "
            "space: the run can be started again, committed batches stay",
        )
    return None


def crashed(exc: Exception) -> Ending:
    """A bug must still end the run, not strand it."""
    return _failed(ReasonCode.INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")
