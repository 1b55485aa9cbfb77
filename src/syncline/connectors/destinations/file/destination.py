"""File destination: every run appends its changes to one CSV, JSONL or Parquet file.

A file is a change log, not a table: each row carries an ``_operation`` column (upsert,
insert, update, delete) and the fields, and a consumer replays the log by key. A log cannot
know whether an updated record exists, so every record is acknowledged (see
docs/destinations/file.md for the per-mode semantics).

``path`` is resolved inside the file root (``SYNCLINE_FILE_ROOT``, see ``file.root``): outside
it, or at Syncline's own data, a save is refused (422) and a run fails (``destination_error``).

Layout: ``<path>/<sync_id>/<run_id>.<ext>`` (``<run_id>-s<i>of<n>.<ext>`` per shard of a
fan-out run; ``.2``, ``.3``... when a handed-back execution continues) written batch by batch
(each batch fsync'ed before ``write`` returns), and a ``.manifest.json`` beside each file
written atomically by ``finish``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from syncline.connectors.base import (
    BatchResult,
    Capabilities,
    ChangeBatch,
    CheckResult,
    DestinationError,
    ObjectSchema,
    Operation,
    RunInfo,
    SyncMode,
    saving,
)
from syncline.connectors.destinations.file.root import current_file_root
from syncline.connectors.destinations.file.sinks import Sink, open_sink, write_atomically

__all__ = ["OPERATION_COLUMN", "FileDestination", "FileDestinationConfig"]

OPERATION_COLUMN = "_operation"


class FileDestinationConfig(BaseModel):
    """Where the files go and in which format."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        description="Directory inside the file root (SYNCLINE_FILE_ROOT; a relative path is "
        "taken inside it); each sync writes under <path>/<sync_id>/"
    )
    format: Literal["csv", "jsonl", "parquet"] = Field("jsonl", description="Output file format")
    file_prefix: str = Field(
        "sync",
        description="Accepted for compatibility; files are named <run_id>.<ext> (see the docs)",
    )

    @field_validator("path")
    @classmethod
    def _inside_root(cls, value: str, info: ValidationInfo) -> str:
        """When saved, the path must resolve inside the file root (checked again at run time)."""
        if saving(info):
            current_file_root().resolve(value)
        return value


