"""Both snapshot stores keep segments, their order, their metadata, and compact correctly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from syncline.engine.snapshot import (
    DatabaseSnapshotStore,
    FileSnapshotStore,
    SnapshotStore,
    delta_table,
)
from syncline.store.db import make_engine, make_sessionmaker, upgrade
from syncline.store.tables import Destination, Model, Source, Sync, Workspace


def _sync_row(sessions: sessionmaker[Session]) -> str:
    with sessions.begin() as s:
        ws = Workspace(name="w")
        s.add(ws)
        s.flush()
        src = Source(workspace_id=ws.id, name="s", type="duckdb", config={})
        s.add(src)
        s.flush()
        m = Model(workspace_id=ws.id, source_id=src.id, name="m", sql="select 1", primary_key="id")
        d = Destination(workspace_id=ws.id, name="d", type="file", config={})
        s.add_all([m, d])
        s.flush()
        sync = Sync(
            workspace_id=ws.id,
            model_id=m.id,
            destination_id=d.id,
            name="x",
            field_mapping=[],
            sync_mode="upsert",
            primary_key="id",
        )
        s.add(sync)
        s.flush()
        return sync.id


@pytest.fixture(params=["file", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[SnapshotStore, str]]:
    if request.param == "file":
        yield FileSnapshotStore(tmp_path / "snaps"), "sync-1"
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'm.db'}"
    else:
        url = request.getfixturevalue("pg_database").replace(
            "postgresql://", "postgresql+psycopg://"
        )
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        yield DatabaseSnapshotStore(sessions), _sync_row(sessions)
    finally:
        engine.dispose()


def test_segments_roundtrip_in_order_with_metadata(store: tuple[SnapshotStore, str]) -> None:
    st, sync_id = store
    assert st.segments(sync_id) == []
    meta = {"hash_probe": "p1"}
    st.commit_delta(
        sync_id, delta_table(["a", "b"], [1, 2], []).replace_schema_metadata(meta), run_id=None
    )
    st.commit_delta(sync_id, delta_table([], [], ["a"]).replace_schema_metadata(meta), run_id=None)
    st.commit_delta(sync_id, delta_table([], [], []), run_id=None)  # empty: not stored
    segs = st.segments(sync_id)
    assert [s.kind for s in segs] == ["delta", "delta"]
    assert segs[0].seq < segs[1].seq
    assert segs[0].table.schema.metadata == {b"hash_probe": b"p1"}
    assert segs[1].table.column("deleted").to_pylist() == [True]

    st.compact(sync_id, delta_table(["b"], [2], []).replace_schema_metadata(meta), run_id=None)
    segs = st.segments(sync_id)
    assert segs[0].table.schema.metadata == {b"hash_probe": b"p1"}
    assert [s.kind for s in segs] == ["base"] and segs[0].table.column("pk").to_pylist() == ["b"]
    st.commit_delta(sync_id, delta_table(["c"], [3], []), run_id=None)
    assert [s.kind for s in st.segments(sync_id)] == ["base", "delta"]
    st.drop(sync_id)
    assert st.segments(sync_id) == []
