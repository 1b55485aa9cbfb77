"""The peer runner: dlt and drt-core in their own venvs, at a tiny size (issue 16).

Building a peer venv needs PyPI; locally a failure to build skips, under ``CI=true`` it fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from bench.__main__ import main
from bench.core import BenchError

from bench import peers


@pytest.mark.parametrize("peer", ["dlt", "drt"])
def test_peer_loads_and_syncs_a_change(
    peer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_server: str
) -> None:
    try:
        peers.ensure(peer)
    except BenchError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"cannot build the {peer} venv under CI: {exc}")
        pytest.skip(str(exc))
    monkeypatch.setenv("SYNCLINE_BENCH_RESULTS", str(tmp_path))
    main(["changed", "--rows", "500", "--repeat", "1", "--contenders", peer])
    [report] = tmp_path.glob("changed-*.json")
    section = json.loads(report.read_text())["sections"]["changed"]
    # Each peer resends the whole model (500 rows after 5 updates, 1 insert, 1 delete).
    assert section["contenders"][peer]["sent"] == [500]
    [check] = section["table"]
    assert check["missing"] == check["different"] == 0
    # dlt's merge does not propagate the deleted row; drt-core's mirror does.
    assert check["extra"] == (1 if peer == "dlt" else 0)
