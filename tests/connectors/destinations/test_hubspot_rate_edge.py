"""Two HubSpot clients on one account, at the edge of the emulator's rolling window: the
emulator counts a request when it receives it and refuses (and counts) every request over
the limit; the shared budget must keep both clients under it with no margin to spare."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from syncline.connectors import _ratelimit
from syncline.connectors.destinations.hubspot.client import HubSpotClient
from syncline.emulators.hubspot_emulator import HubSpotEmulator
from syncline.store.db import make_engine, upgrade
from syncline.store.rate_windows import PgRateWindows

LIMIT, INTERVAL_MS, EACH = 5, 400, 15  # 30 requests: six windows, no slack in any


def _two_clients(hs: HubSpotEmulator, backends: list[_ratelimit.RateWindows]) -> list[int]:
    statuses: list[int] = []
    lock = threading.Lock()

    def client(backend: _ratelimit.RateWindows) -> None:
        http = HubSpotClient(base_url=hs.url, token=hs.token, timeout=10.0)
        http.limiter.backend = backend
        try:
            for _ in range(EACH):
                status, _body = http.request("GET", "/crm/v3/properties/contacts")
                with lock:
                    statuses.append(status)
        finally:
            http.close()

    threads = [threading.Thread(target=client, args=(b,)) for b in backends]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return statuses


def _local() -> tuple[list[_ratelimit.RateWindows], Callable[[], None]]:
    shared = _ratelimit.LocalWindows()
    return [shared, shared], lambda: None


@pytest.mark.parametrize("store", ["threads of one worker", "two workers on PostgreSQL"])
def test_two_clients_on_one_account_never_exceed_the_limit_at_the_edge(
    store: str, request: pytest.FixtureRequest
) -> None:
    if store.startswith("threads"):
        backends, close = _local()
    else:
        url = request.getfixturevalue("pg_database").replace(
            "postgresql://", "postgresql+psycopg://"
        )
        upgrade(url)
        engines = [make_engine(url) for _ in range(2)]  # separate pools, separate connections
        backends = [PgRateWindows(e) for e in engines]

        def close() -> None:
            for e in engines:
                e.dispose()

    # No latency: the emulator counts a request the moment it arrives.
    with HubSpotEmulator(rate_limit=LIMIT, rate_interval_ms=INTERVAL_MS) as hs:
        try:
            statuses = _two_clients(hs, backends)
        finally:
            close()
        refused = hs.rate_limited
    assert refused == 0  # never one request over 5 in any rolling 0.4 s, between the two
    assert statuses == [200] * (2 * EACH)


def test_a_closing_client_reports_its_last_answer_so_its_slot_is_not_held() -> None:
    backend = _ratelimit.LocalWindows()
    with HubSpotEmulator() as hs:
        client = HubSpotClient(base_url=hs.url, token=hs.token, timeout=30.0)
        client.limiter.backend = backend
        client.request("GET", "/crm/v3/properties/contacts")
        key = client.limiter.key
        (held,) = backend._windows[key].stamps
        assert held > time.monotonic() + 25  # answered, but not reported yet: still taken
        client.close()
        (answered,) = backend._windows[key].stamps
        assert answered <= time.monotonic()  # reported: it ages out from its answer
