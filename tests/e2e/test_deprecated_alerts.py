"""Seed 001's deprecated notification switches alert through the same rules, end to end.

A real ``syncline serve`` (executor, alert loop), a webhook destination that rejects every
record (so the run fails), and a local receiver as the workspace's alert channel:

* a sync created through the vendor API with only ``failed_run_notifications_enabled: true``
  alerts on its failed run;
* a sync that also sends ``alert_attributes: []`` does not: ``alert_attributes`` takes
  precedence, as the seed says.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from syncline.emulators.receiver import WebhookReceiver
from tests.alerts.conftest import Receiver, receiver  # noqa: F401  (shared fixture)
from tests.e2e.test_compat_seeds import Live, _int_id, _wait, live  # noqa: F401

pytestmark = pytest.mark.e2e


def _body(lv: Live, name: str, **alerting: Any) -> dict[str, Any]:
    return {
        "destination_attributes": {"connection_id": _int_id(lv, "/destinations", name)},
        "mappings": [
            {
                "from": {"type": "column", "data": "customer_id"},
                "to": "customer_id",
                "is_primary_identifier": True,
            },
            {"from": {"type": "column", "data": "email"}, "to": "email"},
        ],
        "operation": "upsert",
        "source_attributes": {
            "connection_id": _int_id(lv, "/sources", "wh"),
            "object": {"type": "table", "table_name": "customers"},
        },
        **alerting,
    }


def _fail_one_run(lv: Live, body: dict[str, Any], destination_id: str) -> str:
    """Create the sync through the vendor API, trigger it there, wait for its failed run."""
    made = lv.vendor.post("/syncs", json=body)
    assert made.status_code == 201, made.text
    number = made.json()["data"]["sync_id"]
    trig = lv.vendor.post(f"/syncs/{number}/trigger")
    assert trig.status_code == 200, trig.text
    syncs = lv.primary.get("/syncs").json()
    sync_id = next(s["id"] for s in _rows(syncs) if s["destination_id"] == destination_id)
    (run,) = _rows(lv.primary.get(f"/syncs/{sync_id}/runs").json())
    assert _wait(lv, sync_id, run["id"])["status"] == "failed"
    return str(sync_id)


def _rows(page: Any) -> list[dict[str, Any]]:
    return list(page["data"] if isinstance(page, dict) else page)


def test_deprecated_failed_run_switch_alerts_and_alert_attributes_win(
    live: Live,  # noqa: F811
    receiver: Receiver,  # noqa: F811
) -> None:
    channel = live.primary.post(
        "/alert-channels", json={"name": "ops", "type": "webhook", "config": {"url": receiver.url}}
    )
    assert channel.status_code == 201, channel.text
    with WebhookReceiver() as rx:
        rx.reject_keys({str(i): "rejected by the test" for i in range(1, 41)})
        dests = {}
        for name in ("Legacy", "Modern"):
            config = {"url": rx.url, "results_path": "results"}
            dest = live.primary.post(
                "/destinations", json={"name": name, "type": "webhook", "config": config}
            )
            assert dest.status_code == 201, dest.text
            dests[name] = dest.json()["id"]
        only_deprecated = {**_body(live, "Legacy"), "failed_run_notifications_enabled": True}
        legacy = _fail_one_run(live, only_deprecated, dests["Legacy"])
        modern = _fail_one_run(
            live,
            {
                **_body(live, "Modern"),
                "alert_attributes": [],
                "failed_run_notifications_enabled": True,
            },
            dests["Modern"],
        )
    deadline = time.monotonic() + 60
    while not receiver.bodies() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)  # a second alert (the one that must not exist) would have had time
    (alert,) = receiver.bodies()
    assert alert["type"] == "FailureAlertConfiguration" and alert["kind"] == "alert"
    assert alert["sync_id"] == legacy != modern
    listed = live.primary.get("/alerts").json()
    assert [(a["sync_id"], a["delivered"]) for a in _rows(listed)] == [(legacy, True)]
