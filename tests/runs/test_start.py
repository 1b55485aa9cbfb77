"""How runs come to exist: chained after an upstream success, or not twice at once."""

from __future__ import annotations

from syncline.runs.start import fire_dependents
from tests.fixtures.harness import Harness
from tests.scheduler.test_tick import _runs, _sync


def test_chained_sync_runs_after_upstream(harness: Harness, tmp_path: object) -> None:
    h = harness
    up = _sync(h, str(tmp_path), schedule=None)
    down = _sync(h, str(tmp_path), schedule=None)
    h.update_sync(down, trigger_after_sync_ids=[up], trigger_mode="manual")
    assert len(fire_dependents(h.ctx.sessions, h.ctx.queue, sync_id=up)) == 1
    (run,) = _runs(h, down)
    assert run.triggered_by == "upstream" and run.trigger_ref == f"after_sync:{up}"
    assert fire_dependents(h.ctx.sessions, h.ctx.queue, sync_id=up) == []  # one already pending
