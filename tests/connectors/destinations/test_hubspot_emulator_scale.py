"""The HubSpot emulator must not be the bottleneck of a benchmark (issue 16).

A request costs work in proportion to its inputs, never to the objects already stored: unique
lookups go through an index (no scan of every object per input) and an all-or-nothing batch
rolls back only what it touched (no deep copy of the whole store per request). These tests
count touches of the store instead of timing, so they cannot flake on a loaded machine.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from syncline.emulators.hubspot_emulator import CONTACT_PROPERTIES, HsProperty, HubSpotEmulator

TOKEN = {"authorization": "Bearer pat-na1-syncline-test"}
UPSERT = "/crm/v3/objects/contacts/batch/upsert"


class CountingRows(dict[str, dict[str, Any]]):
    """The store's rows, counting every whole-store scan or copy."""

    scans = 0

    def _seen(self) -> None:
        type(self).scans += 1

    def items(self) -> Any:
        self._seen()
        return super().items()

    def values(self) -> Any:
        self._seen()
        return super().values()

    def __iter__(self) -> Any:
        self._seen()
        return super().__iter__()

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, dict[str, Any]]:
        self._seen()
        return {k: dict(v) for k, v in super().items()}

    def copy(self) -> dict[str, dict[str, Any]]:
        self._seen()
        return dict(super().items())


def _emulator(**options: Any) -> HubSpotEmulator:
    contacts = [*CONTACT_PROPERTIES, HsProperty("ext_id", unique=True)]
    return HubSpotEmulator({"contacts": contacts}, **options)


def _inputs(ids: range, *, trace: bool = True) -> list[dict[str, Any]]:
    return [
        {
            "idProperty": "ext_id",
            "id": f"k{i}",
            "properties": {"email": f"user{i}@example.com", "firstname": f"n{i}"},
            **({"objectWriteTraceId": str(i)} if trace else {}),
        }
        for i in ids
    ]


def _post(hs: HubSpotEmulator, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(hs.url + path, json=body, headers=TOKEN, timeout=10)


def _seed(hs: HubSpotEmulator, n: int) -> None:
    hs.seed(
        "contacts",
        [{"ext_id": f"k{i}", "email": f"user{i}@example.com"} for i in range(n)],
    )
    store = hs.types["contacts"]
    store.rows = CountingRows(store.rows)
    CountingRows.scans = 0


def test_upserts_and_reads_do_not_scan_the_store() -> None:
    with _emulator() as hs:
        _seed(hs, 2_000)
        assert _post(hs, UPSERT, {"inputs": _inputs(range(1_950, 2_050))}).status_code == 200
        read = {"idProperty": "ext_id", "inputs": [{"id": f"k{i}"} for i in range(100)]}
        assert _post(hs, "/crm/v3/objects/contacts/batch/read", read).status_code == 200
        assert CountingRows.scans == 0
        assert len(hs.objects("contacts")) == 2_050


def test_an_all_or_nothing_batch_does_not_copy_the_store_and_still_rolls_back() -> None:
    with _emulator(multi_status=False) as hs:
        _seed(hs, 2_000)
        bad = _inputs(range(1_990, 2_010), trace=False)
        bad[-1]["properties"]["lifecyclestage"] = "not-an-option"
        assert _post(hs, UPSERT, {"inputs": bad}).status_code == 400
        assert CountingRows.scans == 0
        # Nothing of the failed batch stayed: neither the new objects nor the updates,
        # and the unique index forgot the keys it never kept.
        by_key = hs.by_property("contacts", "ext_id")
        assert len(by_key) == 2_000 and "k2005" not in by_key
        assert "firstname" not in by_key["k1995"]
        retry = _post(hs, UPSERT, {"inputs": _inputs(range(1_990, 2_010), trace=False)})
        assert retry.status_code == 200
        new = [r["new"] for r in retry.json()["results"]]
        assert new == [False] * 10 + [True] * 10


def test_unique_values_stay_unique_through_updates_and_archives() -> None:
    with _emulator() as hs:
        first = _post(hs, UPSERT, {"inputs": _inputs(range(3))}).json()["results"]
        ids = {r["properties"]["ext_id"]: r["id"] for r in first}
        # Moving k0's email away frees it; taking k1's email is a conflict.
        move = {"idProperty": "ext_id", "id": "k0", "objectWriteTraceId": "a"}
        move["properties"] = {"email": "moved@example.com"}  # type: ignore[assignment]
        take = {"idProperty": "ext_id", "id": "k2", "objectWriteTraceId": "b"}
        take["properties"] = {"email": "USER1@example.com"}  # type: ignore[assignment]
        answer = _post(hs, UPSERT, {"inputs": [move, take]})
        assert answer.status_code == 207
        assert [e["category"] for e in answer.json()["errors"]] == ["CONFLICT"]
        free = {"idProperty": "ext_id", "id": "k9", "objectWriteTraceId": "c"}
        free["properties"] = {"email": "user0@example.com"}  # type: ignore[assignment]
        reuse = _post(hs, UPSERT, {"inputs": [free]})
        reuse_body = json.loads(reuse.content)
        assert reuse.status_code == 200 and reuse_body["results"][0]["new"] is True
        archive = {"inputs": [{"id": ids["k1"]}]}
        assert _post(hs, "/crm/v3/objects/contacts/batch/archive", archive).status_code == 204
        again = _post(hs, UPSERT, {"inputs": _inputs(range(1, 2))}).json()["results"][0]
        assert again["new"] is True and again["id"] != ids["k1"]


def test_random_faults_are_seeded_and_never_applied() -> None:
    def statuses() -> list[int]:
        with _emulator(fault_rate=0.3, seed=7) as hs:
            out = [
                _post(hs, UPSERT, {"inputs": _inputs(range(i, i + 1))}).status_code
                for i in range(30)
            ]
            applied = {o["properties"]["ext_id"] for o in hs.objects("contacts")}
        ok = {f"k{i}" for i, status in enumerate(out) if status == 200}
        assert applied == ok  # a faulted request changed nothing
        return out

    first = statuses()
    assert first == statuses()
    assert {429, 503} <= set(first) and 200 in first
