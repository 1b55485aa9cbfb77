"""The network guard: which addresses an outbound connection may reach, checked when it connects.

Every connector that opens a connection from the server (HTTP destinations, OAuth endpoints,
database hosts; alert channels later) asks :func:`check_host` for the addresses it may use and
connects to one of *those*, never to the name again, so a DNS answer that changes between the
check and the connect (rebinding) cannot slip past it. HTTP clients get this from
:func:`guarded_client` (``syncline.connectors._netguard_http``); database destinations resolve
with :func:`check_host` and hand the checked address to the driver.

Always refused: link-local (``169.254.0.0/16``, ``fe80::/10``), cloud metadata endpoints (their
addresses and host names), unspecified (``0.0.0.0/8``, ``::``), multicast, broadcast and reserved
addresses. Loopback and private ranges are allowed (Syncline is self-hosted: the CRM emulator,
a warehouse on the LAN) unless ``SYNCLINE_NETWORK_ALLOW_PRIVATE=false``.

Every spelling of an address is normalised first: the ``inet_aton`` forms a resolver accepts
(``2852039166``, ``0xa9fea9fe``, ``0251.0376.0251.0376``, ``169.254.43518``), a trailing dot,
brackets and zone ids, and IPv4 addresses embedded in IPv6 (mapped, compatible, NAT64, 6to4,
Teredo) are judged as the IPv4 address they reach.

This lives in ``connectors/`` (not ``security/``) because connectors may import only
``connectors`` and ``domain``; the policy is configured by ``syncline.bootstrap`` from the
settings, and read from the environment in a process that never ran it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo

from syncline.connectors.base import DestinationError, saving

__all__ = [
    "BlockedAddressError",
    "GuardedHost",
    "NetworkPolicy",
    "check_host",
    "configure",
    "current_policy",
    "parse_ip",
    "refusal",
    "system_resolve",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[str]]

ALLOW_PRIVATE_ENV = "SYNCLINE_NETWORK_ALLOW_PRIVATE"

#: Instance metadata services (AWS, GCP, Azure, Alibaba, Oracle, OpenStack ...). Most sit on
#: 169.254.169.254, which link-local already covers; these are the ones outside it.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",  # ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "168.63.129.16",  # Azure WireServer
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "fd20:ce::254",  # GCP metadata over IPv6
    )
)
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.tencentyun.com",
        "metadata.azure.internal",
    }
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_V4_COMPAT = ipaddress.ip_network("::/96")
_DIGITS = {8: set("01234567"), 10: set("0123456789"), 16: set("0123456789abcdef")}


class BlockedAddressError(DestinationError):
    """The guard refused an address; never retryable (the address will not change its nature)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def system_resolve(host: str) -> list[str]:
    """Every address the system resolver gives for ``host`` (TCP), in its order."""
    infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class NetworkPolicy:
    """What the guard allows beyond the always-refused ranges, and how it resolves names."""

    allow_private: bool = True
    resolver: Resolver = field(default=system_resolve, compare=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> NetworkPolicy:
        """The policy of ``SYNCLINE_NETWORK_ALLOW_PRIVATE`` (default true)."""
        value = (environ if environ is not None else os.environ).get(ALLOW_PRIVATE_ENV, "true")
        return cls(allow_private=value.strip().lower() not in ("0", "false", "no", "off"))


_policy: NetworkPolicy | None = None


def configure(policy: NetworkPolicy | None) -> None:
    """Set the process's policy (``None``: back to the environment's). Called by bootstrap."""
    global _policy
    _policy = policy


def current_policy() -> NetworkPolicy:
    """The configured policy, else the one the environment describes."""
    return _policy if _policy is not None else NetworkPolicy.from_env()


def parse_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address, whatever its spelling; None for a host name.

    Accepts brackets, zone ids (``fe80::1%eth0``, ``%25eth0`` from a URL), a trailing dot and
    the legacy IPv4 forms of ``inet_aton``: 1 to 4 parts, each decimal, octal (leading 0) or
    hex (``0x``), the last part filling the remaining bytes.
    """
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.split("%", 1)[0].rstrip(".")
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return _legacy_ipv4(text)


def _legacy_ipv4(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if not text or len(parts) > 4:
        return None
    numbers = []
    for part in parts:
        if part.startswith("0x"):
            base, digits = 16, part[2:]
        elif len(part) > 1 and part.startswith("0"):
            base, digits = 8, part[1:]
        else:
            base, digits = 10, part
        if not part or not set(digits) <= _DIGITS[base]:
            return None
        numbers.append(int(digits, base) if digits else 0)
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = sum(n << (8 * (3 - i)) for i, n in enumerate(head)) + last
    return ipaddress.IPv4Address(value)


def _embedded_v4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches or carries (mapped, NAT64, 6to4, Teredo)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if any(ip in net for net in _NAT64) or (ip in _V4_COMPAT and int(ip) > 1):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def refusal(ip: IPAddress, policy: NetworkPolicy | None = None) -> str | None:
    """Why the guard refuses ``ip`` (a phrase for a message), or None when it may be reached."""
    policy = policy or current_policy()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        for inner in _embedded_v4(ip):
            why = refusal(inner, policy)
            if why:
                return f"{why} (embedded in {ip})"
    why = _always_refused(ip)
    if why:
        return why
    if not policy.allow_private and (ip.is_loopback or not ip.is_global):
        return f"a private or loopback address, and {ALLOW_PRIVATE_ENV} is false"
    return None


def _always_refused(ip: IPAddress) -> str | None:
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK):
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    if ip.is_reserved and not ip.is_loopback and not _embedded(ip):
        return "a reserved address"
    return None


def _embedded(ip: IPAddress) -> bool:
    return isinstance(ip, ipaddress.IPv6Address) and bool(_embedded_v4(ip))


def _refuse(host: str, ip: IPAddress | None, why: str) -> BlockedAddressError:
    shown = host if ip is None or str(ip) == host else f"{host} ({ip})"
    return BlockedAddressError(f"the network guard refused {shown}: it is {why}")


def check_host(
    host: str, *, policy: NetworkPolicy | None = None, resolve: bool = True
) -> list[str]:
    """The addresses a connection to ``host`` may use, every one of them checked.

    An IP literal (any spelling) is checked as it is; a name is resolved and refused if *any*
    of its addresses is (a name pointing at both a public and a metadata address is an
    attack, not a failover). With ``resolve=False`` a name is judged by itself only and ``[]``
    is returned.

    Raises:
        BlockedAddressError: the host, or one of its addresses, is refused.
        OSError: the name does not resolve (a connection failure, not a refusal).
    """
    policy = policy or current_policy()
    ip = parse_ip(host)
    if ip is not None:
        why = refusal(ip, policy)
        if why:
            raise _refuse(host, ip, why)
        return [str(ip)]
    name = host.strip().lower().rstrip(".")
    if not name:
        raise BlockedAddressError("the network guard refused an empty host name")
    if name in METADATA_NAMES:
        raise _refuse(host, None, "a cloud metadata host name")
    if not resolve:
        return []
    allowed: list[str] = []
    for address in policy.resolver(name):
        resolved = parse_ip(address)
        if resolved is None:
            raise BlockedAddressError(f"the resolver gave {host} a non-address {address!r}")
        why = refusal(resolved, policy)
        if why:
            raise _refuse(host, resolved, f"resolved to {resolved}, {why}")
        allowed.append(str(resolved))
    if not allowed:
        raise OSError(f"{host} resolves to no address")
    return list(dict.fromkeys(allowed))


def check_at_save(host: str, *, policy: NetworkPolicy | None = None) -> None:
    """The check a config validator runs when a config is saved: a name that does not resolve
    (yet) is accepted, since the connection is checked again when it is made.

    Raises:
        ValueError: the host is refused (pydantic reports it as a 422).
    """
    try:
        check_host(host, policy=policy, resolve=True)
    except BlockedAddressError as exc:
        raise ValueError(str(exc)) from None
    except OSError:
        pass


def _host_at_save(value: str, info: ValidationInfo) -> str:
    """When a config is saved, its host passes the network guard (see ``check_at_save``)."""
    if saving(info):
        check_at_save(value)
    return value


#: A config's host name or address, checked by the network guard when the config is saved.
GuardedHost = Annotated[str, AfterValidator(_host_at_save)]


def guarded_addresses(host: str, *, what: str) -> list[str]:
    """The checked addresses of ``host``, for drivers that connect to an address, not a name.

    Raises:
        BlockedAddressError: the network guard refused the host.
        DestinationError: the name does not resolve (retryable: DNS may recover).
    """
    try:
        return check_host(host)
    except OSError as exc:
        raise DestinationError(f"cannot resolve {what} host {host}: {exc}", retryable=True) from exc
