"""The SQL the PostgreSQL destination runs per batch, composed safely with ``psycopg.sql``.

Every statement applies the staged rows ``s`` whose ordinal is in ``[lo, hi)`` to the target
``tgt``, so the same text serves a whole batch, half of it while bisecting, or one row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from syncline.connectors.base import DestinationError, Operation
from syncline.connectors.destinations.postgres.types import ORD, cast_type

RESULTS = "_syncline_row_results"  # per-row outcomes of the server-side row loop


@dataclass(frozen=True)
class Statements:
    apply: sql.Composed  # bounds as %(lo)s / %(hi)s
    apply_one: sql.Composed  # one row, bound to the PL/pgSQL loop variable (see row_loop)
    fast: sql.Composed | None  # plain INSERT, equivalent while no staged key exists yet


def statements(
    op: Operation,
    target: sql.Identifier,
    stage: sql.Identifier,
    key: str,
    columns: tuple[str, ...],
    types: dict[str, str],
    skip_nulls: bool,
    compare: bool = True,
) -> Statements:
    """``compare``: an upsert skips rows it would not change (it reads the target for that,
    which needs SELECT on it)."""

    def build(lo: sql.Composable, hi: sql.Composable, loop: bool) -> tuple[sql.Composed, Any]:
        return _apply(op, target, stage, key, columns, types, skip_nulls, lo, hi, loop, compare)

    apply, fast = build(sql.Placeholder("lo"), sql.Placeholder("hi"), False)
    var = sql.Identifier(_LOOP_VAR)
    apply_one, _ = build(var, sql.SQL("{} + 1").format(var), True)
    return Statements(apply, apply_one, fast)


def stage_ddl(name: str, columns: tuple[str, ...], types: dict[str, str] | None) -> sql.Composed:
    """A TEMP table for staged rows: typed like the target, or all text when ``types`` is None."""
    defs = sql.SQL(", ").join(
        sql.SQL("{} {}").format(
            sql.Identifier(c), sql.SQL(cast_type(types[c]) if types else "text")
        )
        for c in columns
    )
    return sql.SQL("CREATE TEMP TABLE {} ({}, {} integer) ON COMMIT DELETE ROWS").format(
        sql.Identifier(name), defs, sql.Identifier(ORD)
    )


RESULTS_DDL = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS {} (ord integer, state text, message text, detail text)"
    " ON COMMIT DELETE ROWS"
).format(sql.Identifier(RESULTS))


_LOOP_VAR = "syncline_row_"


def row_loop(stage: sql.Identifier, apply_one: sql.Composed, lo: int, hi: int) -> sql.Composed:
    """A DO block applying rows ``[lo, hi)`` one by one, each in its own subtransaction.

    Server-side, a failing row costs tens of microseconds instead of a few round trips, which
    matters when most of a batch is rejected. The statement is static PL/pgSQL (planned once,
    not per row). Outcomes land in ``RESULTS``: SQLSTATE and message per failed row, and a
    NULL state per row the statement touched (how an update tells found from not found).
    """
    body = sql.SQL(
        """
#variable_conflict use_column
DECLARE {r} integer; syncline_n_ bigint; syncline_st_ text; syncline_msg_ text;
  syncline_det_ text;
BEGIN
  FOR {r} IN SELECT s.{ord} FROM {stage} AS s WHERE s.{ord} >= {lo} AND s.{ord} < {hi} LOOP
    BEGIN
      {stmt};
      GET DIAGNOSTICS syncline_n_ = ROW_COUNT;
      IF syncline_n_ > 0 THEN INSERT INTO {results} VALUES ({r}, NULL, NULL, NULL); END IF;
    EXCEPTION WHEN others THEN
      GET STACKED DIAGNOSTICS syncline_st_ = RETURNED_SQLSTATE,
        syncline_msg_ = MESSAGE_TEXT, syncline_det_ = PG_EXCEPTION_DETAIL;
      INSERT INTO {results}
        VALUES ({r}, syncline_st_, syncline_msg_, NULLIF(syncline_det_, ''));
    END;
  END LOOP;
