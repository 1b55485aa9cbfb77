"""Per-sync snapshots of ``(primary_key, row_hash)``: what the destination is known to hold.

A snapshot is a sequence of Parquet segments: a ``base`` (the full set at some point) followed
by ``delta`` segments, one per acknowledged batch, each row ``(pk, row_hash, deleted)``. Reading
takes the newest base and replays later deltas (last writer wins per key). A batch's delta is
durable before the engine moves on, so a crash leaves the snapshot equal to what the
destination acknowledged. Compaction folds the deltas into a new base at the end of a run.

Two stores share this logic: files in the data directory (embedded default) and the
``snapshot_segments`` table of the metadata store (for workers on several machines: every
worker already reaches the metadata store, so no extra shared file system is needed).
"""

from __future__ import annotations

import io
import os
import re
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from syncline.store.tables import SnapshotSegment

SNAPSHOT_SCHEMA = pa.schema(
    [
        pa.field("pk", pa.string(), nullable=False),
        pa.field("row_hash", pa.uint64()),
        pa.field("deleted", pa.bool_(), nullable=False),
    ]
)


@dataclass(frozen=True)
class Segment:
    seq: int
    kind: str  # "base" | "delta"
    table: pa.Table


def _to_parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _from_parquet(data: bytes) -> pa.Table:
    table = pq.read_table(io.BytesIO(data))
    # Keep the schema metadata: it carries the hash probe the diff checks comparability with.
    return table.cast(SNAPSHOT_SCHEMA.with_metadata(table.schema.metadata))


def delta_table(
    upsert_keys: list[str] | pa.Array,
    upsert_hashes: list[int] | pa.Array,
    delete_keys: list[str] | pa.Array,
) -> pa.Table:
    """One delta: keys now held with their hash, and keys now absent."""
    n_up, n_del = len(upsert_keys), len(delete_keys)
    keys = pa.concat_arrays(
        [pa.array(upsert_keys, pa.string()), pa.array(delete_keys, pa.string())]
    )
    hashes = pa.concat_arrays([pa.array(upsert_hashes, pa.uint64()), pa.nulls(n_del, pa.uint64())])
    deleted = pa.array([False] * n_up + [True] * n_del, pa.bool_())
    return pa.table([keys, hashes, deleted], schema=SNAPSHOT_SCHEMA)


class SnapshotStore(ABC):
    """Where one sync's snapshot segments live.

    One run per sync writes at a time; the shards of a fan-out run append deltas side by
    side (disjoint keys), so ``append`` must be safe with concurrent writers.
    """

    @abstractmethod
    def segments(self, sync_id: str) -> list[Segment]:
        """The newest base (if any) and every later delta, in order."""

    @abstractmethod
    def append(self, sync_id: str, kind: str, table: pa.Table, *, run_id: str | None) -> int:
        """Durably add a segment; returns its sequence number."""

    @abstractmethod
    def prune(self, sync_id: str, before_seq: int) -> None:
        """Drop segments older than ``before_seq`` (after a new base made them redundant)."""

    @abstractmethod
    def drop(self, sync_id: str) -> None:
        """Forget the sync's snapshot entirely."""

    def commit_delta(self, sync_id: str, delta: pa.Table, *, run_id: str | None) -> None:
        """Record what the destination acknowledged for one batch."""
        if delta.num_rows:
            self.append(sync_id, "delta", delta, run_id=run_id)

    def compact(self, sync_id: str, merged: pa.Table, *, run_id: str | None) -> None:
        """Replace base + deltas by one base holding ``merged`` (pk, row_hash, deleted=False)."""
        schema = SNAPSHOT_SCHEMA.with_metadata(merged.schema.metadata)
        seq = self.append(sync_id, "base", merged.cast(schema), run_id=run_id)
        self.prune(sync_id, seq)


class FileSnapshotStore(SnapshotStore):
    """Segments as files ``<root>/<sync_id>/<seq>.<kind>.parquet``, written atomically."""

    _NAME_RE = re.compile(r"^(\d{12})\.(base|delta)\.parquet$")

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, sync_id: str) -> Path:
        return self.root / sync_id

    def _listing(self, sync_id: str) -> list[tuple[int, str, Path]]:
        d = self._dir(sync_id)
        if not d.is_dir():
            return []
        found = []
        for p in d.iterdir():
            m = self._NAME_RE.match(p.name)
            if m:
                found.append((int(m.group(1)), m.group(2), p))
        return sorted(found)

    def segments(self, sync_id: str) -> list[Segment]:
        listing = self._listing(sync_id)
        start = max((i for i, (_, kind, _) in enumerate(listing) if kind == "base"), default=0)
        return [
            Segment(seq, kind, _from_parquet(path.read_bytes()))
            for seq, kind, path in listing[start:]
        ]

    def append(self, sync_id: str, kind: str, table: pa.Table, *, run_id: str | None) -> int:
        d = self._dir(sync_id)
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{uuid.uuid4().hex}.{kind}.tmp"
        data = _to_parquet(table)
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # Shards of a fan-out run append side by side: link() publishes the segment under the
        # next free number atomically and fails if another writer took it; then try the next.
        try:
            while True:
                listing = self._listing(sync_id)
                seq = (listing[-1][0] + 1) if listing else 1
                try:
                    os.link(tmp, d / f"{seq:012d}.{kind}.parquet")
                    break
                except FileExistsError:
                    continue
        finally:
            tmp.unlink(missing_ok=True)
        dir_fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return seq

    def prune(self, sync_id: str, before_seq: int) -> None:
        for seq, _, path in self._listing(sync_id):
            if seq < before_seq:
                path.unlink(missing_ok=True)

    def drop(self, sync_id: str) -> None:
        for _, _, path in self._listing(sync_id):
            path.unlink(missing_ok=True)


class DatabaseSnapshotStore(SnapshotStore):
    """Segments as rows of ``snapshot_segments`` in the metadata store."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def segments(self, sync_id: str) -> list[Segment]:
        with self.sessions() as s:
            base_seq = s.scalar(
                sa.select(sa.func.max(SnapshotSegment.seq)).where(
                    SnapshotSegment.sync_id == sync_id, SnapshotSegment.kind == "base"
                )
            )
            q = sa.select(SnapshotSegment.seq, SnapshotSegment.kind, SnapshotSegment.data).where(
                SnapshotSegment.sync_id == sync_id
            )
            if base_seq is not None:
                q = q.where(SnapshotSegment.seq >= base_seq)
            rows = s.execute(q.order_by(SnapshotSegment.seq)).all()
        return [Segment(seq, kind, _from_parquet(data)) for seq, kind, data in rows]

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
