"""SSRF through destinations: refused with a 422 when saved, a destination_error when run.

Each bad address was accepted (201) and connected to before the network guard; an octal
address gave a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.harness import Harness, make_harness
from tests.security.conftest import Api, FakeDNS, LocalServer, deny_private

# Hosts as they appear in a URL; each one reaches the metadata service or another refused range.
URL_HOSTS = [
    "169.254.169.254",
    "169.254.169.254.",
    "[::ffff:169.254.169.254]",
    "2852039166",
    "0xa9fea9fe",
    "0251.0376.0251.0376",
    "evil.example",  # resolves to link-local (see the dns fixture below)
    "[fe80::1]",
    "[fd00:ec2::254]",
    "metadata.google.internal",
    "100.100.100.200",
    "0.0.0.0",
]
# The same, as a database host (no brackets).
DB_HOSTS = [h.strip("[]") for h in URL_HOSTS]


def _webhook(host: str) -> dict[str, Any]:
    return {"url": f"http://{host}/latest/meta-data/"}


def _hubspot(host: str) -> dict[str, Any]:
    return {"access_token": "pat-na1-x", "base_url": f"http://{host}"}


def _sf_auth() -> dict[str, str]:
    return {"client_id": "id", "client_secret": "shh"}


def _sf_login(host: str) -> dict[str, Any]:
    return {"login_url": f"http://{host}", "auth": _sf_auth(), "object": "Contact"}


def _sf_instance(host: str) -> dict[str, Any]:
    return {"instance_url": f"https://{host}", "auth": _sf_auth(), "object": "Contact"}


def _pg_url(host: str) -> dict[str, Any]:
    return {"dsn": f"postgresql://u:pw@{host}:5432/db", "table": "t"}


def _pg_kv(host: str) -> dict[str, Any]:
    return {"dsn": f"host={host.strip('[]')} dbname=db user=u", "table": "t"}


def _mysql(host: str) -> dict[str, Any]:
    return {"host": host.strip("[]"), "user": "u", "database": "d", "table": "t"}


CASES: list[tuple[str, str, Callable[[str], dict[str, Any]]]] = [
    ("webhook", "url", _webhook),
    ("hubspot", "base_url", _hubspot),
    ("salesforce", "login_url", _sf_login),
    ("salesforce", "instance_url", _sf_instance),
    ("postgres", "dsn", _pg_url),
    ("postgres", "dsn", _pg_kv),
    ("mysql", "host", _mysql),
]


IDS = [f"{type_}-{make.__name__}" for type_, _, make in CASES]


@pytest.fixture
def evil_dns(api: Api, dns: FakeDNS) -> FakeDNS:
    dns.names["evil.example"] = ["169.254.169.254"]
    dns.names["fine.example"] = ["93.184.216.34"]
    return dns


@pytest.mark.parametrize(
    "type_, field, make", CASES, ids=[f"{c[0]}-{c[2].__name__}" for c in CASES]
)
def test_create_refuses_every_spelling(
    api: Api, evil_dns: FakeDNS, type_: str, field: str, make: Callable[[str], dict[str, Any]]
) -> None:
    statuses = {}
    for host in URL_HOSTS:
        response = api.create(type_, make(host))
        statuses[host] = response.status_code
        if response.status_code == 422:
            detail = response.json()["detail"]
            assert any(d["loc"][:3] == ["body", "config", field] for d in detail), detail
            assert "pw" not in response.text and "shh" not in response.text
    assert statuses == dict.fromkeys(URL_HOSTS, 422)


@pytest.mark.parametrize(
    "type_, field, make", CASES, ids=[f"{c[0]}-{c[2].__name__}" for c in CASES]
)
def test_update_refuses_too(
    api: Api, evil_dns: FakeDNS, type_: str, field: str, make: Callable[[str], dict[str, Any]]
) -> None:
    created = api.create(type_, make("fine.example"))
    assert created.status_code == 201, created.text
    dest_id = created.json()["id"]
    response = api.call("PUT", f"/destinations/{dest_id}", json={"config": make("evil.example")})
    assert response.status_code == 422, response.text
    assert any(d["loc"][:3] == ["body", "config", field] for d in response.json()["detail"])


def test_private_addresses_allowed_by_default_and_deniable(api: Api, evil_dns: FakeDNS) -> None:
    assert api.create("webhook", _webhook("127.0.0.1:9")).status_code == 201
    assert api.create("mysql", _mysql("10.1.2.3")).status_code == 201
    deny_private(evil_dns)
    for type_, _, make in CASES:
        response = api.create(type_, make("127.0.0.1"))
        assert response.status_code == 422, (type_, response.text)
        assert "SYNCLINE_NETWORK_ALLOW_PRIVATE is false" in response.text


def test_check_after_dns_changed_reports_the_refusal(
    api: Api, evil_dns: FakeDNS, server: LocalServer
) -> None:
    evil_dns.names["flip.example"] = ["127.0.0.1"]
    created = api.create("webhook", {"url": f"http://flip.example:{server.port}/hook"})
    assert created.status_code == 201
    assert created.json()["check"]["ok"] is True  # the save's check reached the server
    server.seen.clear()
    evil_dns.names["flip.example"] = ["169.254.169.254"]
    check = api.call("POST", f"/destinations/{created.json()['id']}/check")
    assert check.status_code == 200, check.text
    assert check.json()["ok"] is False
    assert "network guard refused" in check.text
    assert server.seen == []


# -- at run time --------------------------------------------------------------------------------


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = next(_gen := make_harness(tmp_path, None))
    h.sql("CREATE TABLE people AS SELECT 1 AS id, 'a@example.com' AS email")
    try:
        yield h
    finally:
        _gen.close()


def _run(harness: Harness, type_: str, config: dict[str, Any]) -> Any:
    sync_id = harness.make_sync(
        model_sql="SELECT * FROM people",
        primary_key="id",
        destination_type=type_,
        destination_config=config,
        mapping=[{"source_column": "email", "destination_field": "email"}],
    )
    _, run = harness.run(sync_id)
    return run


@pytest.mark.parametrize(
    "type_, config",
    [
        ("webhook", _webhook("0xa9fea9fe")),
        ("webhook", _webhook("[::ffff:169.254.169.254]")),
        ("hubspot", _hubspot("169.254.169.254")),
        ("salesforce", _sf_login("2852039166")),
        ("postgres", _pg_kv("169.254.169.254")),
        ("mysql", _mysql("fd00:ec2::254")),
    ],
    ids=["webhook-hex", "webhook-mapped", "hubspot", "salesforce", "postgres", "mysql"],
)
def test_a_stored_bad_address_fails_the_run_as_destination_error(
    harness: Harness, dns: FakeDNS, type_: str, config: dict[str, Any]
) -> None:
    """A config saved before the guard (or written to the store directly) fails cleanly."""
    run = _run(harness, type_, config)
    assert (run.status, run.result_reason_code) == ("failed", "destination_error"), (
        run.error_message
    )
    assert "network guard refused" in run.error_message


def test_dns_rebinding_at_run_time(harness: Harness, dns: FakeDNS, server: LocalServer) -> None:
    dns.names["flip.example"] = ["169.254.169.254"]
    run = _run(harness, "webhook", {"url": f"http://flip.example:{server.port}/hook"})
    assert run.result_reason_code == "destination_error"
    assert "resolved to 169.254.169.254" in run.error_message
    assert server.seen == []


def test_salesforce_instance_url_from_oauth_is_checked(
    harness: Harness, dns: FakeDNS, server: LocalServer
) -> None:
    """The token endpoint is allowed; the ``instance_url`` it returns points at the metadata
    service: API calls to it are refused."""
    body = b'{"access_token": "tok", "instance_url": "http://169.254.169.254"}'
    server.reply = lambda path: (200, {"Content-Type": "application/json"}, body)
    config = {"login_url": server.base, "auth": _sf_auth(), "object": "Contact"}
    run = _run(harness, "salesforce", config)
    assert run.result_reason_code == "destination_error", run.error_message
    assert "network guard refused 169.254.169.254" in run.error_message
    assert [p for _, p, _ in server.seen] == ["/services/oauth2/token"]
