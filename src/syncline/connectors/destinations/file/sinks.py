"""Append-only writers of the file destination: one per format, each durable after ``write``.

Every sink writes through a file object we own, so after each batch we can ``flush`` and
``os.fsync`` it: the engine commits its snapshot as soon as ``write`` returns, so the rows
must already be on disk by then.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FORMATS = ("csv", "jsonl", "parquet")


class Sink(Protocol):
    def write(self, table: pa.Table) -> None: ...

    def close(self) -> None: ...


def _is_binary(t: pa.DataType) -> bool:
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t))


def _is_nested(t: pa.DataType) -> bool:
    return bool(pa.types.is_nested(t) or pa.types.is_map(t))


def json_default(value: Any) -> Any:
    """JSON for what ``json`` cannot encode: exact decimals as text, instants in ISO 8601."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


def _json_text(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        value = dict(value)  # Arrow maps come back as lists of (key, value) pairs
    return json.dumps(value, default=json_default, separators=(",", ":"))


class _FileSink:
    """Owns the file handle and makes each write durable."""

    def __init__(self, path: Path) -> None:
        # "xb": a run id is unique; an existing file means a second writer, never overwrite it.
        self._fh: BinaryIO = open(path, "xb")  # noqa: SIM115 - closed in close()
        _fsync_dir(path.parent)  # the new directory entry must survive a crash too

    def _sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def _close_file(self) -> None:
        if not self._fh.closed:
            self._sync()
            self._fh.close()


class ParquetSink(_FileSink):
    """One row group per batch; the footer (needed to read the file) is written by close()."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        super().__init__(path)
        self._writer = pq.ParquetWriter(self._fh, schema)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self._sync()

    def close(self) -> None:
        self._writer.close()
        self._close_file()


class CsvSink(_FileSink):
    """RFC 4180 CSV with a header; nested values as JSON text, binary as base64.

    Strings are always quoted, so an empty string (``""``) stays distinct from NULL (an empty
    unquoted field).
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        super().__init__(path)
        self._writer = pacsv.CSVWriter(self._fh, self.text_schema(schema))

    @staticmethod
    def text_schema(schema: pa.Schema) -> pa.Schema:
        fields = [
            pa.field(f.name, pa.string()) if _is_nested(f.type) or _is_binary(f.type) else f
            for f in schema
        ]
        return pa.schema(fields)

    def write(self, table: pa.Table) -> None:
        columns = []
        for column in table.columns:
            if _is_nested(column.type):
                values = [None if v is None else _json_text(v) for v in column.to_pylist()]
                column = pa.array(values, pa.string())
            elif _is_binary(column.type):
                values = [None if v is None else json_default(v) for v in column.to_pylist()]
                column = pa.array(values, pa.string())
            columns.append(column)
        self._writer.write_table(pa.table(columns, names=table.column_names))
        self._sync()

    def close(self) -> None:
        self._writer.close()
        self._close_file()


class JsonlSink(_FileSink):
    """One JSON object per line, ``_operation`` first; decimals as strings to stay exact."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        super().__init__(path)

    def write(self, table: pa.Table) -> None:
        lines = [
            json.dumps(row, default=json_default, separators=(",", ":"), ensure_ascii=False)
            for row in table.to_pylist(maps_as_pydicts="strict")
        ]
        if lines:
            self._fh.write(("\n".join(lines) + "\n").encode())
        self._sync()

    def close(self) -> None:
        self._close_file()


def open_sink(fmt: str, path: Path, schema: pa.Schema) -> Sink:
    sinks: dict[str, type[ParquetSink | CsvSink | JsonlSink]] = {
        "parquet": ParquetSink,
        "csv": CsvSink,
        "jsonl": JsonlSink,
    }
    return sinks[fmt](path, schema)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, text: str) -> None:
    """Write-to-temp, fsync, rename: readers see the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
