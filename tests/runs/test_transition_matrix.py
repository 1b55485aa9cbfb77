"""Every (from, to) pair of run and shard statuses, allowed or refused: pure and instant.

The expected pairs are written out here, not read from the table under test, so changing the
state machine means changing this list on purpose.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from syncline.domain.enums import RunStatus
from syncline.domain.runs import (
    RUN_TRANSITIONS,
    SHARD_TRANSITIONS,
    Kind,
    TransitionRefused,
    check_transition,
)
from syncline.runs.transitions import transition
from syncline.store.tables import RunShard, SyncRun

ALLOWED: dict[Kind, set[tuple[str, str]]] = {
    "run": {
        ("pending", "running"),  # claimed
        ("pending", "cancelled"),  # cancelled before a worker took it
        ("running", "pending"),  # a stopping worker hands it back
        ("running", "completed"),
        ("running", "failed"),  # the engine failed, or the reaper
        ("running", "cancelled"),  # stopped at a batch boundary, or reaped after a cancel
    },
    "shard": {
        ("pending", "running"),  # claimed
        ("pending", "cancelled"),  # its run ended before a worker took it
        ("running", "pending"),  # handed back, or reaped and resumed
        ("running", "completed"),
        ("running", "failed"),  # the engine failed, or reaped out of attempts
        ("running", "cancelled"),
    },
}
TABLES = {"run": SyncRun, "shard": RunShard}
PAIRS = [
    pytest.param(kind, a, b, (a.value, b.value) in ALLOWED[kind], id=f"{kind}-{a}-{b}")
    for kind in ("run", "shard")
    for a, b in itertools.product(RunStatus, RunStatus)
]


class NoStore:
    """A session that must not be used: a refused transition never reaches the store."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store was used ({name}) for a refused transition")


@pytest.mark.parametrize(("kind", "from_status", "to_status", "allowed"), PAIRS)
def test_pair(kind: Kind, from_status: RunStatus, to_status: RunStatus, allowed: bool) -> None:
    table = {"run": RUN_TRANSITIONS, "shard": SHARD_TRANSITIONS}[kind]
    assert (to_status in table[from_status]) is allowed
    if allowed:
        check_transition(kind, from_status, to_status)
        return
    with pytest.raises(TransitionRefused) as err:
        check_transition(kind, from_status, to_status)
    assert f"from {from_status.value} to {to_status.value}" in str(err.value)
    with pytest.raises(TransitionRefused):
        transition(NoStore(), TABLES[kind], "id", from_status, to_status)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["run", "shard"])
def test_every_status_has_a_row_and_terminal_ones_lead_nowhere(kind: Kind) -> None:
    table = {"run": RUN_TRANSITIONS, "shard": SHARD_TRANSITIONS}[kind]
    assert set(table) == set(RunStatus)
    assert all(not table[s] for s in RunStatus if s.is_terminal)


def test_refusal_says_what_is_allowed() -> None:
    with pytest.raises(TransitionRefused) as err:
        check_transition("run", RunStatus.COMPLETED, RunStatus.RUNNING)
    assert "nothing (terminal)" in str(err.value)
    with pytest.raises(TransitionRefused) as err:
        check_transition("shard", RunStatus.PENDING, RunStatus.COMPLETED)
    assert "cancelled, running" in str(err.value)
