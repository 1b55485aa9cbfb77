"""``syncline demo`` runs end to end and its second run sends only the changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncline.cli.demo import run_demo


def test_demo_runs_and_diffs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "demo"
    run_demo(data_dir=data, port=0, customers=2000)
    out = capsys.readouterr().out
    assert "Second run: only the changes are sent" in out
    assert "received 200 accounts in" in out  # the webhook receiver got every account
    crm = data / "output" / "crm"
    manifests = sorted(crm.rglob("*.manifest.json"), key=lambda p: p.stat().st_mtime)
    assert len(manifests) == 2
    first, second = (json.loads(p.read_text()) for p in manifests)
    assert first["success"] and second["success"]
    # 2000 customers + 2 bad rows on run 1; run 2: 10 changed + 50 new.
    assert first["rows"] == 2000 - 1 and second["rows"] == 10 + 50
