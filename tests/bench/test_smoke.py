"""Every benchmark scenario at a tiny size: it completes and writes its report (issue 16).

Sizes are chosen so the whole file takes well under a minute on an idle machine; the full
runs (``make bench``) are not part of the test suite. The peers (dlt, drt-core) are tested
separately in ``test_peers.py`` because they need their own virtual environments.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.__main__ import main


@pytest.fixture(autouse=True)
def _results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_server: str) -> None:
    monkeypatch.setenv("SYNCLINE_BENCH_RESULTS", str(tmp_path / "results"))


def _report(tmp_path: Path, scenario: str) -> dict[str, object]:
    [md] = (tmp_path / "results").glob(f"{scenario}-*.md")
    assert md.read_text().startswith(f"# {scenario}")
    data: dict[str, object] = json.loads(md.with_suffix(".json").read_text())
    assert data["scenario"] == scenario
    return data


def _contenders(data: dict[str, object], scenario: str) -> dict[str, dict[str, object]]:
    sections = data["sections"]
    assert isinstance(sections, dict)
    return sections[scenario]["contenders"]  # type: ignore[no-any-return]


def test_initial_load_against_the_bare_copy(tmp_path: Path) -> None:
    main(["initial", "--rows", "300", "--repeat", "1", "--contenders",
          "syncline-engine,copy", "--check"])  # fmt: skip
    data = _report(tmp_path, "initial")
    summary = _contenders(data, "initial")
    assert summary["syncline-engine"]["sent"] == [300]
    assert summary["copy"]["sent"] == [300]
    checks = data["sections"]["initial"]["table"]  # type: ignore[index]
    assert all(c["missing"] == c["extra"] == c["different"] == 0 for c in checks)


def test_load_lanes_ab_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import lanes_ab

    lanes_ab.main(["--rows", "300", "--repeat", "1"])
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{") :])
    assert set(report["median_s"]) == {"lanes1", "lanes2", "copy"}


def test_unchanged_rerun_sends_nothing(tmp_path: Path) -> None:
    main(["unchanged", "--rows", "300", "--repeat", "2", "--contenders", "syncline-engine"])
    summary = _contenders(_report(tmp_path, "unchanged"), "unchanged")
    assert summary["syncline-engine"]["sent"] == [0, 0]


def test_changed_mirror_through_the_product_path(tmp_path: Path) -> None:
    main(["changed", "--rows", "1000", "--repeat", "1", "--contenders", "syncline,syncline-full"])
    data = _report(tmp_path, "changed")
    summary = _contenders(data, "changed")
    # 10 updates + 2 inserts + 1 delete, against a full resend of all 1,001 rows + the delete.
    assert summary["syncline"]["sent"] == [13]
    assert summary["syncline-full"]["sent"] == [1002]
    checks = data["sections"]["changed"]["table"]  # type: ignore[index]
    assert all(c["missing"] == c["extra"] == c["different"] == 0 for c in checks)


def test_diff_contenders_agree(tmp_path: Path) -> None:
    main(["diff", "--rows", "5000", "--repeat", "1"])
    data = _report(tmp_path, "diff")
    assert "counts agree across contenders: True" in data["notes"]  # type: ignore[operator]
    rows = data["sections"]["diff"]["table"]  # type: ignore[index]
    assert {r["changed"] for r in rows} == {50}


def test_rate_limited_http_loses_and_doubles_nothing(tmp_path: Path) -> None:
    main(["http", "--rows", "300", "--repeat", "1", "--rate-limit", "1000",
          "--interval-ms", "1000", "--latency", "0", "--fault-rate", "0.1"])  # fmt: skip
    rows = _report(tmp_path, "http")["sections"]["http"]["table"]  # type: ignore[index]
    assert [r["contender"] for r in rows] == ["one sync", "two syncs"]
    assert all(r["lost"] == 0 and r["doubled"] == 0 for r in rows)


def test_api_under_load(tmp_path: Path) -> None:
    main(["api", "--syncs", "3", "--api-rates", "10", "--api-duration", "1",
          "--api-concurrency", "2"])  # fmt: skip
    rows = _report(tmp_path, "api")["sections"]["api"]["table"]  # type: ignore[index]
    assert {r["kind"] for r in rows} == {"get_sync", "list_runs", "list_syncs", "trigger"}
    assert all(r["5xx"] == 0 and r["errors"] == 0 and r["429"] == 0 for r in rows)
    assert all(r["2xx"] == r["count"] > 0 for r in rows)  # every request answered, none refused


def test_scheduler_fires_every_slot_once(tmp_path: Path) -> None:
    main(["scheduler", "--scheduler-syncs", "25", "--slots", "2", "--scheduler-clock", "fake"])
    rows = _report(tmp_path, "scheduler")["sections"]["scheduler"]["table"]  # type: ignore[index]
    assert [(r["runs"], r["doubled"], r["skipped"]) for r in rows] == [(25, 0, 0)] * 2
