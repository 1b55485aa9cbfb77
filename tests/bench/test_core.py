"""The harness's own measurements: a child's peak RSS is the child's, not its parent's."""

from __future__ import annotations

import sys

from bench.core import peak_rss_mb, run_child

_CHILD = (
    "import json; from bench.core import peak_rss_mb; print(json.dumps({'self_mb': peak_rss_mb()}))"
)


def test_a_small_child_of_a_large_parent_reports_its_own_peak() -> None:
    # Linux carries the parent's RSS at fork into the child's ru_maxrss through exec: a
    # benchmark whose setup ran in the parent saw every child as large as the setup.
    ballast = bytearray(400 * 1024 * 1024)
    ballast[::4096] = b"\x01" * len(ballast[::4096])
    assert peak_rss_mb() > 400
    out, _wall, rss = run_child([sys.executable, "-c", _CHILD])
    assert rss < 200, rss
    assert out["self_mb"] < 200, out
    # A program that does not report its peak (a peer's CLI) is read from /proc while it runs.
    _, _, rss = run_child([sys.executable, "-c", "import time; time.sleep(0.3); print('{}')"])
    assert rss < 200, rss
    del ballast


def test_a_large_child_reports_its_peak() -> None:
    code = (
        "import json, time; b = bytearray(300 * 1024 * 1024);"
        " b[::4096] = b'\\x01' * len(b[::4096]);"
        " time.sleep(0.1); from bench.core import peak_rss_mb; del b;"
        " print(json.dumps({'self_mb': peak_rss_mb()}))"
    )
    out, _wall, rss = run_child([sys.executable, "-c", code])
    assert rss > 300 and out["self_mb"] > 300, (rss, out)
