"""The diff classifies rows exactly, rejects bad keys and values, and hashes stably."""

from __future__ import annotations

import subprocess
import sys

import pyarrow as pa
import pytest

from syncline.domain.mapping import FieldMapping
from syncline.engine.diff import Differ, open_duckdb
from syncline.engine.mapping import MappingError, compile_mapping
from syncline.engine.snapshot import Segment, delta_table


def _differ() -> Differ:
    return Differ(open_duckdb(temp_dir=None, memory_mb=256))


def _mapping(cols: list[str], pk: str = "id", **casts: str) -> object:
    ms = [
        FieldMapping(source_column=c, destination_field=c.upper(), type_cast=casts.get(c))
        for c in cols
    ]
    return compile_mapping(ms, primary_key=pk, model_columns=["id", *cols])


def _snapshot_from(d: Differ, mapping: object) -> list[Segment]:
    """What the snapshot would be had every sendable row been acknowledged."""
    rows = d.con.sql(
        "SELECT __pk, __hash FROM plan WHERE __class IN ('added','changed','unchanged')"
    ).to_arrow_table()
    t = delta_table(rows.column(0).to_pylist(), rows.column(1), [])
    return [Segment(1, "base", t.replace_schema_metadata({"hash_probe": d.probe}))]


def _stage(d: Differ, table: pa.Table) -> None:
    d.stage_model(table.to_batches(max_chunksize=3), columns=table.column_names)


def test_classifies_added_changed_unchanged_removed() -> None:
    m = _mapping(["email", "score"])
    d = _differ()
    _stage(d, pa.table({"id": [1, 2, 3, 4], "email": ["a", "b", "c", "d"], "score": [1, 2, 3, 4]}))
    d.load_snapshot([])
    c = d.classify(m, primary_key="id")
    assert (c.added, c.changed, c.unchanged, c.removed) == (4, 0, 0, 0)
    snap = _snapshot_from(d, m)

    d2 = _differ()
    _stage(d2, pa.table({"id": [1, 2, 3, 5], "email": ["a", "B", "c", "e"], "score": [1, 2, 3, 5]}))
    d2.load_snapshot(snap)
    c2 = d2.classify(m, primary_key="id")
    assert (c2.added, c2.changed, c2.unchanged, c2.removed) == (1, 1, 2, 1)
    assert [k for k in d2.removed_batches(10)] == [["4"]]
    sent = {k for _, keys, _ in d2.send_batches(m, ("added", "changed"), 10) for k in keys}
    assert sent == {"2", "5"}


def test_null_and_duplicate_keys_are_rejected_not_dropped() -> None:
    m = _mapping(["email"])
    d = _differ()
    _stage(d, pa.table({"id": [1, None, 2, 2, 3], "email": ["a", "n", "x", "y", "c"]}))
    d.load_snapshot([])
    c = d.classify(m, primary_key="id")
    assert c.added == 2
    assert c.rejected == {"null_primary_key": 1, "duplicate_primary_key": 2}
    rejected = [r for chunk in d.rejected_rows(m) for r in chunk]
    assert sorted((r[0], r[1]) for r in rejected if r[0]) == [
        ("2", "duplicate_primary_key"),
        ("2", "duplicate_primary_key"),
    ]
    assert {r[3]["EMAIL"] for r in rejected} == {"n", "x", "y"}


def test_duplicated_key_is_never_removed() -> None:
    m = _mapping(["email"])
    d = _differ()
    _stage(d, pa.table({"id": [1, 2], "email": ["a", "b"]}))
    d.load_snapshot([])
    d.classify(m, primary_key="id")
    snap = _snapshot_from(d, m)
    d2 = _differ()
    _stage(d2, pa.table({"id": [1, 2, 2], "email": ["a", "b", "c"]}))
    d2.load_snapshot(snap)
    c = d2.classify(m, primary_key="id")
    assert c.removed == 0 and c.rejected == {"duplicate_primary_key": 2}


