"""The network guard: every spelling of a forbidden address is refused, at connect time."""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest

from syncline.connectors._netguard import (
    BlockedAddressError,
    NetworkPolicy,
    check_at_save,
    check_host,
    parse_ip,
)
from syncline.connectors._netguard_http import guarded_async_client, guarded_client
from tests.security.conftest import FakeDNS, LocalServer, deny_private

METADATA = ipaddress.ip_address("169.254.169.254")

# Every way of writing 169.254.169.254 a resolver or an HTTP library may accept.
METADATA_SPELLINGS = [
    "169.254.169.254",
    "169.254.169.254.",
    "2852039166",
    "0xa9fea9fe",
    "0XA9FEA9FE",
    "0251.0376.0251.0376",
    "0251.254.0xa9.0376",
    "169.16689662",
    "169.254.43518",
    "0xa9.0xfe.0xa9.0xfe",
    "[169.254.169.254]",
    "::ffff:169.254.169.254",
    "[::ffff:169.254.169.254]",
    "::ffff:a9fe:a9fe",
    "0:0:0:0:0:ffff:a9fe:a9fe",
]

REFUSED = [
    *METADATA_SPELLINGS,
    "169.254.1.1",  # any link-local
    "fe80::1",
    "fe80::1%eth0",
    "[fe80::1%25eth0]",
    "fd00:ec2::254",
    "fd20:ce::254",
    "100.100.100.200",
    "0.0.0.0",
    "0",
    "0.1.2.3",
    "::",
    "224.0.0.1",
    "239.255.255.250",
    "ff02::1",
    "255.255.255.255",
    "240.0.0.1",
    "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
    "2002:a9fe:a9fe::1",  # 6to4 of it
    "::169.254.169.254",  # IPv4-compatible
    "metadata.google.internal",
    "metadata.google.internal.",
    "METADATA.GOOGLE.INTERNAL",
    "metadata.goog",
]

PRIVATE = [
    "127.0.0.1",
    "127.1",
    "0x7f000001",
    "::1",
    "[::1]",
    "10.0.0.5",
    "192.168.1.1",
    "172.16.0.1",
    "fd12:3456::1",
    "100.64.0.1",
    "::ffff:10.0.0.1",
    "localhost-name",
]


@pytest.mark.parametrize("spelling", METADATA_SPELLINGS)
def test_every_spelling_is_normalised(spelling: str) -> None:
    assert parse_ip(spelling) in (METADATA, ipaddress.ip_address("::ffff:169.254.169.254"))


@pytest.mark.parametrize("host", ["example.com", "1.2.3.4.5", "1..2", "08.1.1.1", "1_0.0.0.1", ""])
def test_names_are_not_addresses(host: str) -> None:
    assert parse_ip(host) is None


@pytest.mark.parametrize("host", REFUSED)
def test_always_refused(host: str) -> None:
    policy = NetworkPolicy(allow_private=True, resolver=FakeDNS())
    with pytest.raises(BlockedAddressError, match="network guard refused"):
        check_host(host, policy=policy)


@pytest.mark.parametrize("host", PRIVATE)
def test_private_allowed_by_default_and_deniable(host: str) -> None:
    dns = FakeDNS({"localhost-name": ["127.0.0.1"]})
    assert check_host(host, policy=NetworkPolicy(allow_private=True, resolver=dns))
    with pytest.raises(BlockedAddressError, match="ALLOW_PRIVATE is false"):
        check_host(host, policy=NetworkPolicy(allow_private=False, resolver=dns))


