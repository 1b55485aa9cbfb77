"""JSON logs carry the run's ids, a run's lines are served by the API, and no secret leaks."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from syncline.api.app import create_app
from syncline.emulators.receiver import WebhookReceiver
from syncline.execution.work import execute_claimed_run
from syncline.observability.logs import json_formatter
from syncline.runs.lifecycle import claim_run
from syncline.services.workspaces import create_token
from syncline.store.tables import Source, SyncRun
from tests.fixtures.harness import Harness

SOURCE_SECRET = "PlantedSourcePw-7c1e"
DEST_SECRET = "PlantedDestToken-93ab"
MAPPING = [
    {"source_column": "id", "destination_field": "id"},
    {"source_column": "v", "destination_field": "v"},
]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Every log line of the process, formatted as the processes format them (JSON)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(json_formatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _execute(h: Harness, sync_id: str) -> str:
    with h.ctx.sessions.begin() as s:
        run = SyncRun(sync_id=sync_id, workspace_id=h.workspace_id)
        s.add(run)
        s.flush()
        run_id = run.id
    assert claim_run(h.ctx.sessions, run_id, executor_id="t/1")
    execute_claimed_run(h.ctx, run_id, executor_id="t/1", should_stop=lambda: False)
    return run_id


def test_run_lines_are_json_bound_stored_and_secret_free(
    harness: Harness, captured: io.StringIO
) -> None:
    h = harness
    h.sql("CREATE OR REPLACE TABLE t AS SELECT i AS id, 'v' || i AS v FROM range(5) t(i)")
    with WebhookReceiver(auth=("bearer", "the-right-token")) as rx:
        to_webhook = h.make_sync(
            model_sql="SELECT * FROM t",
            primary_key="id",
            destination_type="webhook",
            destination_config={
                "url": rx.url,
                "auth": {"type": "bearer", "token": DEST_SECRET},
                "headers": {"X-Api-Secret": DEST_SECRET},
            },
            mapping=MAPPING,
        )
        dest_run = _execute(h, to_webhook)
    from_pg = h.make_sync(
        model_sql="SELECT 1 AS id, 'x' AS v",
        primary_key="id",
        destination_type="webhook",
        destination_config={"url": "http://127.0.0.1:9/hook"},
        mapping=MAPPING,
    )
    with h.ctx.sessions.begin() as s:
        from syncline.store.tables import Model, Sync

        sync = s.get(Sync, from_pg)
        assert sync is not None
        model = s.get(Model, sync.model_id)
        assert model is not None
        pg = Source(
            workspace_id=h.workspace_id,
            name="pg",
            type="postgres",
            config=h.ctx.secrets.encrypt_config(
                {"dsn": f"postgresql://nobody:{SOURCE_SECRET}@127.0.0.1:1/none?connect_timeout=2"}
            ),
        )
        s.add(pg)
        s.flush()
        model.source_id = pg.id
    source_run = _execute(h, from_pg)

    with h.ctx.sessions() as s:
        statuses = {r.id: r.status for r in s.query(SyncRun)}
    assert statuses[dest_run] == "failed" and statuses[source_run] == "failed"

    lines = [json.loads(line) for line in captured.getvalue().splitlines() if line.strip()]
    assert lines, "nothing was logged"
    of_runs = [line for line in lines if line.get("run_id") in (dest_run, source_run)]
    assert {line["run_id"] for line in of_runs} == {dest_run, source_run}
    for line in of_runs:
        assert line["sync_id"] in (to_webhook, from_pg)
        assert line["workspace_id"] == h.workspace_id
        assert {"ts", "level", "logger", "event"} <= line.keys()
    text = captured.getvalue()
    assert SOURCE_SECRET not in text and DEST_SECRET not in text

    with h.ctx.sessions.begin() as s:
        _, token = create_token(s, workspace_id=h.workspace_id, pepper=h.ctx.token_pepper)
    client = TestClient(create_app(h.ctx))
    auth = {"Authorization": f"Bearer {token}"}
    base = f"/api/v1/workspaces/{h.workspace_id}/syncs"
    served: list[str] = []
    for sync_id, run_id in ((to_webhook, dest_run), (from_pg, source_run)):
        resp = client.get(f"{base}/{sync_id}/runs/{run_id}/logs", headers=auth)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body and all(row["run_id"] == run_id for row in body)
        assert resp.headers["X-Total-Count"] == str(len(body))
        served.append(resp.text)
        for path in ("", f"/runs/{run_id}", f"/runs/{run_id}/records"):
            served.append(client.get(f"{base}/{sync_id}{path}", headers=auth).text)
    assert any("ended failed" in t for t in served)
    joined = "\n".join(served)
    assert SOURCE_SECRET not in joined and DEST_SECRET not in joined
    other = client.get(f"{base}/{from_pg}/runs/{dest_run}/logs", headers=auth)
    assert other.status_code == 404
