"""The destination conformance harness: one suite, one small adapter per destination.

An adapter knows three things about its destination: how to open it over a fresh target, how
to read the target back as ``{key: row}``, and the few facts that legitimately differ (a change
log cannot report "record not found"). ``test_destination_conformance.py`` runs every mode
scenario against every adapter. To add a destination (MySQL, a webhook, a SaaS emulator), write
an adapter here and add it to the ``adapter`` fixture in ``conftest.py``.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from syncline.connectors.base import (
    BatchResult,
    Capabilities,
    ChangeBatch,
    Destination,
    Operation,
    RunInfo,
    SyncMode,
)
from syncline.connectors.registry import destination_class, open_destination

KEY = "id"
SYNC_ID = "sync-conformance"
MODE_OF = {
    Operation.UPSERT: SyncMode.UPSERT,
    Operation.INSERT: SyncMode.INSERT,
    Operation.UPDATE: SyncMode.UPDATE,
    Operation.DELETE: SyncMode.MIRROR,
}
Rows = list[dict[str, Any]]
State = dict[str, dict[str, Any]]


class Adapter(ABC):
    """A destination under test over one fresh target (a table, a directory, an emulator)."""

    name: str

    def __init__(self) -> None:
        self.runs = 0

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The destination config, as a user would store it."""

    def open(self) -> Destination:
        """A new destination instance, through the registry like the engine does."""
        return open_destination(self.type_name, self.config())

    @property
    def capabilities(self) -> Capabilities:
        """What the destination declares: the suite picks its cases and expectations from it."""
        return destination_class(self.type_name).capabilities

    @property
    def type_name(self) -> str:
        return self.name.split("-")[0]

    @abstractmethod
    def state(self) -> State:
        """The target's current records keyed by ``str(key)``; columns beyond fields allowed."""

    def next_run_id(self) -> str:
        self.runs += 1
        return f"run-{self.runs:04d}"  # sortable: log adapters replay runs in this order


def table_of(rows: Rows, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def run(
    adapter: Adapter,
    *batches: tuple[Operation, pa.Table],
    skip_nulls: bool = False,
    success: bool = True,
) -> list[BatchResult]:
    """One run through the destination lifecycle, like the engine: begin, write..., finish."""
    first = batches[0][1] if batches else pa.table({KEY: pa.array([], pa.int64())})
    mode = MODE_OF[batches[0][0]] if batches else SyncMode.UPSERT
    dest = adapter.open()
    results = []
    try:
        dest.begin(RunInfo(SYNC_ID, adapter.next_run_id(), mode, KEY, list(first.column_names)))
        for seq, (op, table) in enumerate(batches):
            if op is Operation.DELETE:
                table = table.select([KEY])
            keys = [str(k) for k in table.column(KEY).to_pylist()]
            batch = ChangeBatch(op, table, keys, KEY, seq=seq, skip_nulls=skip_nulls)
            result = dest.write(batch)
            assert result.size == len(table)
            results.append(result)
        dest.finish(success=success)
    finally:
        dest.close()
    return results


def same_value(expected: Any, actual: Any) -> bool:
    """Equal up to the encoding the destination is allowed to use (text, JSON, numbers).

    A CSV file gives back text, a JSON body strings for decimals, a database typed values:
    each is compared as the value it stands for.
    """
    if expected is None or actual is None:
        return expected is None and actual is None
    if isinstance(expected, bool):
        return str(actual).lower() == str(expected).lower()
    if isinstance(expected, float):
        return math.isclose(float(actual), expected, rel_tol=1e-12)
    if isinstance(expected, int | Decimal):
        return not isinstance(actual, bool) and Decimal(str(actual)) == Decimal(expected)
    if isinstance(expected, datetime):
        got = actual if isinstance(actual, datetime) else datetime.fromisoformat(str(actual))
        return bool(got == expected)  # an aware and a naive datetime are never equal
    if isinstance(expected, date):
        got = actual if isinstance(actual, date) else date.fromisoformat(str(actual)[:10])
        return bool(got == expected)
    if isinstance(expected, dict | list):
        return bool((json.loads(actual) if isinstance(actual, str) else actual) == expected)
    return bool(actual == expected)


def assert_state(adapter: Adapter, expected: Rows) -> None:
    """The target holds exactly the ``expected`` records (compared field by field)."""
    state = adapter.state()
    want = {str(r[KEY]): r for r in expected}
    assert sorted(state) == sorted(want), f"{adapter.name}: keys {sorted(state)} != {sorted(want)}"
    for key, row in want.items():
        got = state[key]
        for name, value in row.items():
            assert name in got, f"{adapter.name}: record {key} has no field {name!r}"
            where = f"{adapter.name}: record {key} field {name!r}"
            assert same_value(value, got[name]), f"{where}: expected {value!r}, got {got[name]!r}"


class PostgresAdapter(Adapter):
    """A table ``people`` in a fresh database, created by the destination itself."""

    name = "postgres"

    def __init__(self, dsn: str, table: str = "people") -> None:
        super().__init__()
        self.dsn, self.table = dsn, table

    def config(self) -> dict[str, Any]:
        return {"dsn": self.dsn, "table": self.table}

    def state(self) -> State:
        import psycopg
        from psycopg import sql
        from psycopg.rows import dict_row

        with psycopg.connect(self.dsn, row_factory=dict_row) as conn:
            conn.execute("SET TimeZone = 'UTC'")
            exists = conn.execute("SELECT to_regclass(%s)", (self.table,)).fetchone()
            if not exists or exists["to_regclass"] is None:
                return {}
            rows = conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(self.table)))
            return {str(r[KEY]): dict(r) for r in rows}


class FileAdapter(Adapter):
    """The file destination: the state is the replay, run by run, of the change log."""

    def __init__(self, root: Path, fmt: str) -> None:
        super().__init__()
        self.root, self.format = root, fmt
        self.name = f"file-{fmt}"

    def config(self) -> dict[str, Any]:
        return {"path": str(self.root), "format": self.format}

    def state(self) -> State:
        state: State = {}
        for manifest_path in sorted((self.root / SYNC_ID).glob("*.manifest.json")):
            manifest = json.loads(manifest_path.read_text())
            for row in self.read(manifest_path.parent / manifest["file"]):
                replay(state, row, skip_nulls=manifest["skip_nulls"])
        return state

    def read(self, path: Path) -> Rows:
        if self.format == "parquet":
            return list(pq.read_table(path).to_pylist())
        if self.format == "jsonl":
            return [json.loads(line) for line in path.read_text().splitlines() if line]
        names = pacsv.read_csv(path).column_names
        options = pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )
        return list(pacsv.read_csv(path, convert_options=options).to_pylist())


def replay(state: State, row: dict[str, Any], *, skip_nulls: bool) -> None:
    """Apply one logged change the way a consumer of the log is documented to."""
    op, key = row["_operation"], str(row[KEY])
    fields = {k: v for k, v in row.items() if k != "_operation"}
    if op == "delete":
        state.pop(key, None)
    elif op == "insert":
        state.setdefault(key, fields)
    elif op in ("upsert", "update") and (op == "upsert" or key in state):
        merged = dict(state.get(key, dict.fromkeys(fields)))
        merged.update({k: v for k, v in fields.items() if not (skip_nulls and v is None)})
        state[key] = merged
