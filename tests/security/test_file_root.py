"""File destinations write inside the file root only, never into Syncline's own data.

Before the root, ``../x``, absolute paths and the data directory itself were all accepted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.connectors.destinations.file.root import FileRoot
from syncline.store.tables import SyncRun
from tests.fixtures.harness import Harness, make_harness
from tests.security.conftest import Api


def _bad_paths(api: Api, tmp_path: Path) -> list[str]:
    data_dir = api.ctx.settings.data_dir
    outside = tmp_path / "elsewhere"
    escape = tmp_path / "files" / "link"
    escape.symlink_to(outside, target_is_directory=True)
    return [
        "../x",
        "../../../../../../tmp/x",
        "exports/../../x",
        str(outside),
        "/etc/syncline",
        str(data_dir),
        str(data_dir / "secret.key"),
        str(data_dir / "snapshots"),
        "../data",
        str(tmp_path),
        "link",  # a symlink inside the root that leads out of it
        "link/deeper",
        "",
    ]


def test_create_refuses_paths_outside_the_root(api: Api, tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    statuses = {}
    for path in _bad_paths(api, tmp_path):
        response = api.create("file", {"path": path})
        statuses[path] = response.status_code
        if response.status_code == 422:
            locs = [d["loc"] for d in response.json()["detail"]]
            assert ["body", "config", "path"] in locs, response.text
    assert statuses == dict.fromkeys(statuses, 422)
    assert not (tmp_path / "x").exists() and not (tmp_path / "elsewhere").exists()


def test_update_refuses_too(api: Api, tmp_path: Path) -> None:
    created = api.create("file", {"path": "exports"})
    assert created.status_code == 201, created.text
    response = api.call(
        "PUT", f"/destinations/{created.json()['id']}", json={"config": {"path": "../../x"}}
    )
    assert response.status_code == 422, response.text


def test_paths_inside_the_root_are_accepted(api: Api, tmp_path: Path) -> None:
    root = tmp_path / "files"
    for path in ["exports", "a/b/c", str(root / "absolute"), str(root), "x/../y"]:
        response = api.create("file", {"path": path, "format": "csv"})
        assert response.status_code == 201, (path, response.text)
        check = api.call("POST", f"/destinations/{response.json()['id']}/check")
        assert check.json()["ok"] is True, check.text
    assert (root / "exports").is_dir() and (root / "a/b/c").is_dir() and (root / "y").is_dir()


def test_root_rules() -> None:
    data = Path("/srv/syncline/data")
    default = FileRoot.of(data / "files", [data])
    assert default.resolve("crm") == data / "files" / "crm"
    wide = FileRoot.of(Path("/srv"), [data, Path("/db/syncline.db")])
    assert wide.resolve("exports") == Path("/srv/exports")
    for bad in ["syncline", "syncline/data", "syncline/data/files", "/srv", "/db/syncline.db"]:
        with pytest.raises(ValueError):
            wide.resolve(bad)
    same = FileRoot.of(data, [data])  # a root that is the data directory allows nothing
    for bad in ["files", "snapshots", "."]:
        with pytest.raises(ValueError):
            same.resolve(bad)


# -- at run time --------------------------------------------------------------------------------


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    gen = make_harness(tmp_path, None)
    h = next(gen)
    h.sql("CREATE TABLE people AS SELECT 1 AS id, 'a@example.com' AS email")
    try:
        yield h
    finally:
        gen.close()


def _run(harness: Harness, path: str) -> SyncRun:
    sync_id = harness.make_sync(
        model_sql="SELECT * FROM people",
        primary_key="id",
        destination_type="file",
        destination_config={"path": path, "format": "jsonl"},
        mapping=[{"source_column": "email", "destination_field": "email"}],
    )
    return harness.run(sync_id)[1]


@pytest.mark.parametrize("where", ["outside", "data_dir", "dotdot"])
def test_a_stored_bad_path_fails_the_run_as_destination_error(
    harness: Harness, tmp_path: Path, where: str
) -> None:
    """A config stored before the root existed (or written to the store directly)."""
    path = {
        "outside": "/etc/syncline-out",
        "data_dir": str(harness.ctx.settings.data_dir),
        "dotdot": "../" * 30 + "tmp/syncline-out",
    }[where]
    run = _run(harness, path)
    assert (run.status, run.result_reason_code) == ("failed", "destination_error")
    message = run.error_message or ""
    assert "file root" in message or "Syncline's own data" in message
    assert not any(harness.ctx.settings.data_dir.glob("*/*.jsonl"))


def test_a_good_path_still_runs(harness: Harness, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = _run(harness, str(out))
    assert run.status == "completed"
    (manifest,) = out.rglob("*.manifest.json")
    assert json.loads(manifest.read_text())["rows"] == 1
