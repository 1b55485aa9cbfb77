"""HTTP clients whose every connection goes through the network guard.

The guard sits in httpcore's *network backend*: when the pool opens a TCP connection it
resolves the host, checks every address (``_netguard.check_host``) and connects to a checked
address, while TLS (SNI, certificate verification) and the ``Host`` header still use the name
from the URL. So the check happens at connect time, on the address actually used (no DNS
rebinding), for every request and every redirect hop, whoever builds the request.

A refusal raises :class:`~syncline.connectors._netguard.BlockedAddressError` out of the
request (a ``DestinationError``, not an ``httpx`` error, so retry loops that retry transport
errors do not retry it). Environment proxies and ``.netrc`` are ignored (``trust_env=False``):
through a proxy the guard would only see the proxy's address.
"""

from __future__ import annotations

import ssl
import typing
from typing import Any

import anyio.to_thread
import httpcore
import httpx

from syncline.connectors._metrics import AsyncMeasuredTransport, MeasuredTransport
from syncline.connectors._netguard import (
    NetworkPolicy,
    check_at_save,
    check_host,
    current_policy,
    parse_ip,
)

__all__ = [
    "AsyncGuardedTransport",
    "GuardedTransport",
    "guarded_async_client",
    "guarded_client",
    "validate_url",
]

SocketOption = typing.Any  # httpcore's SOCKET_OPTION union
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


def _addresses(host: str, policy: NetworkPolicy | None) -> list[str]:
    """Checked addresses of ``host``; a name that does not resolve is a connection error."""
    try:
        return check_host(host, policy=policy or current_policy())
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, connecting only to addresses the guard allowed."""

    def __init__(self, policy: NetworkPolicy | None = None) -> None:
        self._policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in _addresses(host, self._policy):
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc  # like socket.create_connection: try the next address
        assert last is not None
        raise last

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("the network guard allows TCP connections only")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend, connecting only to addresses the guard allowed."""

    def __init__(self, policy: NetworkPolicy | None = None) -> None:
        self._policy = policy
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        if parse_ip(host) is not None:  # a literal: nothing to resolve, no thread hop
            addresses = _addresses(host, self._policy)
        else:  # resolving blocks: off the event loop, like asyncio's own getaddrinfo
            addresses = await anyio.to_thread.run_sync(_addresses, host, self._policy)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the network guard allows TCP connections only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _ssl(verify: ssl.SSLContext | bool) -> ssl.SSLContext:
    return verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify)


class GuardedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` over :class:`GuardedBackend`."""

    def __init__(
        self,
        *,
        policy: NetworkPolicy | None = None,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = _LIMITS,
    ) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        self._pool.close()
        self._pool = httpcore.ConnectionPool(
            ssl_context=_ssl(verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )


class AsyncGuardedTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` over :class:`AsyncGuardedBackend`."""

    def __init__(
        self,
        *,
        policy: NetworkPolicy | None = None,
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits = _LIMITS,
    ) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl(verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AsyncGuardedBackend(policy),
        )


def guarded_client(
    *,
    policy: NetworkPolicy | None = None,
    limits: httpx.Limits = _LIMITS,
    verify: ssl.SSLContext | bool = True,
    destination_type: str | None = None,
    **kwargs: Any,
) -> httpx.Client:
    """An ``httpx.Client`` whose connections the guard checks (``kwargs`` go to the client).

    ``policy`` None follows the process's policy at each connection; ``destination_type``
    set measures every request (``connectors/_metrics.py``).
    """
    kwargs.setdefault("follow_redirects", False)
    transport: httpx.BaseTransport = GuardedTransport(policy=policy, verify=verify, limits=limits)
    if destination_type:
        transport = MeasuredTransport(transport, destination_type)
    return httpx.Client(transport=transport, trust_env=False, **kwargs)


def guarded_async_client(
    *,
    policy: NetworkPolicy | None = None,
    limits: httpx.Limits = _LIMITS,
    verify: ssl.SSLContext | bool = True,
    destination_type: str | None = None,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` whose connections the guard checks; see :func:`guarded_client`."""
    kwargs.setdefault("follow_redirects", False)
    transport: httpx.AsyncBaseTransport = AsyncGuardedTransport(
        policy=policy, verify=verify, limits=limits
    )
    if destination_type:
        transport = AsyncMeasuredTransport(transport, destination_type)
    return httpx.AsyncClient(transport=transport, trust_env=False, **kwargs)


def validate_url(value: str, *, saving: bool) -> str:
    """A config validator's check of an http(s) URL; with ``saving``, its host is guarded too.

    Raises:
        ValueError: the URL is malformed (``httpx.InvalidURL``, e.g. an octal IPv4 address,
            would otherwise escape pydantic as a 500), not http(s), or its host is refused.
    """
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an absolute http:// or https:// URL")
    if saving:
        check_at_save(url.host)
    return value
