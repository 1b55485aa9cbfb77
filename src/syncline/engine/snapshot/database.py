"""Snapshot segments as rows of the metadata store, for workers on several machines."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from syncline.engine.snapshot.types import Segment, SnapshotStore, _from_parquet, _to_parquet
from syncline.store.tables import SnapshotSegment


class DatabaseSnapshotStore(SnapshotStore):
    """Segments as rows of ``snapshot_segments`` in the metadata store."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def segments(self, sync_id: str) -> list[Segment]:
        with self.sessions() as s:
            q = self._newest(
                s, sync_id, SnapshotSegment.seq, SnapshotSegment.kind, SnapshotSegment.data
            )
            rows = s.execute(q).all()
        return [Segment(seq, kind, _from_parquet(data)) for seq, kind, data in rows]

    @staticmethod
    def _newest(s: Session, sync_id: str, *columns: Any) -> sa.Select[Any]:
        """``columns`` of the newest base and every later delta, in order."""
        base_seq = s.scalar(
            sa.select(sa.func.max(SnapshotSegment.seq)).where(
                SnapshotSegment.sync_id == sync_id, SnapshotSegment.kind == "base"
            )
        )
        q = sa.select(*columns).where(SnapshotSegment.sync_id == sync_id)
        if base_seq is not None:
            q = q.where(SnapshotSegment.seq >= base_seq)
        return q.order_by(SnapshotSegment.seq)

    def sizes(self, sync_id: str) -> list[tuple[str, int]]:
        with self.sessions() as s:
            rows = s.execute(self._newest(s, sync_id, SnapshotSegment.kind, SnapshotSegment.rows))
            return [(str(kind), int(n)) for kind, n in rows.all()]

    def append(self, sync_id: str, kind: str, table: pa.Table, *, run_id: str | None) -> int:
        data = _to_parquet(table)
        # Shards of a fan-out run append side by side: the unique (sync_id, seq) lets one
        # writer have a number; the other takes the next one.
        for attempt in range(100):
            try:
                with self.sessions.begin() as s:
                    if s.get_bind().dialect.name == "postgresql":
                        # Writers of one sync take numbers in turn (shards append at once).
                        s.execute(
                            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(sync_id)))
                        )
                    last = s.scalar(
                        sa.select(sa.func.max(SnapshotSegment.seq)).where(
                            SnapshotSegment.sync_id == sync_id
                        )
                    )
                    seq = (last or 0) + 1
                    s.add(
                        SnapshotSegment(
                            sync_id=sync_id,
                            seq=seq,
                            kind=kind,
                            run_id=run_id,
                            rows=table.num_rows,
                            data=data,
                        )
                    )
                return seq
            except IntegrityError:
                time.sleep(0.01 * (attempt + 1))
        raise RuntimeError(f"could not append a snapshot segment of sync {sync_id}")

    def prune(self, sync_id: str, before_seq: int) -> None:
        with self.sessions.begin() as s:
            s.execute(
                sa.delete(SnapshotSegment).where(
                    SnapshotSegment.sync_id == sync_id, SnapshotSegment.seq < before_seq
                )
            )

    def drop(self, sync_id: str) -> None:
        with self.sessions.begin() as s:
            s.execute(sa.delete(SnapshotSegment).where(SnapshotSegment.sync_id == sync_id))
