"""A local HTTP receiver that records (or refuses) what alert channels send, and helpers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from syncline.alerts import service
from syncline.domain.enums import ResultClass, RunStatus
from syncline.domain.runs import RunOutcome
from syncline.runs.lifecycle import claim_run, finish_run
from syncline.store.alert_tables import AlertEvent
from syncline.store.tables import SyncRun
from tests.fixtures.harness import Harness, harness  # noqa: F401  (shared fixture)


@dataclass
class Receiver:
    """Records every POST (headers and JSON body); answers ``status`` (e.g. 500 to fail)."""

    status: int = 200
    posts: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def bodies(self) -> list[Any]:
        return [b for _, b in self.posts]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            rec.posts.append((dict(self.headers), json.loads(raw or b"null")))
            self.send_response(rec.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    rec.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=rec.server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield rec
    finally:
        rec.server.shutdown()
        rec.server.server_close()
        thread.join()


def make_sync(h: Harness, alerts: list[dict[str, Any]], **fields: Any) -> str:
    return h.make_sync(
        model_sql="select 1 as id",
        primary_key="id",
        destination_type="webhook",
        destination_config={"url": "http://127.0.0.1:9/x"},
        mapping=[{"from": "id", "to": "id"}],
        alert_attributes=alerts,
        **fields,
    )


def add_channel(h: Harness, type: str, config: dict[str, Any], name: str = "c") -> str:
    with h.ctx.sessions() as s:
        return service.create_channel(s, h.ctx.secrets, h.workspace_id, name, type, config).id


def start_run(h: Harness, sync_id: str, run_mode: str = "incremental") -> str:
    with h.ctx.sessions.begin() as s:
        run = SyncRun(sync_id=sync_id, workspace_id=h.workspace_id, run_mode=run_mode)
        s.add(run)
        s.flush()
        run_id = run.id
    assert claim_run(h.ctx.sessions, run_id, executor_id="test")
    return run_id


def end_run(h: Harness, run_id: str, *, failed: bool = False, **counts: Any) -> None:
    outcome = RunOutcome(
        status=RunStatus.FAILED if failed else RunStatus.COMPLETED,
        result_class=ResultClass.FAILURE if failed else ResultClass.SUCCESS,
        reason_code="boom" if failed else "ok",
        error_message="destination said no" if failed else "",
        **counts,
    )
    assert finish_run(h.ctx.sessions, run_id, outcome, executor_id="test")


def one_run(h: Harness, sync_id: str, *, failed: bool = False, **kw: Any) -> str:
    run_mode = kw.pop("run_mode", "incremental")
    run_id = start_run(h, sync_id, run_mode)
    end_run(h, run_id, failed=failed, **kw)
    return run_id


def events(h: Harness) -> list[AlertEvent]:
    with h.ctx.sessions() as s:
        import sqlalchemy as sa

        return list(s.scalars(sa.select(AlertEvent).order_by(AlertEvent.created_at)))
