"""The streamed-diff benchmark at a tiny size: it runs, and both diffs classify alike."""

from __future__ import annotations

import pytest
from bench.stream_diff import main


@pytest.mark.parametrize("changed_pct", [0.0, 10.0])
def test_staged_and_streamed_classify_the_bench_model_alike(changed_pct: float) -> None:
    out = main(["--rows", "3000", "--repeat", "1", "--changed-pct", str(changed_pct)])
    changed = int(3000 * changed_pct / 100)
    assert out["staged"]["classes"] == out["streamed"]["classes"] == [(3000 - changed, changed)]
