"""Through the process hooks: a run triggered over the API is written by the serve loop, and a
queued row left by a process that stopped is written by the next one."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.bootstrap import build_context, executor_hooks
from syncline.emulators.receiver import WebhookReceiver
from syncline.runlog.worker import write_pending
from syncline.services.workspaces import create_token
from syncline.store.tables import Destination, Sync
from tests.fixtures.harness import Harness
from tests.runlog.conftest import duck_rows, export, make_logged_sync, run_with_rejects


def test_serve_hooks_write_the_run_logs(harness: Harness) -> None:
    h = harness
    h.sql("CREATE OR REPLACE TABLE t AS SELECT i AS id, 'v' || i AS v FROM range(5) t(i)")
    h.ctx.settings.alert_interval = 0.2
    sync_id = make_logged_sync(h, {"warehouse_run_logs": True})
    with h.ctx.sessions() as s:
        _, plain = create_token(s, workspace_id=h.workspace_id, pepper=h.ctx.token_pepper)
    with WebhookReceiver() as rx:
        rx.reject_keys({"2": "nope"})
        with h.ctx.sessions.begin() as s:
            sync = s.get(Sync, sync_id)
            assert sync is not None
            dest = s.get(Destination, sync.destination_id)
            assert dest is not None
            dest.config = h.ctx.secrets.encrypt_config({"url": rx.url, "results_path": "results"})
        app = create_app(h.ctx, lifespan_hooks=executor_hooks(h.ctx))
        with TestClient(app) as client:
            auth = {"Authorization": f"Bearer {plain}"}
            path = f"/api/v1/workspaces/{h.workspace_id}/syncs/{sync_id}/trigger"
            resp = client.post(path, headers=auth)
            assert resp.status_code in (200, 201, 202), resp.text
            run_id = resp.json()["id"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if export(h, run_id).status == "written":
                        break
                except AssertionError:
                    pass  # not queued yet: the run is still going
                time.sleep(0.1)
    assert export(h, run_id).status == "written"
    assert duck_rows(h, "SELECT run_id, rows_failed FROM syncline_sync_runs") == [(run_id, 1)]


def test_a_queued_row_survives_a_restart(harness: Harness) -> None:
    h = harness
    h.sql("CREATE OR REPLACE TABLE t AS SELECT i AS id, 'v' || i AS v FROM range(5) t(i)")
    sync_id = make_logged_sync(h, {"warehouse_run_logs": True})
    run_id, _ = run_with_rejects(h, sync_id, {"1": "x"})
    h.ctx.dispose()  # the process that ended the run is gone before writing
    later = build_context(h.ctx.settings)
    try:
        assert write_pending(later) == 1
    finally:
        later.dispose()
    assert duck_rows(h, "SELECT run_id FROM syncline_rejected_records") == [(run_id,)]