END"""
    ).format(
        r=sql.Identifier(_LOOP_VAR),
        ord=sql.Identifier(ORD),
        stage=stage,
        lo=sql.Literal(lo),
        hi=sql.Literal(hi),
        stmt=apply_one,
        results=sql.Identifier(RESULTS),
    )
    return body


TAKE_RESULTS = sql.SQL("DELETE FROM {} RETURNING ord, state, message, detail").format(
    sql.Identifier(RESULTS)
)


# Types whose equality means "the same stored value": compared as they are. Any other type
# (numeric 1.0 = 1.00, citext 'A' = 'a', jsonb, floats' -0 = 0, json without equality...) is
# compared by its text, so an update that changes only the representation is still applied.
_IDENTITY_TYPES = frozenset(
    {
        "smallint",
        "integer",
        "bigint",
        "boolean",
        "text",
        "character varying",
        "date",
        "timestamp without time zone",
        "timestamp with time zone",
        "time without time zone",
        "uuid",
        "bytea",
    }
)


def _differs(others: list[str], types: dict[str, str], skip_nulls: bool) -> sql.Composed:
    """Whether an upsert would change the stored row: unchanged rows are not rewritten.

    A full run resends every row; rewriting the ones that did not change costs a new row
    version, its WAL and index entries each. The test compares the row with exactly what the
    update would assign (``COALESCE`` under ``skip_nulls``).
    """

    def side(c: str, value: sql.Composable) -> sql.Composable:
        if types.get(c) in _IDENTITY_TYPES:
            return value
        return sql.SQL("CAST({} AS text)").format(value)

    def new(c: str) -> sql.Composable:
        excluded = sql.SQL("EXCLUDED.{}").format(sql.Identifier(c))
        if skip_nulls:
            return sql.SQL("COALESCE({}, tgt.{})").format(excluded, sql.Identifier(c))
        return excluded

    old_row = sql.SQL(", ").join(
        side(c, sql.SQL("tgt.{}").format(sql.Identifier(c))) for c in others
    )
    new_row = sql.SQL(", ").join(side(c, new(c)) for c in others)
    return sql.SQL("ROW({}) IS DISTINCT FROM ROW({})").format(old_row, new_row)


def _apply(
    op: Operation,
    target: sql.Identifier,
    stage: sql.Identifier,
    key_name: str,
    columns: tuple[str, ...],
    types: dict[str, str],
    skip_nulls: bool,
    lo: sql.Composable,
    hi: sql.Composable,
    loop: bool,
    compare: bool = True,
) -> tuple[sql.Composed, sql.Composed | None]:
    """The statement applying staged rows ``s`` to ``tgt``, and the plain-INSERT fast path.

    In a PL/pgSQL ``loop`` results have nowhere to go: no RETURNING (ROW_COUNT tells what
    an update matched), and PERFORM instead of SELECT.
    """
    key, ord_ = sql.Identifier(key_name), sql.Identifier(ORD)
    others = [c for c in columns if c != key_name]

    def cast(c: str) -> sql.Composable:
        # A no-op on a typed stage; on the text stage, PostgreSQL parses the value here.
        return sql.SQL("CAST(s.{} AS {})").format(sql.Identifier(c), sql.SQL(cast_type(types[c])))

    # With skip_nulls a NULL means "leave the field as it is".
    template = "{c} = COALESCE({v}, tgt.{c})" if skip_nulls else "{c} = {v}"

    def assign(value: Callable[[str], sql.Composable]) -> sql.Composable:
        return sql.SQL(", ").join(
            sql.SQL(template).format(c=sql.Identifier(c), v=value(c)) for c in others
        )

    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    values = sql.SQL(", ").join(cast(c) for c in columns)
    where = sql.SQL("s.{o} >= {lo} AND s.{o} < {hi}").format(o=ord_, lo=lo, hi=hi)
    staged = sql.SQL("INSERT INTO {t} AS tgt ({cols}) SELECT {v} FROM {s} AS s WHERE {w}").format(
        t=target, cols=cols, v=values, s=stage, w=where
    )
    if op in (Operation.UPSERT, Operation.INSERT):
        action: sql.Composable = sql.SQL("NOTHING")
        if op is Operation.UPSERT and others:
            excluded = assign(lambda c: sql.SQL("EXCLUDED.{}").format(sql.Identifier(c)))
            action = sql.SQL("UPDATE SET {}").format(excluded)
            if compare:
                changed = _differs(others, types, skip_nulls)
                action = sql.SQL("{} WHERE {}").format(action, changed)
        return sql.SQL("{} ON CONFLICT ({}) DO {}").format(staged, key, action), staged
    match = sql.SQL("tgt.{k} = {v}").format(k=key, v=cast(key_name))
    if op is Operation.UPDATE and not others:  # nothing to set: just report what exists
        found = sql.SQL("{q} s.{o} FROM {s} AS s JOIN {t} AS tgt ON {m} WHERE {w}")
        query = sql.SQL("PERFORM" if loop else "SELECT")
        return found.format(q=query, o=ord_, s=stage, t=target, m=match, w=where), None
    if op is Operation.UPDATE:
        update = sql.SQL("UPDATE {t} AS tgt SET {a} FROM {s} AS s WHERE {m} AND {w}{r}")
        returning = sql.SQL("" if loop else " RETURNING s.{}").format(ord_)
        return update.format(t=target, a=assign(cast), s=stage, m=match, w=where, r=returning), None
    if op is Operation.DELETE:
        delete = sql.SQL("DELETE FROM {t} AS tgt USING {s} AS s WHERE {m} AND {w}")
        return delete.format(t=target, s=stage, m=match, w=where), None
    raise DestinationError(f"unsupported operation {op!r}")