class FileDestination:
    """Appends change batches to one file per run, plus a manifest at the end of the run."""

    config_model: ClassVar[type[BaseModel]] = FileDestinationConfig
    capabilities: ClassVar[Capabilities] = Capabilities(
        modes=frozenset(SyncMode),
        max_batch_rows=50_000,
        supports_delete=True,
        lists_fields=False,
        reports_not_found=False,
        supports_field_ordering=True,
    )

    def __init__(self, config: FileDestinationConfig) -> None:
        self._config = config
        self._run: RunInfo | None = None
        self._file: Path | None = None
        self._sink: Sink | None = None
        self._schema: pa.Schema | None = None
        self._counts: Counter[str] = Counter()
        self._skip_nulls = False
        self._started_at = ""

    @property
    def _root(self) -> Path:
        """The configured directory, resolved inside the file root now (not when saved).

        Raises:
            DestinationError: it is outside the file root or at Syncline's own data.
        """
        try:
            return current_file_root().resolve(self._config.path)
        except ValueError as exc:
            raise DestinationError(str(exc)) from None

    def check(self) -> CheckResult:
        """The directory exists (or can be created) and we can create files in it."""
        try:
            root = self._root
        except DestinationError as exc:
            return CheckResult(False, str(exc))
        try:
            root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=root, prefix=".syncline-check-"):
                pass
        except OSError as exc:
            return CheckResult(False, f"cannot write to {root}: {exc.strerror or exc}")
        return CheckResult(True, f"{root} is writable")

    def objects(self) -> list[ObjectSchema]:
        """Files take any fields: there is no object to map against."""
        return []

    def begin(self, run: RunInfo) -> None:
        """Pick this run's file; it is created with the first batch (or by finish)."""
        directory = self._root / run.sync_id
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DestinationError(f"cannot create {directory}: {exc.strerror or exc}") from exc
        self._run = run
        self._file = self._new_file(directory, run.writer_id)
        self._sink, self._schema = None, None
        self._counts = Counter()
        self._skip_nulls = False
        self._started_at = _now()

    def _new_file(self, directory: Path, writer_id: str) -> Path:
        """``<id>.<ext>``, or ``<id>.<n>.<ext>`` when a resumed execution of the same run (a
        worker handed it back, or a fan-out shard is retried) continues: never overwrite."""
        fmt = self._config.format
        path, n = directory / f"{writer_id}.{fmt}", 1
        while path.exists() or path.with_suffix(".manifest.json").exists():
            n += 1
            path = directory / f"{writer_id}.{n}.{fmt}"
        return path

    def write(self, batch: ChangeBatch) -> BatchResult:
        """Append the batch and fsync it; every record is acknowledged (a log has no lookups)."""
        if self._run is None:
            raise DestinationError("write() called before begin()")
        size = len(batch)
        if size == 0:
            return BatchResult(0)
        try:
            if self._sink is None:
                self._open(batch)
            self._sink_write(self._conform(batch))
        except OSError as exc:
            raise DestinationError(f"writing {self._file} failed: {exc.strerror or exc}") from exc
        self._counts[batch.operation.value] += size
        self._skip_nulls = self._skip_nulls or batch.skip_nulls
        return BatchResult(size)

    def finish(self, *, success: bool) -> None:
        """Close the file (a Parquet footer is written here) and publish the manifest."""
        if self._run is None or self._file is None:
            return
        try:
            if self._sink is None:  # no batch: still leave an (empty) file for this run
                self._schema = self._file_schema(pa.schema([]))
                self._sink = open_sink(self._config.format, self._file, self._schema)
            self._sink.close()
            manifest = self._manifest(success)
            write_atomically(self._file.with_suffix(".manifest.json"), manifest)
        except OSError as exc:
            raise DestinationError(f"finishing {self._file} failed: {exc.strerror or exc}") from exc
        finally:
            self._sink = None
            self._run = None

    def close(self) -> None:
        """Release the file if the run was abandoned without finish()."""
        if self._sink is not None:
            self._sink.close()
            self._sink = None

    # -- internals ---------------------------------------------------------------------------

    def _sink_write(self, table: pa.Table) -> None:
        assert self._sink is not None
        self._sink.write(table)

    def _open(self, batch: ChangeBatch) -> None:
        assert self._file is not None
        self._schema = self._file_schema(batch.records.schema)
        self._sink = open_sink(self._config.format, self._file, self._schema)

    def _file_schema(self, first: pa.Schema) -> pa.Schema:
        """``_operation`` + the run's fields, typed as the first batch had them (else text).

        One schema for the whole file: Parquet and CSV writers cannot change it midway.
        """
        assert self._run is not None
        names = list(dict.fromkeys([*self._run.fields, self._run.key_field, *first.names]))
        fields = [pa.field(OPERATION_COLUMN, pa.string(), nullable=False)]
        for name in names:
            idx = first.get_field_index(name)
            typ = first.field(idx).type if idx >= 0 else pa.null()
            fields.append(pa.field(name, pa.string() if pa.types.is_null(typ) else typ))
        return pa.schema(fields)

    def _conform(self, batch: ChangeBatch) -> pa.Table:
        """The batch in the file's schema: absent fields (and a delete's non-key fields) NULL."""
        assert self._schema is not None
        records, n = batch.records, len(batch)
        keep = (
            {batch.key_field} if batch.operation is Operation.DELETE else set(records.column_names)
        )
        columns: list[pa.Array | pa.ChunkedArray] = [
            pa.array([batch.operation.value] * n, pa.string())
        ]
        for field in list(self._schema)[1:]:
            if field.name not in keep or field.name not in records.column_names:
                columns.append(pa.nulls(n, field.type))
                continue
            column = records.column(field.name)
            if column.type != field.type:
                try:
                    column = pc.cast(column, field.type)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    raise DestinationError(
                        f"field {field.name!r} is {column.type} in batch {batch.seq} but "
                        f"{field.type} in {self._file}: {exc}"
                    ) from exc
            columns.append(column)
        return pa.Table.from_arrays(columns, schema=self._schema)

    def _manifest(self, success: bool) -> str:
        assert self._run is not None and self._file is not None and self._schema is not None
        body = {
            "sync_id": self._run.sync_id,
            "run_id": self._run.run_id,
            "format": self._config.format,
            "file": self._file.name,
            "rows": sum(self._counts.values()),
            "counts": {op.value: self._counts.get(op.value, 0) for op in Operation},
            "started_at": self._started_at,
            "finished_at": _now(),
            "success": success,
            "skip_nulls": self._skip_nulls,
            "key_field": self._run.key_field,
            "bytes": os.path.getsize(self._file),
            "schema": [{"name": f.name, "type": str(f.type)} for f in self._schema],
        }
        return json.dumps(body, indent=2) + "\n"


def _now() -> str:
    return datetime.now(UTC).isoformat()
