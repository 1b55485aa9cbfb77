"""File destination: the files and manifests themselves, durability, and failures."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest

from syncline.connectors.base import ChangeBatch, DestinationError, Operation, RunInfo, SyncMode
from syncline.connectors.destinations.file import sinks as _file_sinks
from syncline.connectors.destinations.file.destination import FileDestination, FileDestinationConfig

FORMATS = ["csv", "jsonl", "parquet"]
FIELDS = ["id", "email", "score"]


def open_dest(root: Path, fmt: str) -> FileDestination:
    return FileDestination(FileDestinationConfig(path=str(root), format=fmt))  # type: ignore[arg-type]


def begin(dest: FileDestination, run_id: str = "r1") -> None:
    dest.begin(RunInfo("s1", run_id, SyncMode.MIRROR, "id", FIELDS))


def rows(*ids: int) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "email": [f"{i}@x.io" for i in ids],
            "score": pa.array([i * 10 for i in ids], pa.int32()),
        }
    )


def write(dest: FileDestination, op: Operation, table: pa.Table, **kw: Any) -> Any:
    keys = [str(k) for k in table.column("id").to_pylist()]
    return dest.write(ChangeBatch(op, table, keys, "id", **kw))


def read_back(path: Path, fmt: str) -> pa.Table:
    if fmt == "parquet":
        return pq.read_table(path)
    if fmt == "csv":  # as the docs say: unquoted empty = NULL, quoted "" = empty string
        nulls = pacsv.ConvertOptions(strings_can_be_null=True, quoted_strings_can_be_null=False)
        return pacsv.read_csv(path, convert_options=nulls)
    return pajson.read_json(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_run_writes_one_readable_file_and_its_manifest(tmp_path: Path, fmt: str) -> None:
    dest = open_dest(tmp_path, fmt)
    begin(dest)
    write(dest, Operation.UPSERT, rows(1, 2, 3))
    write(dest, Operation.DELETE, rows(2))  # full records: only the key is kept
    write(dest, Operation.UPSERT, rows(4))
    dest.finish(success=True)
    dest.close()

    table = read_back(tmp_path / "s1" / f"r1.{fmt}", fmt)
    assert table.column_names == ["_operation", *FIELDS]
    assert table.column("_operation").to_pylist() == ["upsert"] * 3 + ["delete", "upsert"]
    assert table.column("id").to_pylist() == [1, 2, 3, 2, 4]
    assert table.column("email").to_pylist()[3] is None  # a delete carries only its key

    manifest = json.loads((tmp_path / "s1" / "r1.manifest.json").read_text())
    assert manifest["file"] == f"r1.{fmt}" and manifest["format"] == fmt
    assert (manifest["sync_id"], manifest["run_id"], manifest["success"]) == ("s1", "r1", True)
    assert manifest["rows"] == 5
    assert manifest["counts"] == {"upsert": 4, "insert": 0, "update": 0, "delete": 1}
    assert manifest["started_at"] <= manifest["finished_at"]
    assert [f["name"] for f in manifest["schema"]] == ["_operation", *FIELDS]
    assert {f["name"]: f["type"] for f in manifest["schema"]}["score"] == "int32"
    assert not list((tmp_path / "s1").glob(".*"))  # no temporary file left behind


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_run_keeps_its_rows_and_says_so(tmp_path: Path, fmt: str) -> None:
    dest = open_dest(tmp_path, fmt)
    begin(dest)
    write(dest, Operation.UPSERT, rows(1, 2))
    dest.finish(success=False)
    manifest = json.loads((tmp_path / "s1" / "r1.manifest.json").read_text())
    assert manifest["success"] is False and manifest["rows"] == 2
    assert read_back(tmp_path / "s1" / f"r1.{fmt}", fmt).num_rows == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_run_writes_a_new_file(tmp_path: Path, fmt: str) -> None:
    for run_id in ("r1", "r2"):
        dest = open_dest(tmp_path, fmt)
        begin(dest, run_id)
        write(dest, Operation.UPSERT, rows(1))
        dest.finish(success=True)
    assert sorted(p.name for p in (tmp_path / "s1").iterdir()) == sorted(
        [f"r1.{fmt}", f"r2.{fmt}", "r1.manifest.json", "r2.manifest.json"]
    )
    # A run handed back by a stopping worker (or a fan-out shard resumed after its worker
    # died) begins again under the same id: it continues in a new file and never overwrites
    # what the run already acknowledged.
    before = (tmp_path / "s1" / f"r1.{fmt}").read_bytes()
    again = open_dest(tmp_path, fmt)
    begin(again, "r1")
    write(again, Operation.UPSERT, rows(1))
    again.finish(success=True)
    assert (tmp_path / "s1" / f"r1.{fmt}").read_bytes() == before
    assert read_back(tmp_path / "s1" / f"r1.2.{fmt}", fmt).num_rows == 1
    assert json.loads((tmp_path / "s1" / "r1.2.manifest.json").read_text())["run_id"] == "r1"


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_batch_is_fsynced_before_write_returns(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []  # what each fsync'ed descriptor points at (Linux /proc)
    real_fsync = _file_sinks.os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(_file_sinks.os, "fsync", fsync)
    dest = open_dest(tmp_path, fmt)
    begin(dest)
    data_file = str(tmp_path / "s1" / f"r1.{fmt}")
    for batch_no in (1, 2):
        write(dest, Operation.INSERT, rows(batch_no))
        assert synced.count(data_file) == batch_no  # the file itself, once per batch
    if fmt != "parquet":  # Parquet needs its footer (finish) to be read back
        assert "2@x.io" in Path(data_file).read_text()
    dest.close()


def test_every_record_is_acknowledged_even_updates_of_unknown_keys(tmp_path: Path) -> None:
    dest = open_dest(tmp_path, "jsonl")
    begin(dest)
    result = write(dest, Operation.UPDATE, rows(1, 2), skip_nulls=True)
    assert result.errors == [] and result.succeeded == 2
    dest.finish(success=True)
    manifest = json.loads((tmp_path / "s1" / "r1.manifest.json").read_text())
    assert manifest["skip_nulls"] is True and manifest["counts"]["update"] == 2


def test_values_are_encoded_for_text_formats(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": [1],
            "doc": [{"a": [1, 2]}],
            "blob": pa.array([b"\x00\xff"], pa.binary()),
            "empty": [""],
            "missing": pa.array([None], pa.string()),
        }
    )
    for fmt in ("csv", "jsonl"):
        dest = open_dest(tmp_path, fmt)
        dest.begin(RunInfo("s1", f"r-{fmt}", SyncMode.UPSERT, "id", table.column_names))
        write(dest, Operation.UPSERT, table)
        dest.finish(success=True)
    lines = (tmp_path / "s1" / "r-csv.csv").read_text().splitlines()
    assert lines[1] == '"upsert",1,"{""a"":[1,2]}","AP8=","",'
    [record] = [json.loads(x) for x in (tmp_path / "s1" / "r-jsonl.jsonl").read_text().splitlines()]
    assert record == {
        "_operation": "upsert",
        "id": 1,
        "doc": {"a": [1, 2]},
        "blob": "AP8=",
        "empty": "",
        "missing": None,
    }


def test_a_run_without_batches_leaves_an_empty_file(tmp_path: Path) -> None:
    dest = open_dest(tmp_path, "parquet")
    begin(dest)
    dest.finish(success=True)
    table = pq.read_table(tmp_path / "s1" / "r1.parquet")
    assert table.num_rows == 0 and table.column_names == ["_operation", *FIELDS]


def test_a_batch_the_file_schema_cannot_hold_fails_clearly(tmp_path: Path) -> None:
    dest = open_dest(tmp_path, "parquet")
    begin(dest)
    write(dest, Operation.UPSERT, rows(1))
    bad = rows(2).set_column(2, "score", pa.array([{"x": 1}]))
    with pytest.raises(DestinationError, match="'score' is struct"):
        write(dest, Operation.UPSERT, bad)
    dest.close()


def test_check(tmp_path: Path) -> None:
    assert open_dest(tmp_path / "new" / "dir", "csv").check().ok
    (tmp_path / "plain-file").write_text("x")
    check = open_dest(tmp_path / "plain-file" / "sub", "csv").check()
    assert not check.ok and "plain-file" in check.message