def test_uncastable_value_rejects_the_row_with_column_and_value() -> None:
    m = _mapping(["revenue"], revenue="number")
    d = _differ()
    _stage(d, pa.table({"id": [1, 2, 3], "revenue": ["10.5", "abc", None]}))
    d.load_snapshot([])
    c = d.classify(m, primary_key="id")
    assert c.added == 2 and c.rejected == {"invalid_value": 1}
    (row,) = [r for chunk in d.rejected_rows(m) for r in chunk]
    assert row[0] == "2" and "revenue" in row[2] and "'abc'" in row[2] and "number" in row[2]
    records = pa.concat_tables([t for t, _, _ in d.send_batches(m, ("added",), 10)])
    assert sorted(records.column("REVENUE").to_pylist(), key=str) == [10.5, None]


def test_mapping_change_resends_rows() -> None:
    m1 = _mapping(["email"])
    d = _differ()
    _stage(d, pa.table({"id": [1, 2], "email": ["a", "b"], "name": ["x", "y"]}))
    d.load_snapshot([])
    d.classify(m1, primary_key="id")
    snap = _snapshot_from(d, m1)
    ms = [FieldMapping(source_column="email", destination_field="Mail")]
    m2 = compile_mapping(ms, primary_key="id", model_columns=["id", "email", "name"])
    d2 = _differ()
    _stage(d2, pa.table({"id": [1, 2], "email": ["a", "b"], "name": ["x", "y"]}))
    d2.load_snapshot(snap)
    assert d2.classify(m2, primary_key="id").changed == 2


def test_unmapped_column_change_is_not_a_change() -> None:
    m = _mapping(["email"])
    d = _differ()
    _stage(d, pa.table({"id": [1], "email": ["a"], "name": ["x"]}))
    d.load_snapshot([])
    d.classify(m, primary_key="id")
    snap = _snapshot_from(d, m)
    d2 = _differ()
    _stage(d2, pa.table({"id": [1], "email": ["a"], "name": ["CHANGED"]}))
    d2.load_snapshot(snap)
    assert d2.classify(m, primary_key="id").unchanged == 1


def test_full_mode_sends_everything() -> None:
    m = _mapping(["email"])
    d = _differ()
    _stage(d, pa.table({"id": [1, 2], "email": ["a", "b"]}))
    d.load_snapshot([])
    d.classify(m, primary_key="id")
    snap = _snapshot_from(d, m)
    d2 = _differ()
    _stage(d2, pa.table({"id": [1, 2, 3], "email": ["a", "b", "c"]}))
    d2.load_snapshot(snap)
    c = d2.classify(m, primary_key="id", full=True)
    assert (c.added, c.changed, c.unchanged) == (1, 2, 0)


def test_deltas_replay_last_writer_wins_and_deletes() -> None:
    d = _differ()
    probe = {"hash_probe": d.probe}
    base = delta_table(["1", "2", "3"], [10, 20, 30], []).replace_schema_metadata(probe)
    d1 = delta_table(["2"], [21], ["3"]).replace_schema_metadata(probe)
    d2 = delta_table(["3"], [31], []).replace_schema_metadata(probe)
    segs = [Segment(1, "base", base), Segment(2, "delta", d1), Segment(3, "delta", d2)]
    assert d.load_snapshot(segs) == 3
    rows = dict(d.con.sql("SELECT pk, row_hash FROM snap").fetchall())
    assert rows == {"1": 10, "2": 21, "3": 31}
    merged = d.merged_snapshot(segs)
    assert merged.num_rows == 3


def test_incomparable_hash_probe_forces_resend() -> None:
    m = _mapping(["email"])
    d = _differ()
    _stage(d, pa.table({"id": [1], "email": ["a"]}))
    d.load_snapshot([])
    d.classify(m, primary_key="id")
    (seg,) = _snapshot_from(d, m)
    old = Segment(1, "base", seg.table.replace_schema_metadata({"hash_probe": "other-version"}))
    d2 = _differ()
    _stage(d2, pa.table({"id": [1], "email": ["a"]}))
    d2.load_snapshot([old])
    assert d2.classify(m, primary_key="id").changed == 1


