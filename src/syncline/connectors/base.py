"""What a connector sees of Syncline: the protocols and the values that cross them.

Connectors import only this module (and pyarrow/pydantic). The engine hands destinations
``ChangeBatch`` objects and reads back per-record ``BatchResult``s.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import pyarrow as pa
from pydantic import BaseModel, ValidationInfo

from syncline.connectors._budget import RetryBudget
from syncline.domain.enums import Operation, SyncMode
from syncline.domain.idempotency import record_idempotency_keys
from syncline.domain.secrets import scrub_text

__all__ = [
    "BatchResult",
    "Capabilities",
    "ChangeBatch",
    "CheckResult",
    "Column",
    "ConnectorError",
    "Destination",
    "DestinationAuthError",
    "DestinationError",
    "FieldSchema",
    "ObjectSchema",
    "Operation",
    "PreviewSource",
    "RecordError",
    "RunInfo",
    "Source",
    "SourceError",
    "SyncMode",
    "saving",
]

#: Validation context of a config being saved (created or updated). Validators that look
#: outside the process (DNS for the network guard, the file system for the file root) run only
#: then, so a refusal is a 422; when a run opens the connector, the connector itself refuses
#: (at connect time), which the run reports as a ``destination_error``.
SAVING_CONTEXT = {"syncline_saving": True}


def saving(info: ValidationInfo) -> bool:
    """Whether a pydantic validator runs for a config being saved (see ``SAVING_CONTEXT``)."""
    return bool(info.context and info.context.get("syncline_saving"))


class ConnectorError(Exception):
    """A connector failure reported as is; ``retryable`` says whether trying again may help."""

    reason_code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(scrub_text(message))  # URLs with credentials, tokens: never shown
        self.retryable = retryable


class SourceError(ConnectorError):
    """The source is unreachable or the model's SQL fails."""

    reason_code = "source_error"


class DestinationError(ConnectorError):
    """The destination failed a whole batch (not one record)."""

    reason_code = "destination_error"


class DestinationUnreachable(DestinationError):
    """The destination could not be reached (connection refused, DNS, timeouts) within the
    retry budget; the message names the host, port and the last error."""

    reason_code = "destination_unreachable"


class DestinationAuthError(DestinationError):
    """The destination refused our credentials; retrying will not help."""

    reason_code = "destination_auth"


@dataclass(frozen=True)
class Column:
    """A model column: its name and its Arrow type as a string (``int64``, ``string``, ...)."""

    name: str
    type: str
    nullable: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "nullable": self.nullable}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of a connection test, with a message a user can act on."""

    ok: bool
    message: str = ""


@dataclass(frozen=True)
class Capabilities:
    """What a destination can do; the engine and sync validation read it."""

    modes: frozenset[SyncMode]
    max_batch_rows: int = 10_000
    rate_limit_per_second: float | None = None
    supports_delete: bool = True
    lists_fields: bool = False
    #: An update of a key the destination does not hold comes back as a ``not_found`` error.
    #: False for change logs (files): they acknowledge updates of absent keys.
    reports_not_found: bool = True
    #: Values round-trip exactly ('' stays '', microseconds stay). False where the vendor stores
    #: '' as no value or truncates datetimes (the SaaS CRMs).
    exact_types: bool = True
    #: Whether the destination can lay its columns out in a chosen order (files, created
    #: tables); a sync's ``field_order`` is refused (422) where it cannot.
    supports_field_ordering: bool = False
    #: How many sessions may write one run's batches side by side (load lanes), each batch in
    #: its own transaction: only where concurrent idempotent writes of disjoint keys are safe
    #: and scale (a server that ingests on several backends). 1: one writer, batch by batch.
    max_writers: int = 1


@dataclass(frozen=True)
class FieldSchema:
    name: str
    type: str = "string"
    required: bool = False
    is_key: bool = False


@dataclass(frozen=True)
class ObjectSchema:
    name: str
    fields: list[FieldSchema] = field(default_factory=list)
    supports_field_ordering: bool = False


class Interrupted(Exception):
    """A destination gave up mid-write because the run was asked to stop; what it had
    acknowledged before stays acknowledged.

    ``acknowledged`` are the batch indexes the destination confirmed before it stopped and
    ``errors`` the records it rejected meanwhile: the engine commits exactly those, and the
    rest of the batch counts as not sent (it is sent again by a later run).
    """

    def __init__(
        self,
        message: str = "the run was asked to stop",
        *,
        acknowledged: list[int] | None = None,
        errors: list[RecordError] | None = None,
    ) -> None:
        super().__init__(message)
        self.acknowledged = acknowledged or []
        self.errors = errors or []


@dataclass(frozen=True)
class RunInfo:
    """Who is writing: lets a destination name per-run artefacts (files, staging tables)."""

    sync_id: str
    run_id: str
    sync_mode: SyncMode
    key_field: str
    fields: list[str]
    work_dir: str | None = None
    # Set when one shard of a fan-out run writes: names per-shard artefacts apart.
    part: str = ""
    # Unique per execution (a resumed run or shard executes again under the same run id).
    execution: str = ""
    # Set by the engine when the run must stop (cancel, lost ownership, worker stopping): a
    # destination checks it between requests and waits on it instead of sleeping.
    stop: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)
    # The run's one retry budget: every layer asks it before waiting to try again.
    budget: RetryBudget = field(default_factory=RetryBudget, compare=False, repr=False)
    # The engine's progress callback: a destination calls ``report_sent`` between requests.
    on_sent: Callable[[int], None] | None = field(default=None, compare=False, repr=False)

    def check_stop(self) -> None:
        """Raise :class:`Interrupted` if the run was asked to stop."""
        if self.stop.is_set():
            raise Interrupted("the run was asked to stop")

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``, waking at once (raising :class:`Interrupted`) on a stop."""
        if self.stop.wait(max(0.0, seconds)):
            raise Interrupted("the run was asked to stop")

    def report_sent(self, records: int) -> None:
        """Say that ``records`` more records of the batch in ``write()`` were answered
        (acknowledged or rejected): a long batch shows progress before it returns. Safe from
        any thread; cheap (the engine counts, a side thread saves)."""
        if self.on_sent is not None:
            self.on_sent(records)

    @property
    def writer_id(self) -> str:
        """The run id, plus the shard when several workers write one run side by side."""
        return f"{self.run_id}-{self.part}" if self.part else self.run_id