def test_public_addresses_pass() -> None:
    dns = FakeDNS({"api.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})
    policy = NetworkPolicy(allow_private=False, resolver=dns)
    assert check_host("api.example.com", policy=policy) == ["93.184.216.34", "2606:2800:220:1::1"]
    assert check_host("8.8.8.8", policy=policy) == ["8.8.8.8"]
    assert check_host("0x08080808", policy=policy) == ["8.8.8.8"]


@pytest.mark.parametrize(
    "answer", [["169.254.169.254"], ["93.184.216.34", "169.254.169.254"], ["fe80::1"], ["::"]]
)
def test_names_resolving_to_refused_addresses(answer: list[str]) -> None:
    dns = FakeDNS({"evil.example": answer})
    with pytest.raises(BlockedAddressError, match=r"evil\.example .*resolved to"):
        check_host("evil.example", policy=NetworkPolicy(resolver=dns))


def test_policy_from_env() -> None:
    assert NetworkPolicy.from_env({}).allow_private
    assert not NetworkPolicy.from_env({"SYNCLINE_NETWORK_ALLOW_PRIVATE": "false"}).allow_private
    assert not NetworkPolicy.from_env({"SYNCLINE_NETWORK_ALLOW_PRIVATE": "0"}).allow_private
    assert NetworkPolicy.from_env({"SYNCLINE_NETWORK_ALLOW_PRIVATE": "true"}).allow_private


def test_save_check_accepts_unresolvable_names_and_refuses_bad_ones() -> None:
    policy = NetworkPolicy(resolver=FakeDNS({"evil.example": ["169.254.169.254"]}))
    check_at_save("not-yet-in-dns.example", policy=policy)
    with pytest.raises(ValueError, match="network guard refused"):
        check_at_save("evil.example", policy=policy)


# -- through the real transport ---------------------------------------------------------------


def test_allowed_name_connects_to_the_checked_address_keeping_host(
    server: LocalServer, dns: FakeDNS
) -> None:
    dns.names["crm.internal.example"] = ["127.0.0.1"]
    with guarded_client() as client:
        response = client.get(f"http://crm.internal.example:{server.port}/hello")
    assert response.status_code == 200
    assert server.seen == [("GET", "/hello", f"crm.internal.example:{server.port}")]


def test_deny_private_refuses_the_local_server(server: LocalServer, dns: FakeDNS) -> None:
    deny_private(dns)
    with guarded_client() as client, pytest.raises(BlockedAddressError, match="ALLOW_PRIVATE"):
        client.get(f"{server.base}/hello")
    assert server.seen == []


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254./latest/meta-data/",
        "http://2852039166/latest/meta-data/",
        "http://0xa9fea9fe/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/latest/meta-data/",
    ],
)
def test_transport_refuses_before_connecting(url: str, dns: FakeDNS) -> None:
    with guarded_client() as client, pytest.raises(BlockedAddressError):
        client.get(url)
    assert dns.calls == []  # literal addresses and metadata names never reach the resolver


def test_dns_rebinding_is_caught_at_connect_time(server: LocalServer, dns: FakeDNS) -> None:
    """The name passed the check when the config was saved; at connect time it points at the
    metadata service: the connection is refused, because the guard checks what it connects to."""
    dns.names["rebind.example"] = ["127.0.0.1"]
    check_at_save("rebind.example")
    dns.names["rebind.example"] = ["169.254.169.254"]
    with (
        guarded_client() as client,
        pytest.raises(BlockedAddressError, match=r"169\.254\.169\.254"),
    ):
        client.get(f"http://rebind.example:{server.port}/")
    assert server.seen == []


@pytest.mark.parametrize(
    "location",
    ["http://169.254.169.254/latest/meta-data/", "http://0xa9fea9fe/", "http://[fe80::1]/x"],
)
def test_redirects_are_checked_again(server: LocalServer, dns: FakeDNS, location: str) -> None:
    server.reply = lambda path: (302, {"Location": location}, b"")
    with (
        guarded_client(follow_redirects=True) as client,
        pytest.raises(BlockedAddressError),
    ):
        client.get(f"{server.base}/start")
    assert [p for _, p, _ in server.seen] == ["/start"]


def test_unresolvable_name_is_a_connection_error(dns: FakeDNS) -> None:
    with guarded_client() as client, pytest.raises(httpx.ConnectError, match="cannot resolve"):
        client.get("http://nowhere.example/")


def test_next_address_is_tried_when_one_refuses(server: LocalServer, dns: FakeDNS) -> None:
    dns.names["two.example"] = ["127.0.0.2", "127.0.0.1"]  # nothing listens on .2
    with guarded_client() as client:
        assert client.get(f"http://two.example:{server.port}/").status_code == 200


def test_async_client_is_guarded_too(server: LocalServer, dns: FakeDNS) -> None:
    dns.names["crm.internal.example"] = ["127.0.0.1"]
    dns.names["evil.example"] = ["169.254.169.254"]

    async def go() -> int:
        async with guarded_async_client() as client:
            ok = await client.get(f"http://crm.internal.example:{server.port}/a")
            with pytest.raises(BlockedAddressError):
                await client.get(f"http://evil.example:{server.port}/b")
            with pytest.raises(BlockedAddressError):
                await client.get("http://2852039166/latest/meta-data/")
            deny_private(dns)
            with pytest.raises(BlockedAddressError):
                await client.get(f"http://127.0.0.1:{server.port}/c")
            return ok.status_code

    assert asyncio.run(go()) == 200
    assert [p for _, p, _ in server.seen] == ["/a"]
