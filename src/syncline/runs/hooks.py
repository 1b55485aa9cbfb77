"""Hooks that react to a run's status change, inside the transaction that made it.

``transitions.transition()`` calls every registered hook after its conditional UPDATE matched,
with the same session: what a hook writes (an alert outbox row, a metric) commits or rolls back
with the status change itself. ``runs`` never imports its listeners; the composition root
(``bootstrap``) registers them at process start.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from syncline.domain.enums import RunStatus
from syncline.store.tables import SyncRun

__all__ = ["RunHook", "clear", "fire", "register", "unregister"]

RunHook = Callable[[Session, SyncRun, RunStatus, RunStatus], None]

_HOOKS: list[RunHook] = []


def register(hook: RunHook) -> None:
    """Call ``hook(session, run, from_status, to_status)`` on every run status change (once)."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)


def unregister(hook: RunHook) -> None:
    """Stop calling ``hook`` (tests)."""
    if hook in _HOOKS:
        _HOOKS.remove(hook)


def clear() -> None:
    """Forget every hook (tests)."""
    _HOOKS.clear()


def fire(session: Session, run_id: str, from_status: RunStatus, to_status: RunStatus) -> None:
    """Run the hooks for one run's change; the run row is re-read in ``session``.

    A hook's exception propagates: the transaction (and the status change) rolls back, which
    is the point of writing in the same transaction. Hooks must therefore only write rows.
    """
    if not _HOOKS:
        return
    run = session.get(SyncRun, run_id, populate_existing=True)
    if run is None:
        return
    for hook in list(_HOOKS):
        hook(session, run, from_status, to_status)
