"""Apply one change batch to a PostgreSQL table: COPY into a staging table, then one statement.

A batch runs in one transaction: COPY into a TEMP table typed like the target (or, when a
value does not parse, into an all-text one), then one set-based statement that casts and
applies every staged row. When PostgreSQL rejects that statement because of some rows' values
(bad input, a violated constraint), it is retried on halves of the staged rows under
savepoints, and small failing slices row by row on the server, until the bad rows are
isolated; every other row is applied, and the batch commits once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import sql
from psycopg.rows import TupleRow

from syncline.connectors.base import Operation, RecordError
from syncline.connectors.destinations.postgres import sql as _pg_sql
from syncline.connectors.destinations.postgres.types import (
    ORD,
    batch_error,
    csv_chunks,
    error_class,
    is_row_level,
    join_message,
    state_error,
    state_is_row_level,
)

# Failing slices this small are applied row by row in one server-side loop: below this size
# halving again costs more round trips than it saves rows.
_ROW_LOOP = 1024

Conn = psycopg.Connection[TupleRow]

# (may this role read the table, may COPY stand in for INSERT: no INSERT rule, no RLS)
_PROBE = (
    "SELECT has_table_privilege(%s, 'SELECT'), NOT c.relrowsecurity AND NOT EXISTS"
    " (SELECT 1 FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.ev_type = '3')"
    " FROM pg_class c WHERE c.oid = %s::regclass"
)


@dataclass(frozen=True)
class _Plan:
    stage: sql.Identifier
    ord_index: sql.Identifier  # exists only while a batch is being bisected
    copy: sql.Composed
    sql: _pg_sql.Statements
    reports_found: bool  # update: the statement returns the ordinals it matched


class _Failed(Exception):
    """A row-level error while applying a slice, already rolled back to its savepoint."""

    def __init__(self, error: psycopg.Error) -> None:
        self.error = error


class StagedWriter:
    """Writes batches to one table through per-column-set TEMP staging tables."""

    def __init__(
        self, conn: Conn, target: sql.Identifier, key: str, *, empty: bool | None = None
    ) -> None:
        self._conn = conn
        self._target = target
        self._key = key
        self._plans: dict[tuple[Operation, tuple[str, ...], bool, bool], _Plan] = {}
        self._stages: dict[tuple[tuple[str, ...], bool], str] = {}
        self._results = False  # the row-by-row loop's results table exists
        # INSERT ... ON CONFLICT costs about twice a plain INSERT (speculative insertion writes
        # an extra WAL record per row). While the staged keys are all new (an initial sync, an
        # insert-mode run) a plain INSERT does the same; the first duplicate key turns it off.
        self.fast_insert = True
        # Into a table that was empty when this writer first wrote (created by this run, or an
        # initial load), new rows are COPYed straight into it: no staging, no second write.
        # None until probed; turned off by the first batch that does not go in whole.
        self.direct: bool | None = None
        self._direct_failures = 0
        self._reads = False  # may read the target (SELECT privilege): set by _probe
        # Whether the target held no rows when the run began (``target_is_empty``), so that
        # every load lane of a run takes the same verdict; None: look at the first write.
        self._empty = empty

    def write(
        self,
        op: Operation,
        data: pa.Table,
        *,
        types: dict[str, str],
        skip_nulls: bool,
        keys: list[str],
    ) -> list[RecordError]:
        """Apply ``data`` (COPY-ready, with ``ORD``) and return the rows that were not applied.

        Raises:
            DestinationError: the whole batch failed (nothing of it is committed).
        """
        columns = tuple(c for c in data.column_names if c != ORD)
        if self.direct is None:
            self.direct = self._probe()
        # The typed stage is created before the transaction (autocommit). The all-text stage
        # and the row-results table serve failures only, so they are created when needed,
        # inside it: if the batch then rolls back, so does their DDL, and the caches forget
        # them (``_forget_since``).
        plan = self._plan(op, columns, types, skip_nulls, typed=True)
        errors: list[RecordError] = []
        found: list[int] = []
        size = data.column(ORD)[-1].as_py() + 1
        known = (dict(self._plans), dict(self._stages), self._results)
        try:
            with self._forget_since(known), self._conn.transaction():
                self._conn.execute("SET CONSTRAINTS ALL IMMEDIATE")  # fail rows, not COMMIT
                direct = plan.sql.fast is not None and self.direct and self.fast_insert
                if direct and self._copy_direct(columns, data):
                    return []
                try:
                    with self._conn.transaction():
                        self._copy(plan, data)
                except psycopg.Error as exc:
                    if not is_row_level(exc):
                        raise
                    # A value its column type rejects: stage text, let the apply cast per row.
                    plan = self._plan(op, columns, types, skip_nulls, typed=False)
                    self._copy(plan, data)
                try:
                    found = self._try(plan, 0, size)
                except _Failed as failed:
                    # Bisection reads small ord ranges many times: index them, for this
                    # transaction only (COPY need not maintain the index afterwards).
                    ddl = sql.SQL("CREATE INDEX {} ON {} ({})")
                    self._conn.execute(ddl.format(plan.ord_index, plan.stage, sql.Identifier(ORD)))
                    self._isolate(plan, 0, size, failed.error, errors, found)
                    self._conn.execute(sql.SQL("DROP INDEX {}").format(plan.ord_index))
        except psycopg.Error as exc:
            raise batch_error(exc, f"{op.value} batch failed") from exc
        if plan.reports_found:
            seen = set(found) | {e.index for e in errors}
            errors += [
                RecordError(i, f"record not found ({self._key} = {_key(keys, i)})", "not_found")
                for i in data.column(ORD).to_pylist()
                if i not in seen
            ]
        return errors

    @contextlib.contextmanager
    def _forget_since(self, known: tuple[dict[Any, _Plan], dict[Any, str], bool]) -> Iterator[None]:
        """On a rolled-back batch, forget the stages (and plans) its transaction created."""
        try:
            yield
        except BaseException:
            self._plans, self._stages, self._results = dict(known[0]), dict(known[1]), known[2]
            raise

    def _probe(self) -> bool:
        """Whether a COPY into the target does exactly what the staged INSERT would; also
        whether upserts may read the target to skip unchanged rows (``self._reads``).

        Direct only into a table holding no rows yet (so the rows are almost surely new:
        anything else would waste a COPY per run), without INSERT rules (COPY ignores rules)
        and without row-level security (COPY FROM refuses it). Exactly-once by key does not
        rest on this check: the target's unique key makes a COPY of a key it holds fail, and
        the batch then takes the staged path (see ``_copy_direct``). A role without SELECT on
        the table gets neither fast path, and upserts that do not read it (as before).
        """
        name = self._target.as_string(self._conn)
        try:
            row = self._conn.execute(_PROBE, (name, name)).fetchone()
            self._reads = bool(row and row[0])
            if not (row and row[0] and row[1]):
                return False
            if self._empty is not None:
                return self._empty
            empty = sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(self._target)
            found = self._conn.execute(empty).fetchone()
        except psycopg.Error:
            if self._conn.broken:
                raise
            return False
        return bool(found and found[0])

    def _copy_direct(self, columns: tuple[str, ...], data: pa.Table) -> bool:
        """COPY the batch straight into the target under a savepoint; True if it all went in.

        Any error (a key the table already holds, a value or constraint a row breaks) rolls
        the savepoint back, so nothing of the attempt remains, and the batch is then applied
        through staging, where ON CONFLICT and bisection handle it row by row. A key that
        exists turns the direct path off for the rest of the run.
        """
        names = sql.SQL(", ").join(map(sql.Identifier, columns))
        stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(self._target, names)
        rows = data.drop_columns([ORD])
        try:
            with self._conn.transaction(), self._conn.cursor() as cur, cur.copy(stmt) as copy:
                for chunk in csv_chunks(rows):
                    copy.write(chunk)
            return True
        except psycopg.errors.UniqueViolation:
            self.direct = self.fast_insert = False
        except psycopg.Error:
            if self._conn.broken:
                raise
            self._direct_failures += 1
            self.direct = self._direct_failures < 2  # rows that keep failing: stage them
        return False

    def _copy(self, plan: _Plan, data: pa.Table) -> None:
        with self._conn.cursor() as cur, cur.copy(plan.copy) as copy:
            for chunk in csv_chunks(data):
                copy.write(chunk)

    def _isolate(
        self,
        plan: _Plan,
        lo: int,
        hi: int,
        exc: psycopg.Error,
        errors: list[RecordError],
        found: list[int],
    ) -> None:
        """Split a failing ord range ``[lo, hi)`` until each failure is pinned to one row."""
        if hi - lo == 1:
            errors.append(RecordError(lo, _message(exc), error_class(exc.sqlstate or "")))
            return
        if hi - lo <= _ROW_LOOP:
            self._row_by_row(plan, lo, hi, errors, found)
            return
        mid = (lo + hi) // 2
        for a, b in ((lo, mid), (mid, hi)):
            try:
                found.extend(self._try(plan, a, b))
            except _Failed as failed:
                self._isolate(plan, a, b, failed.error, errors, found)

    def _try(self, plan: _Plan, lo: int, hi: int) -> list[int]:
        """Apply the staged rows with ords in ``[lo, hi)`` under a savepoint.

        Returns:
            The ords an update matched (empty for other operations).

        Raises:
            _Failed: a row-level error; the savepoint was rolled back.
        """
        bounds = {"lo": lo, "hi": hi}
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                if plan.sql.fast is not None and self.fast_insert:
                    try:
                        with self._conn.transaction():
                            cur.execute(plan.sql.fast, bounds)
                        return []
                    except psycopg.errors.UniqueViolation:
                        self.fast_insert = False  # keys exist: ON CONFLICT for the rest of the run
                cur.execute(plan.sql.apply, bounds)
                return [int(row[0]) for row in cur.fetchall()] if plan.reports_found else []
        except psycopg.Error as exc:
            if is_row_level(exc):
                raise _Failed(exc) from exc
            raise

    def _row_by_row(
        self, plan: _Plan, lo: int, hi: int, errors: list[RecordError], found: list[int]
    ) -> None:
        """Apply ``[lo, hi)`` one row per subtransaction, in a single server-side loop."""
        if not self._results:
            self._conn.execute(_pg_sql.RESULTS_DDL)
            self._results = True
        body = _pg_sql.row_loop(plan.stage, plan.sql.apply_one, lo, hi).as_string(self._conn)
        self._conn.execute(sql.SQL("DO {}").format(sql.Literal(body)))
        for ord_, state, message, detail in self._conn.execute(_pg_sql.TAKE_RESULTS).fetchall():
            if state is None:
                if plan.reports_found:
                    found.append(int(ord_))
            elif state_is_row_level(state):
                errors.append(
                    RecordError(int(ord_), join_message(message, detail), error_class(state))
                )
            else:  # not about this row's values (permissions, resources...): the batch fails
                raise state_error(state, f"batch failed: {join_message(message, detail)}")

    def _plan(
        self,
        op: Operation,
        columns: tuple[str, ...],
        types: dict[str, str],
        skip_nulls: bool,
        *,
        typed: bool,
    ) -> _Plan:
        cache_key = (op, columns, skip_nulls, typed)
        if cache_key not in self._plans:
            name = self._stage(columns, types if typed else None)
            stage, ord_index = sql.Identifier(name), sql.Identifier(f"{name}_ord")
            names = sql.SQL(", ").join(map(sql.Identifier, (*columns, ORD)))
            copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(stage, names)
            stmts = _pg_sql.statements(
                op, self._target, stage, self._key, columns, types, skip_nulls, self._reads
            )
            reports = op is Operation.UPDATE
            self._plans[cache_key] = _Plan(stage, ord_index, copy, stmts, reports)
        return self._plans[cache_key]

    def _stage(self, columns: tuple[str, ...], types: dict[str, str] | None) -> str:
        """A TEMP staging table, emptied at each commit; created outside any batch.

        Typed (the columns' own types, without typmod) COPY parses values straight into the
        target's types, the fast path. Untyped (all text) COPY cannot fail on a value; the
        apply statement's casts then fail row by row, where bisection can find them.
        """
        cache_key = (columns, types is not None)
        if cache_key not in self._stages:
            name = f"_syncline_stage_{len(self._stages)}"
            self._conn.execute(_pg_sql.stage_ddl(name, columns, types))
            self._stages[cache_key] = name
        return self._stages[cache_key]


def target_is_empty(conn: Conn, target: sql.Identifier) -> bool | None:
    """Whether ``target`` holds no rows; None when it cannot be read (no SELECT privilege).

    Asked once when a run begins, before any of its lanes writes: a lane that looked at its
    first write would see another lane's rows and lose the direct COPY path.
    """
    query = sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(target)
    try:
        with conn.transaction():
            found = conn.execute(query).fetchone()
    except psycopg.Error:
        if conn.broken:
            raise
        return None
    return bool(found and found[0])


def _message(exc: psycopg.Error) -> str:
    return join_message(exc.diag.message_primary or str(exc).strip(), exc.diag.message_detail)


def _key(keys: list[str], index: int) -> str:
    return keys[index] if index < len(keys) else f"row {index}"