def test_hash_is_stable_across_processes() -> None:
    code = (
        "import pyarrow as pa\n"
        "from syncline.domain.mapping import FieldMapping\n"
        "from syncline.engine.diff import Differ, open_duckdb\n"
        "from syncline.engine.mapping import compile_mapping\n"
        "d = Differ(open_duckdb(temp_dir=None))\n"
        "d.stage_model(pa.table({'id': [1, 2], 'e': ['a', None], 't': [1.5, 2.0]}).to_batches(),"
        " columns=['id','e','t'])\n"
        "m = compile_mapping([FieldMapping(source_column='e', destination_field='E'),"
        " FieldMapping(source_column='t', destination_field='T')], primary_key='id',"
        " model_columns=['id','e','t'])\n"
        "d.load_snapshot([]); d.classify(m, primary_key='id')\n"
        "print(sorted(d.con.sql('SELECT __pk, __hash FROM plan').fetchall()))\n"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(outs) == 1 and "'1'" in outs.pop()


def test_mapping_errors() -> None:
    with pytest.raises(MappingError, match="primary key"):
        compile_mapping(
            [FieldMapping(source_column="a", destination_field="A")],
            primary_key="nope",
            model_columns=["a"],
        )
    with pytest.raises(MappingError, match="not in the model"):
        compile_mapping(
            [FieldMapping(source_column="zz", destination_field="A")],
            primary_key="a",
            model_columns=["a"],
        )
    with pytest.raises(MappingError, match="twice"):
        compile_mapping(
            [
                FieldMapping(source_column="a", destination_field="A"),
                FieldMapping(constant_value=1, destination_field="A"),
            ],
            primary_key="a",
            model_columns=["a"],
        )


def test_constants_and_unmapped_key_are_sent() -> None:
    ms = [
        FieldMapping(source_column="email", destination_field="Email"),
        FieldMapping(constant_value="web", destination_field="Source"),
    ]
    m = compile_mapping(ms, primary_key="id", model_columns=["id", "email"])
    assert m.key_field == "id"
    d = _differ()
    _stage(d, pa.table({"id": [7], "email": ["a@x"]}))
    d.load_snapshot([])
    d.classify(m, primary_key="id")
    ((t, keys, _),) = list(d.send_batches(m, ("added",), 10))
    assert t.to_pylist() == [{"id": 7, "Email": "a@x", "Source": "web"}] and keys == ["7"]


def test_empty_model_uses_declared_columns() -> None:
    d = _differ()
    assert d.stage_model(iter([]), columns=["id", "email"]) == 0
    assert d.model_columns() == ["id", "email"]


def test_high_water_mark_limits_candidates_and_still_rejects_duplicates() -> None:
    m = _mapping(["email"])
    d = _differ()
    _stage(d, pa.table({"id": [1, 2, 3, 3], "email": ["a", "b", "c", "d"], "ts": [1, 5, 6, 7]}))
    d.load_snapshot([])
    c = d.classify(m, primary_key="id", hwm_column="ts", hwm_after=4)
    assert c.added == 1 and c.rejected == {"duplicate_primary_key": 2} and c.removed == 0


def test_duplicates_among_matched_unchanged_rows_are_found() -> None:
    m = _mapping(["email"])
    d = _differ()
    _stage(d, pa.table({"id": [1, 2, 3], "email": ["a", "b", "c"]}))
    d.load_snapshot([])
    d.classify(m, primary_key="id")
    snap = _snapshot_from(d, m)
    d2 = _differ()
    # key 2 now twice, both identical to the snapshot: both rows would be "unchanged".
    _stage(d2, pa.table({"id": [1, 2, 2, 3], "email": ["a", "b", "b", "c"]}))
    d2.load_snapshot(snap)
    c = d2.classify(m, primary_key="id")
    assert c.rejected == {"duplicate_primary_key": 2}
    assert (c.unchanged, c.removed) == (2, 0)
