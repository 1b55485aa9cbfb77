"""Snapshot segments as files in the data directory: the embedded default."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from syncline.engine.snapshot.types import Segment, SnapshotStore, _from_parquet, _to_parquet


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

    def sizes(self, sync_id: str) -> list[tuple[str, int]]:
        listing = self._listing(sync_id)
        start = max((i for i, (_, kind, _) in enumerate(listing) if kind == "base"), default=0)
        return [(kind, pq.read_metadata(path).num_rows) for _, kind, path in listing[start:]]

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
