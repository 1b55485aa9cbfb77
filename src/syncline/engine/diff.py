"""The diff: classify model rows against the snapshot, vectorised in DuckDB over Arrow.

Rows become ``added``, ``changed``, ``unchanged`` or are rejected (``null_primary_key``,
``duplicate_primary_key``, ``invalid_value``); snapshot keys absent from the model are
``removed``. Nothing here talks to a store or a destination: it is pure computation over the
tables it is handed, on a DuckDB connection that spills to disk past its memory limit.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from syncline.engine.batching import exact_batches
from syncline.engine.mapping import CompiledMapping, quote_ident
from syncline.engine.snapshot.replay import fold_segments
from syncline.engine.snapshot.types import SNAPSHOT_SCHEMA, Segment

# A fixed tuple hashed by every run. Stored with each snapshot segment: if DuckDB's hash ever
# changes (a new version), old hashes are recognised as incomparable and rows are resent once
# rather than wrongly judged unchanged.
HASH_PROBE_SQL = (
    "SELECT hash('syncline-probe-v1', CAST(42 AS BIGINT), CAST(1.5 AS DOUBLE), TRUE, "
    "DATE '2024-01-01', TIMESTAMPTZ '2024-01-01 00:00:00+00', CAST(NULL AS VARCHAR))"
)

SENDABLE = ("added", "changed")
REJECT_REASONS = {
    "null_primary_key": "the primary key is NULL",
    "duplicate_primary_key": "the primary key appears more than once in the model",
}


@dataclass
class DiffCounts:
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    removed: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    model_rows: int = 0
    snapshot_rows: int = 0

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def of_classes(self, classes: Iterable[str]) -> int:
        """Rows planned in ``classes`` (``added``, ``changed``, ``removed``)."""
        return sum(int(getattr(self, c, 0)) for c in classes)

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "rejected": dict(self.rejected),
            "model_rows": self.model_rows,
            "snapshot_rows": self.snapshot_rows,
        }


#: What a run's DuckDB may hold before it spills (``settings.run_memory_mb``); a 10M-row diff
#: fits, at 1,300 MB its join spilled and took 1.6x as long (docs/benchmarks.md).
DEFAULT_RUN_MEMORY_MB = 2048


def open_duckdb(
    *, temp_dir: str | None, memory_mb: int = DEFAULT_RUN_MEMORY_MB, threads: int = 2
) -> Any:
    """A private in-memory DuckDB that spills to ``temp_dir`` instead of growing unbounded."""
    con = duckdb.connect(":memory:")
    con.execute(f"SET memory_limit = '{int(memory_mb)}MB'")
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    if temp_dir:
        con.execute(f"SET temp_directory = '{temp_dir}'")
    return con


def hash_probe(con: Any) -> str:
    return str(con.execute(HASH_PROBE_SQL).fetchall()[0][0])


def release_arrow_memory() -> None:
    """Return the pages Arrow's pool kept from freed batches (~240 MB after staging 10M rows,
    otherwise resident through the join that follows; docs/benchmarks.md)."""
    pa.default_memory_pool().release_unused()


class HiddenDuplicates(Exception):
    """A streamed diff cannot say which rows share a key: stage the whole model instead."""


def cast_to(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches in ``schema`` (a source may type a later batch apart from the first)."""
    return (b if b.schema == schema else b.cast(schema) for b in batches)


