"""A run's live progress as the API and the dashboard show it: queued before a worker has it,
then the phase, rows read and "N of M sent" from the summary the engine saves."""

from __future__ import annotations

from api_helpers import Tenant, set_run
from fastapi.testclient import TestClient
from test_ui import _login

from syncline.context import AppContext


def test_a_triggered_run_is_queued_before_any_worker_starts_it(tenant: Tenant) -> None:
    sync = tenant.sync(name="Queued")
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()  # no worker runs in these tests
    assert run["status"] == "pending" and run["summary"] == {"phase": "queued"}
    got = tenant.get(f"/syncs/{sync['id']}/runs/{run['id']}").json()
    assert got["summary"]["phase"] == "queued"
    cancelled = tenant.post(f"/syncs/{sync['id']}/runs/{run['id']}/cancel", json={}).json()
    assert cancelled["status"] == "cancelled" and cancelled["summary"]["phase"] == "done"


def test_the_run_fragment_shows_phase_rows_read_and_sent_of_planned(
    ctx: AppContext, client: TestClient, tenant: Tenant
) -> None:
    sync = tenant.sync(name="Live")
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    _login(client, tenant.token)
    live = f"/ui/syncs/{sync['id']}/runs/{run['id']}/live"
    page = client.get(live).text
    assert "Phase: queued" in page and "Waiting for a worker" in page

    set_run(ctx, run["id"], status="running", summary={"phase": "extracting", "rows_read": 4500})
    page = client.get(live).text
    assert "Phase: extracting" in page and "4,500 rows read" in page and " of " not in page

    summary = {
        "phase": "loading",
        "rows_read": 20052,
        "added": 20052,
        "planned": {"upsert": 20052},
        "planned_total": 20052,
        "sent_total": 1200,
    }
    set_run(ctx, run["id"], summary=summary)
    page = client.get(live).text
    assert "Phase: loading" in page and "1,200 of 20,052 sent" in page
    assert 'value="1200"' in page
