"""SSRF through sources: a PostgreSQL or MySQL source pointed at the metadata service (or any
refused range) is a 422 when saved, and refused at connect time if it was stored anyway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from syncline.connectors.base import SourceError
from syncline.connectors.registry import open_source
from tests.security.conftest import Api, FakeDNS
from tests.security.test_ssrf_api import DB_HOSTS, URL_HOSTS


def _pg_url(host: str) -> dict[str, Any]:
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 literal in a URL
    return {"dsn": f"postgresql://u:pw@{host}:5432/db"}


def _pg_kv(host: str) -> dict[str, Any]:
    return {"dsn": f"host={host.strip('[]')} dbname=db user=u password=pw"}


def _pg_fields(host: str) -> dict[str, Any]:
    return {"host": host.strip("[]"), "user": "u", "password": "pw", "database": "db"}


def _mysql(host: str) -> dict[str, Any]:
    return {"host": host.strip("[]"), "user": "u", "password": "pw", "database": "d"}


CASES: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    ("postgres", _pg_url),
    ("postgres", _pg_kv),
    ("postgres", _pg_fields),
    ("mysql", _mysql),
]
IDS = [f"{t}-{make.__name__}" for t, make in CASES]


@pytest.fixture
def evil_dns(api: Api, dns: FakeDNS) -> FakeDNS:
    dns.names["evil.example"] = ["169.254.169.254"]
    return dns


@pytest.mark.parametrize("type_, make", CASES, ids=IDS)
def test_saving_a_source_refuses_every_spelling(
    api: Api, evil_dns: FakeDNS, type_: str, make: Callable[[str], dict[str, Any]]
) -> None:
    statuses = {}
    for host in URL_HOSTS:
        body = {"name": f"wh {host}", "type": type_, "config": make(host)}
        response = api.call("POST", "/sources", json=body)
        statuses[host] = response.status_code
        assert "pw@" not in response.text
    assert statuses == dict.fromkeys(URL_HOSTS, 422)


@pytest.mark.parametrize("type_, make", CASES, ids=IDS)
def test_a_stored_source_is_refused_at_connect_time(
    evil_dns: FakeDNS, type_: str, make: Callable[[str], dict[str, Any]]
) -> None:
    for host in DB_HOSTS:
        source = open_source(type_, make(host))  # as if stored before the guard existed
        check = source.check()
        assert not check.ok, host
        assert "network guard" in check.message, (host, check.message)
        with pytest.raises(SourceError, match="network guard"):
            source.columns("SELECT 1 AS id")