class Differ:
    """One run's diff state on a DuckDB connection: ``model``, ``snap``, ``plan`` tables."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.probe = hash_probe(con)
        self.counts = DiffCounts()
        self._snapshot_arrow: pa.Table | None = None
        self.partial = False  # ``stream.stream_model`` kept only the rows not unchanged

    # -- inputs --------------------------------------------------------------------------

    def stage_model(
        self,
        batches: Iterable[pa.RecordBatch],
        *,
        columns: list[str] | Callable[[], list[str]],
    ) -> int:
        """Stream the model into the ``model`` table; Arrow batches never become Python rows.
        ``columns`` names the columns of an empty model (a callable is asked only then)."""
        it = iter(batches)
        first = next(it, None)
        if first is None:
            names = columns() if callable(columns) else columns
            cols = ", ".join(f"{quote_ident(c)} VARCHAR" for c in names)
            self.con.execute(f"CREATE OR REPLACE TABLE model ({cols})")
        else:
            batches = cast_to(first.schema, itertools.chain([first], it))
            reader = pa.RecordBatchReader.from_batches(first.schema, batches)
            self.con.register("__model_stream", reader)
            self.con.execute("CREATE OR REPLACE TABLE model AS SELECT * FROM __model_stream")
            self.con.unregister("__model_stream")
        self.counts.model_rows = self._count("model")
        release_arrow_memory()
        return self.counts.model_rows

    def model_columns(self) -> list[str]:
        return [r[0] for r in self.con.execute("DESCRIBE model").fetchall()]

    def _drop_snap(self) -> None:
        kinds = self.con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = 'snap'"
        ).fetchall()
        for (kind,) in kinds:
            self.con.execute("DROP VIEW snap" if kind == "VIEW" else "DROP TABLE snap")

    def replace_snap(self, table: str) -> None:
        """Make ``table`` (a part of the snapshot) the ``snap`` the diff reads."""
        self._drop_snap()
        self.con.execute(f"ALTER TABLE {table} RENAME TO snap")
        if self._snapshot_arrow is not None:
            self.con.unregister("__snapshot")
            self._snapshot_arrow = None

    def load_snapshot(self, segments: list[Segment]) -> int:
        """Replay base + deltas into ``snap(pk, row_hash)``; incomparable hashes become NULL."""
        self._drop_snap()
        if not segments:
            self.con.execute("CREATE OR REPLACE TABLE snap (pk VARCHAR, row_hash UBIGINT)")
            self.counts.snapshot_rows = 0
            return 0
        tables = []
        for seg in segments:
            meta = seg.table.schema.metadata or {}
            t = seg.table.replace_schema_metadata(None)
            if meta.get(b"hash_probe", b"").decode() != self.probe:
                t = t.set_column(1, "row_hash", pa.nulls(t.num_rows, pa.uint64()))
            tables.append(t)
        if len(tables) == 1:
            # The common case (a compacted base): scan the Arrow table in place, no copy.
            self._snapshot_arrow = tables[0]
            self.con.register("__snapshot", self._snapshot_arrow)
            self.con.execute(
                "CREATE OR REPLACE VIEW snap AS SELECT pk, row_hash FROM __snapshot "
                "WHERE NOT deleted"
            )
        else:
            fold_segments(self.con, tables, [seg.seq for seg in segments], into="snap")
        self.counts.snapshot_rows = self._count("snap")
        release_arrow_memory()
        return self.counts.snapshot_rows

    def count_removed(self, primary_key: str) -> int:
        """Snapshot keys absent from the whole model (the mirror delete guard needs the
        whole-model figure even when this execution only loads one shard)."""
        pk = quote_ident(primary_key)
        row = self.con.execute(
            f"SELECT count(*) FROM snap s WHERE NOT EXISTS "
            f"(SELECT 1 FROM model m WHERE CAST(m.{pk} AS VARCHAR) = s.pk)"
        ).fetchall()
        return int(row[0][0])

    def restrict_to_shard(self, primary_key: str, index: int, count: int) -> None:
        """Keep only the keys of shard ``index`` of ``count`` in the model and the snapshot.

        The shard of a key is the MD5 of its text modulo ``count``: portable across DuckDB
        versions, so workers on different machines agree on it. Duplicate keys stay together;
        NULL keys go to shard 0, which rejects them once.
        """

        def shard_of(col: str) -> str:
            return f"coalesce(md5_number_lower(CAST({col} AS VARCHAR)) % {int(count)}, 0)"

        self.con.execute(
            f"DELETE FROM model WHERE {shard_of(quote_ident(primary_key))} <> ?", [index]
        )
        self.con.execute(
            f"CREATE OR REPLACE TABLE snap_shard AS SELECT pk, row_hash FROM snap "
            f"WHERE {shard_of('pk')} = ?",
            [index],
        )
        self.replace_snap("snap_shard")
        self.counts.model_rows = self._count("model")
        self.counts.snapshot_rows = self._count("snap")

    def _count(self, table: str) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])

    # -- classification ------------------------------------------------------------------

    def classify(
        self,
        mapping: CompiledMapping,
        *,
        primary_key: str,
        full: bool = False,
        hwm_column: str | None = None,
        hwm_after: Any = None,
    ) -> DiffCounts:
        """Build ``plan(__row, __pk, __hash, __error, __class)`` and count each class.

        Only rows that need action are materialised (unchanged rows are counted, not kept):
        one FULL OUTER JOIN of the hashed model with the snapshot does the work. Duplicate
        keys are found among the few unmatched rows directly; among matched rows a count
        identity (snapshot keys are unique) tells whether any exist, and only then does an
        exact pass over the model run. With ``full`` every valid row is sent.

        With a high-water mark (``hwm_column``, append mode) the mark, not the key diff, says
        what is new (seed 001): every row past ``hwm_after`` (every row while there is no
        mark) is ``added``, whatever the snapshot holds for its key. A key twice among them
        is still rejected: one run cannot tell which of the two is the record.
        """
        pk = quote_ident(primary_key)
        where, params = "", []
        if hwm_column is not None and hwm_after is not None:
            where = f"WHERE {quote_ident(hwm_column)} > ?"
            params.append(hwm_after)
        keyed = (
            f"(SELECT rowid AS __row, CAST({pk} AS VARCHAR) AS __pk, "
            f"{mapping.hash_sql} AS __hash, {mapping.error_sql} AS __error FROM model {where})"
        )
        by_mark = hwm_column is not None
        if by_mark:
            self.con.execute(
                f"""CREATE OR REPLACE TABLE plan AS
                SELECT k.__row, k.__pk, k.__hash, k.__error,
                  CASE WHEN k.__pk IS NULL THEN 'null_primary_key' ELSE 'added' END AS __class
                FROM {keyed} k""",
                params,
            )
        else:
            changed_test = "TRUE" if full else "s.row_hash IS DISTINCT FROM k.__hash"
            self.con.execute(
                f"""CREATE OR REPLACE TABLE plan AS SELECT * FROM (
                  SELECT k.__row, coalesce(k.__pk, s.pk) AS __pk, k.__hash, k.__error,
                    CASE WHEN k.__row IS NULL THEN 'removed'
                         WHEN k.__pk IS NULL THEN 'null_primary_key'
                         WHEN s.pk IS NULL THEN 'added'
                         WHEN {changed_test} THEN 'changed'
                         ELSE 'unchanged' END AS __class
                  FROM {keyed} k FULL OUTER JOIN snap s ON s.pk = k.__pk
                ) WHERE __class <> 'unchanged'"""
            )
        first = dict(self._class_counts())
        candidates = (
            self.counts.model_rows
            if not where
            else int(
                self.con.execute(f"SELECT count(*) FROM model {where}", params).fetchall()[0][0]
            )
        )
        matched = candidates - first.get("null_primary_key", 0) - first.get("added", 0)
        distinct_matched = self.counts.snapshot_rows - first.get("removed", 0)
        if not by_mark and matched > distinct_matched:
            if self.partial:
                raise HiddenDuplicates("duplicate keys among the rows left out as unchanged")
            self._exact_duplicates(keyed, params)
        else:
            # Unmatched keys can only collide with each other: a small GROUP BY on the plan.
            self.con.execute(
                """UPDATE plan SET __class = 'duplicate_primary_key'
                WHERE __class = 'added' AND __pk IN (
                    SELECT __pk FROM plan WHERE __class = 'added'
                    GROUP BY __pk HAVING count(*) > 1)"""
            )
        self.con.execute(
            """UPDATE plan SET __class = 'invalid_value'
            WHERE __class IN ('added', 'changed') AND __error IS NOT NULL"""
        )
        counts = dict(self._class_counts())
        c = self.counts
        c.added = counts.pop("added", 0)
        c.changed = counts.pop("changed", 0)
        c.removed = counts.pop("removed", 0)
        c.rejected = counts
        c.unchanged = candidates - c.added - c.changed - c.rejected_total
        return c

    def _class_counts(self) -> list[tuple[str, int]]:
        return [
            (str(k), int(v))
            for k, v in self.con.execute("SELECT __class, count(*) FROM plan GROUP BY 1").fetchall()
        ]

    def _exact_duplicates(self, keyed: str, params: list[Any]) -> None:
        """Move every row of every duplicated key into the plan as rejected."""
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE dupkeys AS SELECT __pk FROM {keyed} k
            WHERE __pk IS NOT NULL GROUP BY __pk HAVING count(*) > 1""",
            params,
        )
        if not self.con.execute("SELECT count(*) FROM dupkeys").fetchall()[0][0]:
            return
        self.con.execute(
            "DELETE FROM plan WHERE __class <> 'removed' AND __pk IN (SELECT __pk FROM dupkeys)"
        )
        self.con.execute(
            f"""INSERT INTO plan SELECT k.__row, k.__pk, k.__hash, k.__error,
                'duplicate_primary_key' FROM {keyed} k SEMI JOIN dupkeys d ON d.__pk = k.__pk""",
            params,
        )

    # -- outputs -------------------------------------------------------------------------

    def send_batches(
        self, mapping: CompiledMapping, classes: tuple[str, ...], batch_rows: int
    ) -> Iterator[tuple[pa.Table, list[str], pa.Array]]:
        """Mapped records to send, as (records, keys, hashes) per batch of ``batch_rows``."""
        select = ", ".join(
            f"{f.value_sql} AS {quote_ident(f.destination_field)}" for f in mapping.fields
        )
        in_list = ", ".join(f"'{c}'" for c in classes)
        reader = self.con.sql(
            f"""SELECT p.__pk AS __pk, p.__hash AS __hash, {select}
            FROM plan p JOIN model m ON m.rowid = p.__row
            WHERE p.__class IN ({in_list})"""
        ).to_arrow_reader(batch_rows)
        for table in exact_batches(reader, batch_rows):
            keys = table.column("__pk").to_pylist()
            hashes = table.column("__hash").combine_chunks()
            yield table.drop_columns(["__pk", "__hash"]), keys, hashes

    def removed_batches(self, batch_rows: int) -> Iterator[list[str]]:
        reader = self.con.sql("SELECT __pk FROM plan WHERE __class = 'removed'").to_arrow_reader(
            batch_rows
        )
        for table in exact_batches(reader, batch_rows):
            yield table.column(0).to_pylist()

    def rejected_rows(
        self, mapping: CompiledMapping, batch_rows: int = 5000
    ) -> Iterator[list[tuple[str | None, str, str, dict[str, Any]]]]:
        """Rejected model rows as (pk, error_class, message, payload) lists."""
        select = ", ".join(
            f"{quote_ident(f.source_column)} AS {quote_ident(f.destination_field)}"
            if f.source_column
            else f"{f.value_sql} AS {quote_ident(f.destination_field)}"
            for f in mapping.fields
        )
        reader = self.con.sql(
            f"""SELECT p.__pk AS __pk, p.__class AS __class, p.__error AS __error, {select}
            FROM plan p JOIN model m ON m.rowid = p.__row
            WHERE p.__class NOT IN ('added', 'changed', 'removed')"""
        ).to_arrow_reader(batch_rows)
        for batch in reader:
            out = []
            for row in batch.to_pylist():
                pk = row.pop("__pk")
                cls = row.pop("__class")
                err = row.pop("__error")
                out.append((pk, cls, err or REJECT_REASONS.get(cls, cls), row))
            yield out

    def merged_snapshot(self, segments: list[Segment]) -> pa.Table:
        """The snapshot folded into one base table (for compaction)."""
        before = self.counts.snapshot_rows
        self.load_snapshot(segments)
        self.counts.snapshot_rows = before
        t = self.con.sql("SELECT pk, row_hash, FALSE AS deleted FROM snap").to_arrow_table()
        return t.cast(SNAPSHOT_SCHEMA).replace_schema_metadata({"hash_probe": self.probe})

    def close(self) -> None:
        self.con.close()
