"""Helpers for the run-logs-in-the-warehouse tests: a real run whose receiver rejects keys."""

from __future__ import annotations

from typing import Any

import duckdb
import sqlalchemy as sa

from syncline.emulators.receiver import WebhookReceiver
from syncline.store.runlog_tables import RunLogExport
from syncline.store.tables import Model, Source, Sync, SyncRun, utcnow
from tests.fixtures.harness import Harness, harness  # noqa: F401  (shared fixture)

MAPPING = [
    {"source_column": "id", "destination_field": "id"},
    {"source_column": "v", "destination_field": "v"},
]


def run_with_rejects(h: Harness, sync_id: str, rejected: dict[str, str]) -> tuple[str, SyncRun]:
    """One real run through the engine against a local receiver that rejects ``rejected``."""
    with WebhookReceiver() as rx:
        rx.reject_keys(rejected)
        _point_destination(h, sync_id, rx.url)
        outcome, run = h.run(sync_id)
    assert outcome.status == "completed", outcome
    return run.id, run


def make_logged_sync(h: Harness, config: dict[str, Any], sql: str = "SELECT * FROM t") -> str:
    return h.make_sync(
        model_sql=sql,
        primary_key="id",
        destination_type="webhook",
        destination_config={"url": "http://127.0.0.1:9/hook", "results_path": "results"},
        mapping=MAPPING,
        config=config,
    )


def _point_destination(h: Harness, sync_id: str, url: str) -> None:
    from syncline.store.tables import Destination

    with h.ctx.sessions.begin() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None
        dest = s.get(Destination, sync.destination_id)
        assert dest is not None
        dest.config = h.ctx.secrets.encrypt_config({"url": url, "results_path": "results"})


def set_source(h: Harness, sync_id: str, type: str, config: dict[str, Any]) -> None:
    """Point the sync's model at another source (type and config)."""
    with h.ctx.sessions.begin() as s:
        sync = s.get(Sync, sync_id)
        assert sync is not None
        model = s.get(Model, sync.model_id)
        assert model is not None
        source = s.get(Source, model.source_id)
        assert source is not None
        source.type = type
        source.config = h.ctx.secrets.encrypt_config(config)


def export(h: Harness, run_id: str) -> RunLogExport:
    with h.ctx.sessions() as s:
        row = s.get(RunLogExport, run_id)
        assert row is not None
        s.expunge(row)
        return row


def make_due(h: Harness, run_id: str, status: str = "pending") -> None:
    """Make an outbox row due again (as a re-delivery or the next backoff step would)."""
    with h.ctx.sessions.begin() as s:
        s.execute(
            sa.update(RunLogExport)
            .where(RunLogExport.run_id == run_id)
            .values(status=status, next_attempt_at=utcnow())
        )


def duck_rows(h: Harness, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(h.warehouse))  # read-write: fails if anything still holds it
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
