"""Pagination of every list: bare arrays, X-Total-Count, RFC 8288 Link, bounds -> 422."""

from __future__ import annotations

import re
from typing import Any

import pytest
from api_helpers import Tenant, set_run


def _links(header: str) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', header)}


def test_pages_and_link_header(tenant: Tenant) -> None:
    source = tenant.source()
    names = [f"m{i:02d}" for i in range(7)]
    for name in names:
        tenant.model(source["id"], name=name)
    first = tenant.get("/models", params={"per_page": 3, "q": "m"})
    assert first.status_code == 200
    assert [m["name"] for m in first.json()] == names[:3]
    assert first.headers["X-Total-Count"] == "7"
    links = _links(first.headers["Link"])
    assert set(links) == {"first", "next", "last"}
    assert links["next"].startswith("http://testserver" + tenant.url("/models"))
    assert "page=2" in links["next"] and "per_page=3" in links["next"] and "q=m" in links["next"]
    assert "page=3" in links["last"]

    nxt = tenant.client.get(links["next"], headers=tenant.headers)
    assert [m["name"] for m in nxt.json()] == names[3:6]
    assert set(_links(nxt.headers["Link"])) == {"first", "prev", "next", "last"}
    last = tenant.client.get(_links(nxt.headers["Link"])["last"], headers=tenant.headers)
    assert [m["name"] for m in last.json()] == names[6:]
    assert set(_links(last.headers["Link"])) == {"first", "prev", "last"}

    desc = tenant.get("/models", params={"per_page": 3, "order": "desc"})
    assert [m["name"] for m in desc.json()] == names[::-1][:3]
    zero = tenant.get("/models", params={"page": 0, "per_page": 3})
    assert zero.json() == first.json()
    beyond = tenant.get("/models", params={"page": 9, "per_page": 3})
    assert beyond.status_code == 200 and beyond.json() == []
    assert beyond.headers["X-Total-Count"] == "7"


def test_empty_list_headers(tenant: Tenant) -> None:
    resp = tenant.get("/syncs")
    assert resp.json() == [] and resp.headers["X-Total-Count"] == "0"
    assert set(_links(resp.headers["Link"])) == {"first", "last"}


@pytest.mark.parametrize(
    "params",
    [
        {"page": -1},
        {"page": "one"},
        {"page": 10**7},
        {"per_page": 0},
        {"per_page": 101},
        {"order": "sideways"},
    ],
)
@pytest.mark.parametrize("path", ["/syncs", "/sources", "/models", "/destinations"])
def test_out_of_range_is_422(tenant: Tenant, path: str, params: dict[str, object]) -> None:
    resp = tenant.get(path, params=params)
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"][0] == "query"


def test_runs_and_records_paginate(tenant: Tenant) -> None:
    sync = tenant.sync()
    run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
    for path in (f"/syncs/{sync['id']}/runs", f"/syncs/{sync['id']}/runs/{run['id']}/records"):
        assert tenant.get(path, params={"per_page": 101}).status_code == 422
        ok = tenant.get(path, params={"per_page": 1})
        assert ok.status_code == 200 and "X-Total-Count" in ok.headers and "Link" in ok.headers


def test_no_paging_params_return_the_whole_list(tenant: Tenant) -> None:
    """Seed 000: "Returns all syncs" and "the execution history": no silent cap at 25."""
    tenant.setup()
    for i in range(27):
        tenant.sync(name=f"s{i:02d}", schedule=None)
    resp = tenant.get("/syncs")
    assert resp.status_code == 200
    assert [s["name"] for s in resp.json()] == [f"s{i:02d}" for i in range(27)]
    assert resp.headers["X-Total-Count"] == "27"
    assert set(_links(resp.headers["Link"])) == {"first", "last"}
    # seed 002's page style still pages
    page2 = tenant.get("/syncs", params={"page": 2, "per_page": 10})
    assert [s["name"] for s in page2.json()] == [f"s{i:02d}" for i in range(10, 20)]
    assert page2.headers["X-Total-Count"] == "27"


def test_limit_offset_style(tenant: Tenant) -> None:
    """Seed 003's ``limit``/``offset`` are honoured (``limit=1`` was silently ignored)."""
    tenant.setup()
    for i in range(5):
        tenant.sync(name=f"s{i}", schedule=None)
    one = tenant.get("/syncs", params={"limit": 1})
    assert [s["name"] for s in one.json()] == ["s0"]
    assert one.headers["X-Total-Count"] == "5"
    links = _links(one.headers["Link"])
    assert set(links) == {"first", "next", "last"}
    assert "offset=1" in links["next"] and "limit=1" in links["next"]
    mid = tenant.get("/syncs", params={"limit": 2, "offset": 3})
    assert [s["name"] for s in mid.json()] == ["s3", "s4"]
    assert "prev" in _links(mid.headers["Link"])
    desc = tenant.get("/syncs", params={"limit": 2, "order": "desc"})
    assert [s["name"] for s in desc.json()] == ["s4", "s3"]
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
        assert tenant.get("/syncs", params=bad).status_code == 422


def test_runs_unpaged_and_limit(tenant: Tenant, ctx: Any) -> None:
    sync = tenant.sync(schedule=None)
    made = []
    for _ in range(27):
        run = tenant.post(f"/syncs/{sync['id']}/trigger").json()
        set_run(ctx, run["id"], status="completed")
        made.append(run["id"])
    resp = tenant.get(f"/syncs/{sync['id']}/runs")
    assert len(resp.json()) == 27 and resp.headers["X-Total-Count"] == "27"
    assert [r["id"] for r in resp.json()] == made[::-1]  # newest first
    one = tenant.get(f"/syncs/{sync['id']}/runs", params={"limit": 1})
    assert [r["id"] for r in one.json()] == [made[-1]]
