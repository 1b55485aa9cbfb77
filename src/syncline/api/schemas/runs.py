"""Request and response shapes of sync runs and their records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from syncline.api.schemas.catalog import CheckOut
from syncline.domain.enums import RunMode
from syncline.security.redact import redact
from syncline.services.sync_spec import StorableModel
from syncline.store.tables import RunRecord, SyncRun

RUN_EXAMPLE: dict[str, Any] = {
    "id": "bbe84000-e29b-41d4-a716-446655440000",
    "sync_id": "550e8400-e29b-41d4-a716-446655440000",
    "workspace_id": "660e8400-e29b-41d4-a716-446655440000",
    "status": "completed",
    "started_at": "2024-01-15T15:00:00Z",
    "completed_at": "2024-01-15T15:02:30Z",
    "rows_synced": 5420,
    "rows_failed": 3,
    "error_message": "",
    "triggered_by": "990e8400-e29b-41d4-a716-446655440000",
    "created_at": "2024-01-15T15:00:00Z",
    "updated_at": "2024-01-15T15:02:30Z",
    "attempt_number": 1,
    "attempt_root_run_id": "bbe84000-e29b-41d4-a716-446655440000",
    "previous_attempt_run_id": None,
    "next_attempt_run_id": None,
    "executor_id": "worker-1",
    "last_heartbeat_at": "2024-01-15T15:02:29Z",
    "cancel_requested_at": None,
    "cancel_requested_by": None,
    "cancel_reason": None,
    "result_class": "partial",
    "result_reason_code": "records_rejected",
    "run_mode": "incremental",
    "execution_mode": "sequential",
    "trigger_ref": "manual",
    "summary": {
        "added": 120,
        "changed": 5300,
        "removed": 0,
        "phase": "done",
        "rows_read": 20052,
        "planned_total": 5420,
        "sent_total": 5420,
    },
}


class TriggerIn(StorableModel):
    """Optional body of a trigger: ``full`` resends every row and rebuilds the snapshot."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"run_mode": "full"}]}
    )

    run_mode: RunMode = RunMode.INCREMENTAL


class RetryIn(StorableModel):
    """Optional body of a retry; the run mode defaults to the retried run's."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}]})

    run_mode: RunMode | None = None


class CancelIn(StorableModel):
    """Optional body of a cancel."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "wrong mapping"}]}
    )

    reason: str = Field(default="", max_length=2000)


class RunOut(BaseModel):
    """A sync run (seed 000 fields plus the attempt and cancellation lifecycle)."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [RUN_EXAMPLE]})

    id: uuid.UUID
    sync_id: uuid.UUID
    workspace_id: uuid.UUID
    status: str = Field(description="pending, running, completed, failed or cancelled")
    started_at: datetime | None
    completed_at: datetime | None
    rows_synced: int
    rows_failed: int
    error_message: str
    triggered_by: str | None = Field(description="Token id for API runs, or the trigger's name.")
    created_at: datetime
    updated_at: datetime
    attempt_number: int
    attempt_root_run_id: uuid.UUID | None
    previous_attempt_run_id: uuid.UUID | None
    next_attempt_run_id: uuid.UUID | None
    executor_id: str | None
    last_heartbeat_at: datetime | None
    cancel_requested_at: datetime | None
    cancel_requested_by: str | None
    cancel_reason: str | None
    result_class: str | None = Field(description="success, partial, failure or cancelled")
    result_reason_code: str | None
    run_mode: str
    execution_mode: str
    trigger_ref: str | None = Field(description="manual, retry, on_create, schedule, upstream ...")
    summary: dict[str, Any]

    @classmethod
    def of(cls, row: SyncRun) -> Self:
        out = cls.model_validate(row, from_attributes=True)
        out.error_message = redact(out.error_message)
        out.cancel_reason = redact(out.cancel_reason) if out.cancel_reason else out.cancel_reason
        return out


class RunRecordOut(BaseModel):
    """One record of a run: usually one the destination (or a cast) rejected."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": 1,
                    "run_id": "bbe84000-e29b-41d4-a716-446655440000",
                    "primary_key": "42",
                    "operation": "upsert",
                    "status": "failed",
                    "error_class": "rejected",
                    "error_message": "Email: invalid address",
                    "payload": {"Email": "not-an-email"},
                    "created_at": "2024-01-15T15:01:00Z",
                }
            ]
        },
    )

    id: int
    run_id: uuid.UUID
    primary_key: str | None
    operation: str
    status: str
    error_class: str
    error_message: str
    payload: dict[str, Any] | None
    created_at: datetime

    @classmethod
    def of(cls, row: RunRecord) -> Self:
        out = cls.model_validate(row, from_attributes=True)
        out.error_message = redact(out.error_message)
        return out


class DryRunIn(BaseModel):
    """Options of a dry run."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"sample_size": 5}]})

    run_mode: RunMode = RunMode.INCREMENTAL
    sample_size: int = Field(default=10, ge=0, le=100)


class PlannedOut(BaseModel):
    count: int
    sample: list[dict[str, Any]]


class RejectedPlanOut(BaseModel):
    count: int
    by_reason: dict[str, int]
    sample: list[dict[str, Any]]


class DeleteGuardOut(BaseModel):
    would_fail: bool
    message: str


class DryRunOut(BaseModel):
    """What a run would do now: nothing was written to the destination, snapshot or runs."""

    sync_id: str
    sync_mode: str
    run_mode: str
    key_field: str
    fields: list[str]
    counts: dict[str, Any]
    creates: PlannedOut
    updates: PlannedOut
    deletes: PlannedOut
    rejected: RejectedPlanOut
    delete_guard: DeleteGuardOut
    ok: bool = Field(
        default=True,
        description="False when the source's or the destination's connection check failed: "
        "a run now would fail. The plan is still shown.",
    )
    error: str = Field(default="", description="Why the dry run failed; empty when ok.")
    checks: dict[str, CheckOut] = Field(
        default_factory=dict,
        description="The connection checks that ran first: source and destination.",
    )
