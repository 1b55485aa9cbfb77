"""Where a PostgreSQL connection may go: every host of the DSN through the network guard.

libpq resolves host names itself, so the guard resolves first and hands libpq the checked
addresses as ``hostaddr`` (one entry per address, the name kept in ``host`` for TLS
verification and ``.pgpass``): libpq then connects to exactly what was checked, never to a
second, different DNS answer. A ``hostaddr`` in the DSN is checked as given. A Unix socket
(no host, or a path) is local, so it counts as loopback: refused when private addresses are.
"""

from __future__ import annotations

import os

import psycopg
from psycopg.conninfo import conninfo_to_dict

from syncline.connectors._netguard import (
    ALLOW_PRIVATE_ENV,
    BlockedAddressError,
    NetworkPolicy,
    check_at_save,
    check_host,
    current_policy,
    parse_ip,
)
from syncline.connectors.base import DestinationError

__all__ = ["check_dsn_at_save", "guarded_params"]


def _split(value: object) -> list[str]:
    return [part.strip() for part in str(value).split(",")] if value not in (None, "") else []


def _targets(dsn: str) -> tuple[list[str], list[str], list[str]]:
    """(hosts, hostaddrs, ports) of a DSN, with libpq's environment defaults."""
    params = conninfo_to_dict(dsn)
    hosts = _split(params.get("host") or os.environ.get("PGHOST"))
    hostaddrs = _split(params.get("hostaddr") or os.environ.get("PGHOSTADDR"))
    return hosts, hostaddrs, _split(params.get("port"))


def _is_socket(host: str) -> bool:
    return host == "" or host.startswith(("/", "@"))


def _refuse_socket(policy: NetworkPolicy) -> None:
    if not policy.allow_private:
        raise BlockedAddressError(
            f"the network guard refused a local socket connection: {ALLOW_PRIVATE_ENV} is false"
        )


def guarded_params(dsn: str, *, policy: NetworkPolicy | None = None) -> dict[str, str]:
    """Connection parameters overriding the DSN's so libpq uses only checked addresses.

    Raises:
        BlockedAddressError: a host (or one of its addresses) is refused.
        DestinationError: a host does not resolve (retryable: DNS may recover).
        psycopg.ProgrammingError: the DSN is malformed.
    """
    policy = policy or current_policy()
    hosts, hostaddrs, ports = _targets(dsn)
    if hostaddrs:
        for address in hostaddrs:
            if address and parse_ip(address) is not None:
                check_host(address, policy=policy)
        return {}
    if not hosts or all(_is_socket(h) for h in hosts):
        _refuse_socket(policy)
        return {}
    out_hosts: list[str] = []
    out_addrs: list[str] = []
    out_ports: list[str] = []
    for i, host in enumerate(hosts):
        port = ports[i] if len(ports) == len(hosts) else (ports[0] if ports else "")
        if _is_socket(host):
            _refuse_socket(policy)
            addresses = [""]  # an empty hostaddr entry: libpq uses the socket path
        else:
            try:
                addresses = check_host(host, policy=policy)
            except OSError as exc:
                raise DestinationError(
                    f"cannot connect to PostgreSQL: cannot resolve {host}: {exc}", retryable=True
                ) from exc
        for address in addresses:
            out_hosts.append(host)
            out_addrs.append(address)
            out_ports.append(port)
    params = {"host": ",".join(out_hosts), "hostaddr": ",".join(out_addrs)}
    if any(out_ports):
        params["port"] = ",".join(out_ports)
    return params


def check_dsn_at_save(dsn: str) -> None:
    """The save-time check of a DSN's hosts (a malformed DSN is left to the connection).

    Raises:
        ValueError: a host is refused.
    """
    try:
        hosts, hostaddrs, _ = _targets(dsn)
    except psycopg.Error:
        return
    for host in hostaddrs or hosts or [""]:
        if not _is_socket(host):
            check_at_save(host)
            continue
        try:
            _refuse_socket(current_policy())
        except BlockedAddressError as exc:
            raise ValueError(str(exc)) from None
