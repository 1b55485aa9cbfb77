"""Two syncs in two worker processes write one HubSpot account: they share its rate budget
through the PostgreSQL metadata store, so together they never exceed the account's rolling
window (the emulator refuses, and counts, every request over it), with faults injected, and
every record lands exactly once."""

from __future__ import annotations

from pathlib import Path

from bench.scenarios.http import OBJECT, PROPERTIES, _check, _model, _spawn, _wait

from syncline.emulators.hubspot_emulator import HubSpotEmulator
from syncline.store.db import upgrade


def test_two_worker_processes_on_one_account_share_one_budget(
    tmp_path: Path, pg_database: str
) -> None:
    url = pg_database.replace("postgresql://", "postgresql+psycopg://")
    upgrade(url)
    model = tmp_path / "model.duckdb"
    _model(model, "a", 1, 1000)
    _model(model, "b", 1001, 1000)
    hs = HubSpotEmulator(
        {OBJECT: PROPERTIES}, rate_limit=8, rate_interval_ms=1000, fault_rate=0.05, seed=3
    )
    with hs:
        dest = {
            "access_token": hs.token,
            "base_url": hs.url,
            "object_type": OBJECT,
            "id_property": "ext_id",
        }
        procs = [_spawn(tmp_path / t, model, t, dest, url) for t in ("a", "b")]
        outs = [_wait(p) for p in procs]
        check = _check(hs, model, ["a", "b"])
        calls = list(hs.calls)
        refused = hs.rate_limited
    assert [o["sent"] for o in outs] == [1000, 1000]
    assert check == {"lost": 0, "doubled": 0, "extra": 0}
    assert refused == 0  # never one request over 8 in any rolling second, between the two
    assert any(c.status in (429, 503) for c in calls)  # the faults were met and outlived
    assert max(o["started"] for o in outs) < min(o["ended"] for o in outs)  # side by side
