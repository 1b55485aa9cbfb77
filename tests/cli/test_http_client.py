"""The CLI's HTTP client on answers a real Syncline server rarely gives (proxies, restarts)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from syncline.cli import follow as cli_follow
from syncline.cli.http import ApiClient, CliError

WS = "6f1c2a0e-0000-4000-8000-000000000001"
RUN = {"id": "r1", "sync_id": "s1", "status": "pending", "rows_synced": 0, "rows_failed": 0}


def client(handler: Callable[[httpx.Request], httpx.Response]) -> ApiClient:
    return ApiClient("http://syncline.test", "sl_x", WS, transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("status", "code"), [(401, 4), (403, 4), (404, 3), (409, 1), (400, 2), (422, 2), (503, 5)]
)
def test_status_to_exit_code(status: int, code: int) -> None:
    api = client(lambda _: httpx.Response(status, json={"detail": "nope"}))
    with pytest.raises(CliError) as err:
        api.get("/syncs")
    assert err.value.code == code
    assert err.value.lines == [f"error: nope (HTTP {status})"]


def test_a_proxy_error_page_is_one_line_exit_5() -> None:
    api = client(lambda _: httpx.Response(502, text="<html>\n<h1>Bad Gateway</h1>\n</html>"))
    with pytest.raises(CliError) as err:
        api.get("/syncs")
    assert err.value.code == 5
    assert err.value.lines == ["error: HTTP 502: <html> <h1>Bad Gateway</h1> </html>"]


def test_a_success_without_json_is_exit_5() -> None:
    api = client(lambda _: httpx.Response(200, text="it works!"))
    with pytest.raises(CliError) as err:
        api.get("/syncs")
    assert err.value.code == 5 and "without JSON" in err.value.lines[0]


def test_sends_the_token_and_drops_unset_query_params() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=[], headers={"X-Total-Count": "42"})

    answer = client(handler).get("/syncs", status=None, q="crm", page=2)
    assert answer.total == 42 and answer.data == []
    assert seen[0].url.path == f"/api/v1/workspaces/{WS}/syncs"
    assert dict(seen[0].url.params) == {"q": "crm", "page": "2"}
    assert seen[0].headers["Authorization"] == "Bearer sl_x"


def test_waiting_survives_a_short_outage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_follow, "POLL_SECONDS", 0)
    answers = iter([503, 503, 200])

    def handler(_: httpx.Request) -> httpx.Response:
        status = next(answers)
        if status == 503:
            return httpx.Response(503, json={"detail": "restarting"})
        return httpx.Response(200, json={**RUN, "status": "completed"})

    run = cli_follow.wait_for_run(client(handler), dict(RUN), timeout=None, live=False)
    assert run["status"] == "completed"


def test_waiting_gives_up_on_a_server_that_stays_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_follow, "POLL_SECONDS", 0)
    calls: list[int] = []

    def handler(_: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("connection refused")

    with pytest.raises(CliError) as err:
        cli_follow.wait_for_run(client(handler), dict(RUN), timeout=None, live=False)
    assert err.value.code == 5 and len(calls) == cli_follow.MAX_POLL_ERRORS + 1


def test_waiting_stops_at_once_on_a_404(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_follow, "POLL_SECONDS", 0)
    api = client(lambda _: httpx.Response(404, json={"detail": "Run not found"}))
    with pytest.raises(CliError) as err:
        cli_follow.wait_for_run(api, dict(RUN), timeout=None, live=False)
    assert err.value.code == 3
