"""A dry run reports the plan and writes nothing: no destination rows, no snapshot, no runs."""

from __future__ import annotations

import psycopg
import sqlalchemy as sa

from syncline.engine.dryrun import dry_run
from syncline.execution.engine_env import read_env, snapshot_store
from syncline.store.tables import Model, Source, Sync, SyncRun
from tests.engine.test_runner_postgres import _setup
from tests.fixtures.harness import Harness


def _dry(h: Harness, sync_id: str) -> dict[str, object]:
    with h.ctx.sessions() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None
        model = s.get(Model, sync.model_id)
        assert model is not None
        source = s.get(Source, model.source_id)
        assert source is not None
        return dry_run(read_env(h.ctx), sync=sync, model=model, source=source, sample_size=3)


def test_dry_run_plans_without_writing(harness: Harness, pg_database: str) -> None:
    h = harness
    sync_id = _setup(h, pg_database, "mirror", rows=100)
    plan = _dry(h, sync_id)
    assert plan["creates"]["count"] == 100 and len(plan["creates"]["sample"]) == 3  # type: ignore[index]
    assert set(plan["creates"]["sample"][0]) == {"id", "email", "score"}  # type: ignore[index]
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT to_regclass('people')").fetchone() == (None,)
    assert snapshot_store(h.ctx).segments(sync_id) == []
    with h.ctx.sessions() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(SyncRun)) == 0

    h.run(sync_id)
    h.sql("UPDATE people SET email = 'x' WHERE id <= 5")
    h.sql("DELETE FROM people WHERE id > 20")
    h.sql("INSERT INTO people VALUES (NULL, 'nokey', '1')")
    plan = _dry(h, sync_id)
    assert plan["updates"]["count"] == 5  # type: ignore[index]
    assert plan["deletes"]["count"] == 80  # type: ignore[index]
    assert plan["delete_guard"]["would_fail"] is True  # type: ignore[index]
    assert plan["rejected"]["by_reason"] == {"null_primary_key": 1}  # type: ignore[index]
    with psycopg.connect(pg_database) as conn:
        assert conn.execute("SELECT count(*) FROM people").fetchone() == (100,)
        assert conn.execute("SELECT count(*) FROM people WHERE email = 'x'").fetchone() == (0,)
