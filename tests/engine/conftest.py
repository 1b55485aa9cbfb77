"""A metadata store, a DuckDB warehouse and helpers to run syncs through the real engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from syncline.bootstrap import build_context
from syncline.context import AppContext
from syncline.domain.runs import RunOutcome
from syncline.execution.engine_env import run_engine
from syncline.runs.lifecycle import claim_run, finish_run
from syncline.settings import Settings
from syncline.store.db import upgrade
from syncline.store.tables import Destination, Model, Source, Sync, SyncRun, Workspace


@dataclass
class Harness:
    ctx: AppContext
    warehouse: Path
    workspace_id: str

    def sql(self, statement: str) -> None:
        con = duckdb.connect(str(self.warehouse))
        try:
            con.execute(statement)
        finally:
            con.close()

    def make_sync(
        self,
        *,
        model_sql: str,
        primary_key: str,
        destination_type: str,
        destination_config: dict[str, Any],
        mapping: list[dict[str, Any]],
        mode: str = "upsert",
        **sync_fields: Any,
    ) -> str:
        with self.ctx.sessions.begin() as s:
            src = Source(
                workspace_id=self.workspace_id,
                name="wh",
                type="duckdb",
                config=self.ctx.secrets.encrypt_config({"path": str(self.warehouse)}),
            )
            s.add(src)
            s.flush()
            model = Model(
                workspace_id=self.workspace_id,
                source_id=src.id,
                name="m",
                sql=model_sql,
                primary_key=primary_key,
            )
            dest = Destination(
                workspace_id=self.workspace_id,
                name="d",
                type=destination_type,
                config=self.ctx.secrets.encrypt_config(destination_config),
            )
            s.add_all([model, dest])
            s.flush()
            sync = Sync(
                workspace_id=self.workspace_id,
                model_id=model.id,
                destination_id=dest.id,
                name="s",
                field_mapping=mapping,
                sync_mode=mode,
                primary_key=primary_key,
                status="active",
                **sync_fields,
            )
            s.add(sync)
            s.flush()
            return sync.id

    def update_sync(self, sync_id: str, **fields: Any) -> None:
        with self.ctx.sessions.begin() as s:
            sync = s.get(Sync, sync_id)
            assert sync is not None
            for k, v in fields.items():
                setattr(sync, k, v)

    def run(
        self,
        sync_id: str,
        *,
        run_mode: str = "incremental",
        on_batch: Callable[[], None] | None = None,
    ) -> tuple[RunOutcome, SyncRun]:
        with self.ctx.sessions.begin() as s:
            run = SyncRun(sync_id=sync_id, workspace_id=self.workspace_id, run_mode=run_mode)
            s.add(run)
            s.flush()
            run_id = run.id
        assert claim_run(self.ctx.sessions, run_id, executor_id="test")
        outcome = run_engine(self.ctx, run_id, guard=on_batch)
        assert finish_run(self.ctx.sessions, run_id, outcome, executor_id="test")
        with self.ctx.sessions() as s:
            stored = s.get(SyncRun, run_id)
            assert stored is not None
            return outcome, stored


def _harness(tmp_path: Path, database_url: str | None) -> Iterator[Harness]:
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, batch_rows=1000)
    settings.ensure_data_dir()
    upgrade(settings.resolved_database_url())
    ctx = build_context(settings)
    with ctx.sessions.begin() as s:
        ws = Workspace(name="t")
        s.add(ws)
        s.flush()
        ws_id = ws.id
    try:
        yield Harness(ctx, tmp_path / "wh.duckdb", ws_id)
    finally:
        ctx.dispose()


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """Embedded defaults: SQLite metadata store, file snapshots."""
    yield from _harness(tmp_path, None)


@pytest.fixture
def pg_harness(tmp_path: Path, pg_database: str) -> Iterator[Harness]:
    """PostgreSQL metadata store: snapshots kept in the store (distributed workers)."""
    yield from _harness(tmp_path, pg_database.replace("postgresql://", "postgresql+psycopg://"))
