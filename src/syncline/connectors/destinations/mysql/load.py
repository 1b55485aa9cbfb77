"""Apply one change batch to a MySQL/MariaDB table, in one InnoDB transaction.

The batch's keys are looked up first (``SELECT ... FOR UPDATE``, which also locks the rows it
finds), so each record takes an exact path:

* absent keys: a plain multi-row ``INSERT`` (upsert, insert) or ``not_found`` (update);
* present keys: ``INSERT ... ON DUPLICATE KEY UPDATE`` when that is sure to hit the key's row,
  else ``UPDATE ... JOIN`` a TEMPORARY staging table (upsert, update); untouched (insert);
* delete: ``DELETE ... WHERE key IN (...)``; an absent key deletes nothing, which is success.

Plain INSERTs never swallow an error the way ``INSERT IGNORE`` would. InnoDB rolls back a
failing statement but keeps the transaction, so a statement that fails because of some rows'
values is bisected, statement by statement, until each bad row is isolated; every other row
is applied and the transaction commits.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pymysql

from syncline.connectors.base import DestinationError, Operation, RecordError
from syncline.connectors.destinations.mysql.catalog import Conn, TableInfo
from syncline.connectors.destinations.mysql.sql import (
    batch_error,
    error_class,
    error_code,
    ident,
    is_row_level,
    key_literals,
    literals,
    mysql_message,
    norm_key,
)

_ROW_BY_ROW = 8  # below this many rows, trying each row beats halving again
_KEYS_PER_LOOKUP = 5_000
_DUPLICATE_KEY = 1062

Apply = Callable[[list[int]], None]  # runs the statement(s) for these rows of the batch


def value_rows(table: pa.Table) -> tuple[list[str], list[int]]:
    """Each row as ``(lit, lit, ...)`` in column order, and its size in bytes."""
    cols = [literals(table.column(i)) for i in range(table.num_columns)]
    joined = pc.binary_join_element_wise(*cols, ",") if len(cols) > 1 else cols[0]
    rows = pc.binary_join_element_wise("(", joined, ")", "")
    sizes: list[int] = pc.binary_length(rows).to_pylist()
    return rows.to_pylist(), sizes


class BatchWriter:
    """Writes batches to one table over one connection (and its staging tables)."""

    def __init__(
        self,
        conn: Conn,
        table: str,
        key: str,
        info: TableInfo,
        *,
        key_is_primary: bool,
        budget: int,
    ) -> None:
        self._conn = conn
        self._table = ident(table)
        self._key = key
        self._info = info
        self._key_is_primary = key_is_primary
        self._budget = budget  # bytes of VALUES per statement, well under max_allowed_packet
        self._stages: dict[tuple[str, ...], str] = {}
        # Looking keys up costs as much as inserting them. While every key is new (an initial
        # sync, an insert-mode run) a plain INSERT of the whole batch does the same job; the
        # first duplicate key turns this off for the rest of the run.
        self.fast_insert = True

    def write(
        self, op: Operation, records: pa.Table, *, skip_nulls: bool, keys: list[str]
    ) -> list[RecordError]:
        """Apply ``records`` (named like the table's columns) and return the rows not applied."""
        errors: list[RecordError] = []
        n = records.num_rows
        key_lits = key_literals(records.column(self._key))
        columns = tuple(records.column_names)
        others = [c for c in columns if c != self._key]
        rows, sizes = value_rows(records) if op is not Operation.DELETE else ([], [])
        odku = self._odku_safe(columns)
        fast = op in (Operation.UPSERT, Operation.INSERT) and self.fast_insert
        if fast and self._insert_all_new(columns, rows, sizes):
            return []
        if op in (Operation.UPSERT, Operation.UPDATE) and others and not odku:
            self._stage(columns)  # DDL before the transaction starts
        try:
            self._conn.begin()
            if op is Operation.DELETE:
                key_sizes = [len(k.encode()) + 1 for k in key_lits]
                self._apply_all(list(range(n)), self._delete(key_lits), key_sizes, errors)
            else:
                found = self._present(key_lits, records.column(self._key).to_pylist())
                absent = [i for i in range(n) if i not in found]
                if op is Operation.UPDATE:
                    errors += [
                        RecordError(i, f"record not found ({self._key} = {keys[i]})", "not_found")
                        for i in absent
                    ]
                else:
                    self._apply_all(absent, self._insert(columns, rows), sizes, errors)
                if op is not Operation.INSERT and others:
                    apply = (
                        self._insert(columns, rows, self._assign(others, skip_nulls))
                        if odku
                        else self._update(columns, rows, others, skip_nulls)
                    )
                    self._apply_all(sorted(found), apply, sizes, errors)
            self._conn.commit()
        except pymysql.Error as exc:
            self._rollback()
            raise batch_error(exc, f"{op.value} batch failed") from exc
        return sorted(errors, key=lambda e: e.index)

    def _insert_all_new(self, columns: tuple[str, ...], rows: list[str], sizes: list[int]) -> bool:
        """Try the batch as plain INSERTs; False (nothing applied) if any row failed."""
        insert = self._insert(columns, rows)
        try:
            self._conn.begin()
            for chunk in self._chunks(list(range(len(rows))), sizes):
                insert(chunk)
            self._conn.commit()
            return True
        except pymysql.Error as exc:
            self._rollback()
            if not is_row_level(exc):
                raise batch_error(exc, "insert failed") from exc
            if error_code(exc) == _DUPLICATE_KEY:
                self.fast_insert = False
            return False  # the exact path below sorts out which rows fail and why

    def _odku_safe(self, columns: tuple[str, ...]) -> bool:
        """Whether ``ON DUPLICATE KEY UPDATE`` surely updates the key's row and nothing else.

        InnoDB checks the primary key first, so a present key is found there; a required
        column missing from the batch would fail the INSERT half before the duplicate is seen.
        """
        given = {c.lower() for c in columns}
        missing = [
            c for c in self._info.columns.values() if c.required and c.name.lower() not in given
        ]
        return self._key_is_primary and not missing

    def _present(self, key_lits: list[str], values: list[Any]) -> set[int]:
        """The batch rows whose key exists, locked until the transaction ends."""
        by_key = {norm_key(v): i for i, v in enumerate(values)}
        found: set[int] = set()
        with self._conn.cursor() as cur:
            for start in range(0, len(key_lits), _KEYS_PER_LOOKUP):
                chunk = ",".join(key_lits[start : start + _KEYS_PER_LOOKUP])
                k = ident(self._key)
                cur.execute(f"SELECT {k} FROM {self._table} WHERE {k} IN ({chunk}) FOR UPDATE")
                for (value,) in cur.fetchall():
                    index = by_key.get(norm_key(value))
                    if index is not None:
                        found.add(index)
        return found

    # -- statements --------------------------------------------------------------------------

    def _exec(self, *statements: str) -> None:
        with self._conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    def _insert(self, columns: tuple[str, ...], rows: list[str], tail: str = "") -> Apply:
        head = f"INSERT INTO {self._table} ({', '.join(map(ident, columns))}) VALUES "

        def apply(idx: list[int]) -> None:
            self._exec(head + ",".join(rows[i] for i in idx) + tail)

        return apply

    def _assign(self, others: list[str], skip_nulls: bool) -> str:
        template = "{c} = COALESCE(VALUES({c}), {c})" if skip_nulls else "{c} = VALUES({c})"
        return " ON DUPLICATE KEY UPDATE " + ", ".join(template.format(c=ident(c)) for c in others)

    def _update(
        self, columns: tuple[str, ...], rows: list[str], others: list[str], skip_nulls: bool
    ) -> Apply:
        stage = self._stage(columns)
        template = "t.{c} = COALESCE(s.{c}, t.{c})" if skip_nulls else "t.{c} = s.{c}"
        sets = ", ".join(template.format(c=ident(c)) for c in others)
        k = ident(self._key)
        fill = f"INSERT INTO {stage} ({', '.join(map(ident, columns))}) VALUES "
        update = f"UPDATE {self._table} AS t JOIN {stage} AS s ON t.{k} = s.{k} SET {sets}"

        def apply(idx: list[int]) -> None:
            self._exec(f"DELETE FROM {stage}", fill + ",".join(rows[i] for i in idx), update)

        return apply

    def _delete(self, key_lits: list[str]) -> Apply:
        head = f"DELETE FROM {self._table} WHERE {ident(self._key)} IN ("

        def apply(idx: list[int]) -> None:
            self._exec(head + ",".join(key_lits[i] for i in idx) + ")")

        return apply

    def _stage(self, columns: tuple[str, ...]) -> str:
        """A TEMPORARY table typed like the target's ``columns``, every column nullable."""
        if columns not in self._stages:
            name = ident(f"_syncline_stage_{len(self._stages)}")
            defs = []
            for column in columns:
                info = self._info.find(column)
                if info is None:
                    raise DestinationError(f"table {self._table} has no column {column!r}")
                defs.append(info.stage_definition())
            self._exec(f"CREATE TEMPORARY TABLE {name} ({', '.join(defs)}) ENGINE=InnoDB")
            self._stages[columns] = name
        return self._stages[columns]

    # -- applying and isolating --------------------------------------------------------------

    def _chunks(self, idx: list[int], sizes: list[int]) -> Iterator[list[int]]:
        """Rows in statement-sized runs (at least one row per statement)."""
        chunk: list[int] = []
        used = 0
        for i in idx:
            if chunk and used + sizes[i] > self._budget:
                yield chunk
                chunk, used = [], 0
            chunk.append(i)
            used += sizes[i] + 1
        if chunk:
            yield chunk

    def _apply_all(
        self, idx: list[int], apply: Apply, sizes: list[int], errors: list[RecordError]
    ) -> None:
        for chunk in self._chunks(idx, sizes):
            try:
                apply(chunk)
            except pymysql.Error as exc:
                if not is_row_level(exc):
                    raise
                self._isolate(chunk, apply, exc, errors)

    def _isolate(
        self, idx: list[int], apply: Apply, exc: pymysql.Error, errors: list[RecordError]
    ) -> None:
        """Split a failing run of rows until each failure is pinned to one row.

        A failed statement left nothing behind (InnoDB statement rollback), so each part can
        simply be tried again on its own.
        """
        if len(idx) == 1:
            errors.append(RecordError(idx[0], mysql_message(exc), error_class(exc)))
            return
        if len(idx) <= _ROW_BY_ROW:
            parts = [[i] for i in idx]
        else:
            mid = len(idx) // 2
            parts = [idx[:mid], idx[mid:]]
        for part in parts:
            try:
                apply(part)
            except pymysql.Error as failure:
                if not is_row_level(failure):
                    raise
                self._isolate(part, apply, failure, errors)

    def _rollback(self) -> None:
        # If the connection is gone, the server rolls the transaction back by itself.
        with contextlib.suppress(pymysql.Error, OSError):
            self._conn.rollback()
