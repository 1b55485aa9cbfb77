"""The streamed diff (``stream.stream_model``) classifies exactly like staging the whole model.

Each case runs both paths on the same model and snapshot and compares the counts, the plan,
the records that would be sent and the rejected rows; through the engine, the streamed path
(the default) is compared with the staged one (forced by making the streamed one give up).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from syncline.connectors.base import SourceError
from syncline.domain.enums import Operation, ResultClass, RunStatus
from syncline.domain.mapping import FieldMapping
from syncline.engine import extract
from syncline.engine.diff import Differ, HiddenDuplicates, open_duckdb
from syncline.engine.mapping import CompiledMapping, MappingError, compile_mapping
from syncline.engine.snapshot import Segment, delta_table
from syncline.engine.stream import stream_model
from syncline.engine.watch import StopWatcher
from tests.engine.fakes import Bench, FakeSource


def _mapping(cols: list[str], **casts: str) -> CompiledMapping:
    ms = [
        FieldMapping(source_column=c, destination_field=c.upper(), type_cast=casts.get(c))
        for c in cols
    ]
    return compile_mapping(ms, primary_key="id", model_columns=cols)


def _differ() -> Differ:
    return Differ(open_duckdb(temp_dir=None, memory_mb=256))


def _snapshot(rows: list[dict[str, Any]], mapping: CompiledMapping) -> list[Segment]:
    """The snapshot a full, acknowledged run of ``rows`` leaves (``rows`` keys unique)."""
    d = _differ()
    table = pa.Table.from_pylist(rows)
    d.stage_model(table.to_batches(max_chunksize=2), columns=table.column_names)
    d.load_snapshot([])
    d.classify(mapping, primary_key="id")
    got = d.con.sql("SELECT __pk, __hash FROM plan WHERE __class = 'added'").to_arrow_table()
    t = delta_table(got.column(0).to_pylist(), got.column(1), [])
    return [Segment(1, "base", t.replace_schema_metadata({"hash_probe": d.probe}))]


def _outcome(d: Differ, m: CompiledMapping) -> dict[str, Any]:
    plan = sorted(
        (str(r[0]), r[1], r[2], r[3])
        for r in d.con.execute("SELECT __pk, __hash, __error, __class FROM plan").fetchall()
    )
    sent = sorted(
        (k, tuple(sorted(rec.items())))
        for records, keys, _ in d.send_batches(m, ("added", "changed"), 3)
        for k, rec in zip(keys, records.to_pylist(), strict=True)
    )
    rejected = sorted(
        (str(pk), cls, msg, tuple(sorted(p.items())))
        for chunk in d.rejected_rows(m, 3)
        for pk, cls, msg, p in chunk
    )
    removed = sorted(k for keys in d.removed_batches(3) for k in keys)
    return {
        "counts": d.counts.as_dict(),
        "plan": plan,
        "sent": sent,
        "rejected": rejected,
        "removed": removed,
    }


def _batches(rows: list[dict[str, Any]], schema: pa.Schema | None) -> list[pa.RecordBatch]:
    table = pa.Table.from_pylist(rows, schema=schema)
    return table.to_batches(max_chunksize=2)


def _both(
    rows: list[dict[str, Any]],
    snapshot: list[Segment],
    m: CompiledMapping,
    schema: pa.Schema | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    staged = _differ()
    staged.stage_model(_batches(rows, schema), columns=[])
    staged.load_snapshot(snapshot)
    staged.classify(m, primary_key="id")
    streamed = _differ()
    streamed.load_snapshot(snapshot)
    first, *rest = _batches(rows, schema)
    stream_model(streamed, first, iter(rest), m, primary_key="id")
    streamed.classify(m, primary_key="id")
    return _outcome(staged, m), _outcome(streamed, m)


BASE = [{"id": i, "email": f"u{i}@x", "n": i} for i in range(1, 9)]
COLS = ["id", "email", "n"]


def _changed(**by_id: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**r, **by_id.get(f"r{r['id']}", {})} for r in BASE]


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(BASE, id="unchanged"),
        pytest.param(_changed(r2={"email": "new"}, r5={"n": 50}), id="changed"),
        pytest.param(
            [r for r in BASE if r["id"] not in (3, 4)] + [{"id": 20, "email": "e", "n": 1}],
            id="added-and-removed",
        ),
        pytest.param(BASE + [{"id": None, "email": "nokey", "n": 0}] * 2, id="null-keys"),
        pytest.param(
            [*BASE, {"id": 30, "email": "a", "n": 1}, {"id": 30, "email": "b", "n": 2}],
            id="duplicates-among-added",
        ),
        pytest.param([{"id": 40 + i, "email": "x", "n": i} for i in range(3)], id="all-removed"),
    ],
)
def test_streamed_equals_staged(rows: list[dict[str, Any]]) -> None:
    m = _mapping(COLS)
    staged, streamed = _both(rows, _snapshot(BASE, m), m)
    assert streamed == staged


def test_invalid_values_are_rejected_alike() -> None:
    m = _mapping(COLS, email="integer")
    base = [{"id": i, "email": str(i), "n": i} for i in range(1, 6)]
    rows = [dict(r) for r in base]
    rows[1]["email"] = "not a number"  # changed and invalid
    rows.append({"id": 9, "email": "also bad", "n": 9})  # added and invalid
    staged, streamed = _both(rows, _snapshot(base, m), m)
    assert streamed == staged
    assert streamed["counts"]["rejected"] == {"invalid_value": 2}


def test_a_column_whose_type_changed_since_the_last_run_is_changed_alike() -> None:
    m = _mapping(COLS)
    snapshot = _snapshot(BASE, m)
    as_text = [{**r, "n": str(r["n"])} for r in BASE]
    staged, streamed = _both(as_text, snapshot, m)
    assert streamed == staged
    assert streamed["counts"]["changed"] == len(BASE)


def test_a_later_batch_typed_apart_is_cast_to_the_first_batch_schema() -> None:
    m = _mapping(COLS)
    snapshot = _snapshot(BASE, m)
    first = pa.Table.from_pylist(BASE[:2]).to_batches()[0]
    later = pa.Table.from_pylist(
        BASE[2:], schema=pa.schema([("id", pa.int32()), ("email", pa.string()), ("n", pa.int32())])
    ).to_batches()
    staged = _differ()
    staged.stage_model([first, *later], columns=[])
    staged.load_snapshot(snapshot)
    staged.classify(m, primary_key="id")
    streamed = _differ()
    streamed.load_snapshot(snapshot)
    stream_model(streamed, first, iter(later), m, primary_key="id")
    streamed.classify(m, primary_key="id")
    assert _outcome(streamed, m) == _outcome(staged, m)
    assert streamed.counts.unchanged == len(BASE)


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param([BASE[2]], id="an-unchanged-copy"),
        pytest.param([{**BASE[2], "n": 99}], id="a-changed-copy"),
    ],
)
def test_a_key_repeated_among_matched_rows_makes_the_streamed_diff_give_up(
    extra: list[dict[str, Any]],
) -> None:
    """The copies judged unchanged were not kept: only the whole model can say which rows
    share the key, so classify refuses rather than miscount."""
    m = _mapping(COLS)
    d = _differ()
    d.load_snapshot(_snapshot(BASE, m))
    first, *rest = _batches(BASE + extra, None)
    stream_model(d, first, iter(rest), m, primary_key="id")
    with pytest.raises(HiddenDuplicates):
        d.classify(m, primary_key="id")


# -- through the engine ---------------------------------------------------------------------


class BatchSource(FakeSource):
    """Serves rows in batches of two, counting the batches handed out; ``fail_after``
    raises a retryable SourceError after that many batches, once."""

    def __init__(self, rows: list[dict[str, Any]], log: dict[str, int]) -> None:
        super().__init__(rows)
        self.log = log

    def read(self, sql: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]:
        self.log["reads"] += 1
        if not self.rows:
            return
        for batch in pa.Table.from_pylist(self.rows).to_batches(max_chunksize=2):
            if self.log.get("fail_after") == self.log["batches"]:
                del self.log["fail_after"]
                raise SourceError("connection terminated", retryable=True)
            self.log["batches"] += 1
            yield batch


def _bench(tmp_path: Path, mode: str = "mirror") -> tuple[Bench, dict[str, int]]:
    b = Bench(tmp_path, mode=mode)
    log = {"reads": 0, "batches": 0}
    b._sources = lambda type_name, config: BatchSource(b.rows, log)  # type: ignore[method-assign]
    return b, log


def _staged_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def give_up(*args: Any, **kwargs: Any) -> Any:
        raise HiddenDuplicates("forced")

    monkeypatch.setattr(extract, "_prepare_streamed", give_up)


def _second_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, staged: bool, change: Any
) -> tuple[Any, Bench, dict[str, int]]:
    b, log = _bench(tmp_path)
    first, _ = b.run()
    assert first.status == RunStatus.COMPLETED
    change(b)
    with monkeypatch.context() as mp:
        if staged:
            _staged_only(mp)
        log.update(reads=0, batches=0)
        outcome, _ = b.run()
    return outcome, b, log


def _view(outcome: Any, b: Bench) -> dict[str, Any]:
    return {
        "status": outcome.status,
        "summary": {
            k: v
            for k, v in (outcome.summary or {}).items()
            if k in ("added", "changed", "unchanged", "removed", "rejected", "model_rows")
        },
        "synced": outcome.rows_synced,
        "held": b.destination.held,
        "writes": sorted((op.value, k) for op, keys in b.destination.writes for k in keys),
        "rejects": sorted((str(r[0][0]), r[0][2]) for r in b.sink.rows),
    }


def _dup_unchanged(b: Bench) -> None:
    b.rows.append(dict(b.rows[2]))  # key 3 twice, both copies as the snapshot holds them


def _null_keys_and_changes(b: Bench) -> None:
    b.rows[0]["email"] = "changed@x.test"
    b.rows.append({"id": None, "email": "nokey", "n": 0})
    b.rows.append({"id": 11, "email": "new@x.test", "n": 11})
    del b.rows[4]


def _empty(b: Bench) -> None:
    b.rows.clear()


def _type_change(b: Bench) -> None:
    for r in b.rows:
        r["n"] = str(r["n"])


@pytest.mark.parametrize(
    "change",
    [_dup_unchanged, _null_keys_and_changes, _empty, _type_change, lambda b: None],
    ids=["duplicate-hidden-among-unchanged", "null-keys-and-changes", "empty", "type", "same"],
)
def test_a_run_ends_the_same_streamed_or_staged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: Any
) -> None:
    outcomes = []
    for staged in (False, True):
        outcome, b, _ = _second_run(tmp_path / str(staged), monkeypatch, staged, change)
        outcomes.append(_view(outcome, b))
    assert outcomes[0] == outcomes[1]


def test_a_duplicate_hidden_among_unchanged_rows_is_rejected_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, b, log = _second_run(tmp_path, monkeypatch, False, _dup_unchanged)
    assert outcome.result_class == ResultClass.PARTIAL
    assert sorted((str(r[0][0]), r[0][2]) for r in b.sink.rows) == [
        ("3", "duplicate_primary_key"),
        ("3", "duplicate_primary_key"),
    ]
    assert log["reads"] == 2  # the streamed pass gave up; the whole model was staged


def test_an_unchanged_rerun_reads_the_source_once_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome, _b, log = _second_run(tmp_path, monkeypatch, False, lambda b: None)
    assert outcome.status == RunStatus.COMPLETED
    assert outcome.rows_synced == 0
    assert (outcome.summary or {})["unchanged"] == 10
    assert log == {"reads": 1, "batches": 5}


def test_a_source_failure_mid_stream_is_retried_and_counts_each_row_once(
    tmp_path: Path,
) -> None:
    b, log = _bench(tmp_path)
    b.run()
    b.rows[7]["email"] = "changed@x.test"
    log.update(reads=0, batches=0, fail_after=2)
    outcome, _ = b.run()
    assert outcome.status == RunStatus.COMPLETED
    assert log["reads"] == 2
    assert ((outcome.summary or {})["changed"], (outcome.summary or {})["unchanged"]) == (1, 9)
    assert (outcome.summary or {})["model_rows"] == 10
    assert b.destination.sent(Operation.UPSERT)[-1:] == ["8"]
    assert len(b.destination.sent(Operation.UPSERT)) == 11  # 10 on the first run, then 1


def test_a_mapping_error_fires_after_the_first_batch(tmp_path: Path) -> None:
    b, log = _bench(tmp_path)
    b.run()
    b.sync_fields["field_mapping"] = [{"source_column": "nope", "destination_field": "x"}]
    log.update(reads=0, batches=0)
    env = b.read_env()
    with pytest.raises(MappingError):
        extract.prepare_diff(
            env,
            sync=b.sync(),
            model=b.model(),
            source_row=b.source_row(),
            full=False,
            work_dir=tmp_path / "w",
            closers=[],
        )
    assert log["batches"] == 1


def test_a_dry_run_of_an_unchanged_model_plans_nothing(tmp_path: Path) -> None:
    b, _ = _bench(tmp_path)
    b.run()
    plan = b.dry()
    assert plan["counts"]["unchanged"] == 10
    assert plan["creates"]["count"] == plan["updates"]["count"] == plan["deletes"]["count"] == 0


def test_columns_named_like_the_stream_helpers_are_staged_whole(tmp_path: Path) -> None:
    rows = [{"id": i, "__sl_pk": f"x{i}"} for i in range(1, 6)]
    b, log = _bench(tmp_path)
    b.rows[:] = rows
    b.sync_fields["field_mapping"] = [
        {"source_column": "id", "destination_field": "id"},
        {"source_column": "__sl_pk", "destination_field": "other"},
    ]
    b.run()
    log.update(reads=0, batches=0)
    outcome, _ = b.run()
    assert (outcome.summary or {})["unchanged"] == 5
    assert log["reads"] == 1
    assert sorted(itertools.chain.from_iterable(k for _, k in b.destination.writes)) == [
        str(i) for i in range(1, 6)
    ]  # the first run's five, nothing on the second


class _StopOnRequest:
    """A control whose ``stop_requested`` turns true once ``flag`` is set (a user cancel)."""

    def __init__(self, flag: threading.Event) -> None:
        self.flag = flag

    def stop_requested(self) -> bool:
        return self.flag.is_set()


class SlowSource(BatchSource):
    """Hands out one batch, then the user cancels while the warehouse is slow: only the
    watcher's ``interrupt()`` wakes the read, which then fails like a cancelled query."""

    def __init__(self, rows: list[dict[str, Any]], log: dict[str, int]) -> None:
        super().__init__(rows, log)
        self.cancel, self.woken = threading.Event(), threading.Event()

    def read(self, sql: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]:
        for i, batch in enumerate(pa.Table.from_pylist(self.rows).to_batches(max_chunksize=2)):
            if i == 1:
                self.cancel.set()
                self.woken.wait(30)
                raise SourceError("canceling statement due to user request")
            yield batch

    def interrupt(self) -> None:
        self.woken.set()


