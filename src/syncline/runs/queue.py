"""How a created run reaches a worker: the ``JobQueue`` protocol.

``enqueue`` is called inside the transaction that creates the run row, so a queue backed by the
same database (procrastinate) makes "no run without a job, no job without a run" hold.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from syncline.store.tables import RunShard, SyncRun


class JobQueue(Protocol):
    def enqueue(self, session: Session, run: SyncRun) -> None:
        """Schedule ``run`` for execution; called before the creating transaction commits."""
        ...

    def enqueue_shard(self, session: Session, shard: RunShard) -> None:
        """Schedule one shard of a fan-out run, in the transaction that makes it pending."""
        ...


class NullQueue:
    """Records nothing: pending runs wait in the store until an executor polls for them."""

    def enqueue(self, session: Session, run: SyncRun) -> None:
        return None

    def enqueue_shard(self, session: Session, shard: RunShard) -> None:
        return None