@dataclass
class ChangeBatch:
    """Records for one operation, keyed by ``key_field``.

    ``records`` has one column per destination field (the key field included). ``keys`` is the
    primary key of each record as text, parallel to the rows. When ``skip_nulls`` is true a NULL
    means "leave the destination field as it is" (the sync's ``sync_null_values`` is false).
    For ``Operation.DELETE`` only the key column is meaningful. ``row_hashes`` (parallel to the
    rows, None for deletes) is the engine's hash of each record's mapped values: HTTP
    destinations derive each record's idempotency key from it (:meth:`idempotency_keys`).
    """

    operation: Operation
    records: pa.Table
    keys: list[str]
    key_field: str
    seq: int = 0
    skip_nulls: bool = False
    row_hashes: pa.Array | None = None

    def __len__(self) -> int:
        return int(self.records.num_rows)

    def idempotency_keys(self, sync_id: str) -> list[str]:
        """Each record's idempotency key: the same whenever this record change is sent again
        (a retry, a resumed attempt, a later run), whatever run sends it."""
        hashes: list[Any] | None = None
        if self.row_hashes is not None:
            hashes = self.row_hashes.to_pylist()
        elif self.operation is not Operation.DELETE:
            # No engine hash (a batch built by hand): the record's content stands in for it.
            hashes = [
                json.dumps(row, sort_keys=True, default=str) for row in self.records.to_pylist()
            ]
        return record_idempotency_keys(sync_id, self.operation.value, self.keys, hashes)


@dataclass(frozen=True)
class RecordError:
    """One record the destination rejected, by its index in the batch."""

    index: int
    message: str
    error_class: str = "rejected"

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", scrub_text(self.message))


@dataclass
class BatchResult:
    """Per-record outcome: every index not in ``errors`` was applied and acknowledged."""

    size: int
    errors: list[RecordError] = field(default_factory=list)

    @property
    def failed_indexes(self) -> set[int]:
        return {e.index for e in self.errors}

    @property
    def succeeded(self) -> int:
        return self.size - len(self.failed_indexes)


@runtime_checkable
class Source(Protocol):
    """A warehouse the models are read from."""

    config_model: ClassVar[type[BaseModel]]

    def check(self) -> CheckResult: ...

    def columns(self, sql: str) -> list[Column]: ...

    def read(self, sql: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]: ...

    def close(self) -> None: ...


@runtime_checkable
class PreviewSource(Protocol):
    """A source that reads a preview under its shorter, interactive timeout."""

    def preview(self, sql: str, *, limit: int) -> Iterator[pa.RecordBatch]: ...


@runtime_checkable
class Destination(Protocol):
    """Where a sync writes. ``write`` must be idempotent by key for upsert/update/delete."""

    config_model: ClassVar[type[BaseModel]]
    capabilities: ClassVar[Capabilities]

    def check(self) -> CheckResult: ...

    def objects(self) -> list[ObjectSchema]: ...

    def begin(self, run: RunInfo) -> None: ...

    def write(self, batch: ChangeBatch) -> BatchResult: ...

    def finish(self, *, success: bool) -> None: ...

    def close(self) -> None: ...
