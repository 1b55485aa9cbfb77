"""How a run ends: every error the engine can meet mapped to its outcome, in one place.

The small constructors here are the engine's own; the run lifecycle builds the outcomes it
decides itself (reaped, cancelled before start) with the domain's.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncline.connectors.base import ConnectorError
from syncline.connectors.registry import UnknownConnectorError
from syncline.domain.enums import ReasonCode, ResultClass, RunStatus
from syncline.engine.mapping import MappingError
from syncline.engine.plan import DeleteGuardError
from syncline.engine.ports import ExecutionLost, RunCancelled, WorkerStopping


@dataclass(frozen=True)
class Ending:
    """An outcome before the run's counts and summary are added to it."""

    status: RunStatus
    result_class: ResultClass
    reason_code: str
    message: str = ""


# Not outcomes: the executor hands the run back, or the run is no longer this execution's.
NOT_AN_OUTCOME: tuple[type[Exception], ...] = (WorkerStopping, ExecutionLost)


def _failed(reason: ReasonCode | str, message: str) -> Ending:
    code = reason.value if isinstance(reason, ReasonCode) else reason
    return Ending(RunStatus.FAILED, ResultClass.FAILURE, code, message)


def completed(failed_rows: int) -> Ending:
    """A run that got to the end: a success, or partial when records were rejected."""
    if failed_rows == 0:
        return Ending(RunStatus.COMPLETED, ResultClass.SUCCESS, ReasonCode.OK.value)
    return Ending(RunStatus.COMPLETED, ResultClass.PARTIAL, ReasonCode.RECORDS_REJECTED.value)


def spec_missing(exc: LookupError) -> Ending:
    """The run, or its sync, model, source or destination, is gone."""
    return _failed(ReasonCode.CONFIG_ERROR, str(exc))


def ending_of(exc: Exception) -> Ending | None:
    """The outcome of a run that stopped with ``exc``; None for an unexpected error (a bug:
    see ``crashed``). ``exc`` is never one of NOT_AN_OUTCOME."""
    if isinstance(exc, RunCancelled):
        return Ending(
            RunStatus.CANCELLED,
            ResultClass.CANCELLED,
            ReasonCode.CANCELLED_BY_USER.value,
            str(exc) or "cancelled by user",
        )
    if isinstance(exc, DeleteGuardError):
        return _failed(ReasonCode.DELETE_GUARD, str(exc))
    if isinstance(exc, (MappingError, UnknownConnectorError, ValueError)):
        return _failed(ReasonCode.CONFIG_ERROR, f"configuration error: {exc}")
    if isinstance(exc, ConnectorError):
        return _failed(exc.reason_code, str(exc))
    return None


def crashed(exc: Exception) -> Ending:
    """A bug must still end the run, not strand it."""
    return _failed(ReasonCode.INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")