def test_a_stop_during_the_streamed_diff_interrupts_the_source_and_keeps_its_error(
    tmp_path: Path,
) -> None:
    b, log = _bench(tmp_path)
    b.run()  # a snapshot, so the second read is streamed
    source = SlowSource(b.rows, log)
    b._sources = lambda type_name, config: source  # type: ignore[method-assign]
    watch = StopWatcher(_StopOnRequest(source.cancel), threading.Event())
    closers: list[Any] = []
    try:
        with pytest.raises(SourceError, match="canceling statement"):
            extract.prepare_diff(
                b.read_env(),
                sync=b.sync(),
                model=b.model(),
                source_row=b.source_row(),
                full=False,
                work_dir=tmp_path / "w",
                closers=closers,
                watch=watch,
            )
    finally:
        watch.close()
        for fn in reversed(closers):
            fn()
    assert source.woken.is_set() and watch.stop.is_set()


class RepeatedNameSource(BatchSource):
    """A model whose SQL selects two columns under one name (staging renames the second)."""

    def read(self, sql: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]:
        self.log["reads"] += 1
        ids = [r["id"] for r in self.rows]
        table = pa.Table.from_arrays(
            [pa.array(ids), pa.array([r["email"] for r in self.rows]), pa.array(ids)],
            names=["id", "email", "id"],
        )
        yield from table.to_batches(max_chunksize=2)


def test_a_repeated_column_name_is_staged_and_classified_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    views = []
    for staged in (False, True):
        b = Bench(tmp_path / str(staged), mode="mirror")
        b.sync_fields["field_behavior"] = "sync_all_properties"
        b.sync_fields["field_mapping"] = []
        log = {"reads": 0, "batches": 0}
        b._sources = lambda t, c, b=b, log=log: RepeatedNameSource(b.rows, log)  # type: ignore[method-assign,misc]
        b.run()
        b.rows[0]["email"] = "changed@x.test"
        with monkeypatch.context() as mp:
            if staged:
                _staged_only(mp)
            outcome, _ = b.run()
        assert outcome.status == RunStatus.COMPLETED, outcome.error_message
        views.append(_view(outcome, b))
    assert views[0] == views[1]
    assert views[0]["summary"]["changed"] == 1
