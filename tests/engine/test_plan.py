"""One mode table for runs and dry runs: what a dry run previews is what a run sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncline.domain.enums import Operation, SyncMode
from syncline.engine.plan import DeleteGuardError, check_delete_guard, plan_for, preview
from tests.engine.fakes import Bench

PREVIEWS = {
    SyncMode.UPSERT: {"creates": ("added",), "updates": ("changed",)},
    SyncMode.MIRROR: {"creates": ("added",), "updates": ("changed",)},
    SyncMode.INSERT: {"creates": ("added",), "updates": ()},
    SyncMode.APPEND: {"creates": ("added",), "updates": ()},
    SyncMode.UPDATE: {"creates": (), "updates": ("added", "changed")},
}


@pytest.mark.parametrize("mode", list(SyncMode))
def test_preview_of_each_mode(mode: SyncMode) -> None:
    assert preview(plan_for(mode)) == PREVIEWS[mode]
    assert plan_for(mode).deletes is (mode == SyncMode.MIRROR)


@pytest.mark.parametrize("mode", ["upsert", "insert", "update", "mirror", "append"])
def test_a_dry_run_counts_what_the_run_then_sends(tmp_path: Path, mode: str) -> None:
    b = Bench(tmp_path, mode=mode)
    if mode == "update":
        b.destination.held = {str(i): {} for i in range(1, 12)}
    b.run()
    b.rows[0]["email"] = "changed@x.test"
    b.rows.append({"id": 11, "email": "new@x.test", "n": 11})
    del b.rows[5]
    plan = b.dry(sample_size=5)
    b.destination.writes.clear()
    b.run()
    sent = {op: b.destination.sent(op) for op in Operation}
    previewed = plan["creates"]["count"] + plan["updates"]["count"]
    assert previewed == sum(len(v) for op, v in sent.items() if op != Operation.DELETE)
    assert plan["deletes"]["count"] == len(sent[Operation.DELETE])
    assert plan["deletes"]["count"] == (1 if mode == "mirror" else 0)
    assert len(plan["creates"]["sample"]) == plan["creates"]["count"]


def test_a_dry_run_writes_nothing(tmp_path: Path) -> None:
    b = Bench(tmp_path, mode="mirror")
    plan = b.dry()
    assert plan["creates"]["count"] == 10 and len(plan["creates"]["sample"]) == 3
    assert b.destination.writes == [] and b.snapshots.segments("sync-1") == []
    b.run()
    del b.rows[:6]
    plan = b.dry()
    assert plan["delete_guard"]["would_fail"] is True
    assert b.destination.writes[-1][0] == Operation.UPSERT  # still only the first run's


@pytest.mark.parametrize(
    ("config", "removed", "model_rows", "snapshot_rows", "refused"),
    [
        ({}, 0, 0, 10, False),  # nothing to delete: an empty model is fine
        ({}, 10, 0, 10, True),  # the model returned nothing
        ({}, 5, 5, 10, False),  # exactly the default 50%
        ({}, 6, 4, 10, True),
        ({"mirror_max_delete_pct": 70}, 6, 4, 10, False),
        ({"allow_mass_delete": True}, 10, 0, 10, False),
        (None, 1, 1, 1, True),
    ],
)
def test_delete_guard(
    config: dict[str, object] | None,
    removed: int,
    model_rows: int,
    snapshot_rows: int,
    refused: bool,
) -> None:
    if refused:
        with pytest.raises(DeleteGuardError, match="nothing was deleted"):
            check_delete_guard(config, removed, model_rows, snapshot_rows)
    else:
        check_delete_guard(config, removed, model_rows, snapshot_rows)
