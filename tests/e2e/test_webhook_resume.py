"""At-least-once made harmless, with real processes (issue 12): a ``syncline worker`` is
SIGKILLed while the webhook receiver is applying one of its requests, another worker resumes
the run, and every record the receiver got twice came with the same idempotency key both times.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from syncline.context import AppContext
from syncline.emulators.receiver import Received, WebhookReceiver
from syncline.services.runs import trigger_run
from syncline.store.tables import Destination, Model, Source, Sync, SyncRun, Workspace
from tests.e2e.conftest import pg_store, spawn, stop

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

ROWS = 1000
KILL_AT = 7  # the 7th request: engine batch 2 (requests 5-8) is mid-way


class _KillingReceiver(WebhookReceiver):
    """Applies requests; while applying the ``KILL_AT``-th one, SIGKILLs the worker sending
    it, so that request (and the two before it in its batch) is applied but never committed."""

    victim: subprocess.Popen[bytes] | None = None
    posts = 0
    killed = threading.Event()

    def _handle(self, request: Received) -> tuple[int, dict[str, str], bytes]:
        answer = super()._handle(request)
        if request.method == "POST":
            self.posts += 1
            if self.posts == KILL_AT and self.victim is not None:
                self.victim.send_signal(signal.SIGKILL)
                self.killed.set()
        return answer


@pytest.fixture
def store(tmp_path: Path, pg_database: str) -> Iterator[tuple[AppContext, dict[str, str]]]:
    yield from pg_store(
        tmp_path,
        pg_database,
        SYNCLINE_HEARTBEAT_INTERVAL="0.5",
        SYNCLINE_HEARTBEAT_TIMEOUT="3",
    )


def _sync(ctx: AppContext, warehouse: Path, url: str) -> tuple[str, str]:
    with ctx.sessions.begin() as s:
        ws = Workspace(name="e2e")
        s.add(ws)
        s.flush()
        src = Source(
            workspace_id=ws.id,
            name="wh",
            type="duckdb",
            config=ctx.secrets.encrypt_config({"path": str(warehouse)}),
        )
        s.add(src)
        s.flush()
        model = Model(
            workspace_id=ws.id, source_id=src.id, name="t", sql="SELECT * FROM t", primary_key="id"
        )
        dest_config = {"url": url, "results_path": "results", "batch_size": 50, "concurrency": 1}
        dest = Destination(
            workspace_id=ws.id,
            name="hook",
            type="webhook",
            config=ctx.secrets.encrypt_config(dest_config),
        )
        s.add_all([model, dest])
        s.flush()
        sync = Sync(
            workspace_id=ws.id,
            model_id=model.id,
            destination_id=dest.id,
            name="t",
            sync_mode="upsert",
            primary_key="id",
            status="active",
            config={"batch_size": 200},
            field_mapping=[
                {"source_column": "id", "destination_field": "id"},
                {"source_column": "v", "destination_field": "v"},
            ],
        )
        s.add(sync)
        s.flush()
        return ws.id, sync.id


def test_a_resumed_run_resends_under_the_same_idempotency_keys(
    store: tuple[AppContext, dict[str, str]], tmp_path: Path
) -> None:
    ctx, env = store
    warehouse = tmp_path / "wh.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute(f"CREATE TABLE t AS SELECT r AS id, 'value-' || r AS v FROM range({ROWS}) x(r)")
    con.close()
    procs: list[subprocess.Popen[bytes]] = []
    with _KillingReceiver() as rx:
        ws, sync_id = _sync(ctx, warehouse, rx.url)
        with ctx.sessions() as s:
            _run, created = trigger_run(
                s, queue=ctx.queue, workspace_id=ws, sync_id=sync_id, triggered_by="e2e"
            )
            assert created
        rx.victim = spawn(["worker", "--concurrency", "1"], env, tmp_path / "victim.log")
        procs.append(rx.victim)
        started = time.monotonic() + 60
        while rx.posts == 0 and time.monotonic() < started:  # the victim holds the run: start
            time.sleep(0.05)  # the survivor now, so its start-up overlaps the victim's work
        procs.append(spawn(["worker", "--concurrency", "1"], env, tmp_path / "survivor.log"))
        assert rx.killed.wait(60), "the worker never reached the request to be killed at"
        rx.victim.wait()
        final: list[SyncRun] = []
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                with ctx.sessions() as s:
                    final = list(s.scalars(sa.select(SyncRun).order_by(SyncRun.attempt_number)))
                if len(final) >= 2 and final[-1].status in ("completed", "failed"):
                    break
                time.sleep(0.2)
        finally:
            stop(procs)
        deliveries = rx.deliveries
        state = rx.state
    assert len(final) == 2, "the killed run was not resumed"
    assert (final[0].result_reason_code, final[-1].status) == ("heartbeat_timeout", "completed")
    keys_of: dict[str, set[str | None]] = {}
    for record, key in deliveries:
        keys_of.setdefault(record, set()).add(key)
    assert len(keys_of) == ROWS and len(state) == ROWS
    twice = [r for r, n in Counter(r for r, _ in deliveries).items() if n > 1]
    assert len(twice) >= 100, "the resumed run should resend what was applied, uncommitted"
    distinct = {k for keys in keys_of.values() for k in keys}
    assert None not in distinct and len(distinct) == ROWS  # one key per record, whoever sent it
