"""Enumerations shared by every layer; values are the API's wire strings."""

from __future__ import annotations

from enum import StrEnum


class SyncMode(StrEnum):
    UPSERT = "upsert"
    INSERT = "insert"
    UPDATE = "update"
    MIRROR = "mirror"
    APPEND = "append"


class SyncStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ERROR = "error"


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


ACTIVE_RUN_STATUSES: tuple[str, ...] = (RunStatus.PENDING.value, RunStatus.RUNNING.value)


class ResultClass(StrEnum):
    SUCCESS = "success"
    PARTIAL = "partial"
    FAILURE = "failure"
    CANCELLED = "cancelled"


class RunMode(StrEnum):
    INCREMENTAL = "incremental"
    FULL = "full"


class TypeCast(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    DATE = "date"
    JSON = "json"


class FieldBehavior(StrEnum):
    SPECIFIC_PROPERTIES = "specific_properties"
    SYNC_ALL_PROPERTIES = "sync_all_properties"


class FieldNormalization(StrEnum):
    START_CASE = "start_case"
    LOWER_CASE = "lower_case"
    UPPER_CASE = "upper_case"
    CAMEL_CASE = "camel_case"
    SNAKE_CASE = "snake_case"
    MATCH_SOURCE_NAMES = "match_source_names"


class FieldOrder(StrEnum):
    ALPHABETICAL_COLUMN_NAME = "alphabetical_column_name"
    MAPPING_ORDER = "mapping_order"


class TriggerMode(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    ON_CREATE = "on_create"


class ExecutionMode(StrEnum):
    SEQUENTIAL = "sequential"
    FAN_OUT_ENTITY = "fan_out_entity"
    FAN_OUT_WINDOW = "fan_out_window"


class Operation(StrEnum):
    """What the engine asks a destination to do with one record."""

    UPSERT = "upsert"
    INSERT = "insert"
    UPDATE = "update"
    DELETE = "delete"


class RecordStatus(StrEnum):
    FAILED = "failed"
    SUCCEEDED = "succeeded"


class ReasonCode(StrEnum):
    HEARTBEAT_TIMEOUT = "heartbeat_timeout"
    SOURCE_ERROR = "source_error"
    DESTINATION_ERROR = "destination_error"
    DESTINATION_AUTH = "destination_auth"
    DESTINATION_UNREACHABLE = "destination_unreachable"
    DELETE_GUARD = "delete_guard"
    CANCELLED_BY_USER = "cancelled_by_user"
    CONFIG_ERROR = "config_error"
    INTERNAL_ERROR = "internal_error"
    RECORDS_REJECTED = "records_rejected"
    ALL_RECORDS_REJECTED = "all_records_rejected"
    TOO_MANY_REJECTED = "too_many_rejected"
    DISK_FULL = "disk_full"
    OK = "ok"
