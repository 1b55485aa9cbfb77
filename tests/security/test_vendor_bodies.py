"""What a target answers is quoted in errors truncated, with the tokens it echoes blanked."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from syncline.connectors._http import BODY_LIMIT, quote_body
from syncline.connectors.base import ChangeBatch, DestinationError, Operation, RunInfo, SyncMode
from syncline.connectors.destinations.hubspot.destination import (
    HubSpotDestination,
    HubSpotDestinationConfig,
)
from syncline.connectors.destinations.salesforce.destination import (
    SalesforceDestination,
    SalesforceDestinationConfig,
)
from syncline.connectors.destinations.webhook.destination import (
    WebhookDestination,
    WebhookDestinationConfig,
)
from tests.security.conftest import LocalServer

TOKEN = "ASIAQWERTYUIOPASDFGH"
SECRET = "wJalrXUtnFEMI7K7MDENG7bPxRfiCYEXAMPLEKEY12"
LEAKY = (
    f'{{"Code": "Success", "AccessKeyId": "{TOKEN}", "SecretAccessKey": "{SECRET}", '
    f'"access_token": "tok-{SECRET}", "note": "Authorization: Bearer abcdefgh12345678"}} '
    + "padding "
    * 2000
)


def _assert_quoted(message: str) -> None:
    assert TOKEN not in message and SECRET not in message and "abcdefgh12345678" not in message
    assert len(message) < BODY_LIMIT + 300  # the body part is cut at BODY_LIMIT


def test_quote_body() -> None:
    quoted = quote_body(LEAKY)
    _assert_quoted(quoted)
    assert quoted.endswith("...") and "***" in quoted
    plain = "Email is not a valid address (field: Email); status 400"
    assert quote_body(plain) == plain
    assert quote_body("line one\n\n  line two") == "line one line two"


def test_webhook_check_and_write(server: LocalServer) -> None:
    server.reply = lambda path: (500 if path == "/check" else 400, {}, LEAKY.encode())
    check = WebhookDestination(WebhookDestinationConfig(url=f"{server.base}/check")).check()
    assert not check.ok and "HTTP 500" in check.message
    _assert_quoted(check.message)

    dest = WebhookDestination(WebhookDestinationConfig(url=f"{server.base}/hook", max_retries=0))
    try:
        dest.begin(RunInfo("s", "r", SyncMode.UPSERT, "id", ["id"]))
        table = pa.table({"id": ["1"]})
        result = dest.write(ChangeBatch(Operation.UPSERT, table, ["1"], "id"))
    finally:
        dest.close()
    (error,) = result.errors
    assert "HTTP 400" in error.message
    _assert_quoted(error.message)


def test_webhook_per_record_messages(server: LocalServer) -> None:
    body = json.dumps({"results": [{"key": "1", "status": "error", "error": LEAKY}]}).encode()
    server.reply = lambda path: (200, {"Content-Type": "application/json"}, body)
    config = WebhookDestinationConfig(url=f"{server.base}/hook", results_path="results")
    dest = WebhookDestination(config)
    try:
        dest.begin(RunInfo("s", "r", SyncMode.UPSERT, "id", ["id"]))
        result = dest.write(ChangeBatch(Operation.UPSERT, pa.table({"id": ["1"]}), ["1"], "id"))
    finally:
        dest.close()
    (error,) = result.errors
    _assert_quoted(error.message)


@pytest.mark.parametrize("status", [400, 500])
def test_hubspot_check(server: LocalServer, status: int) -> None:
    server.reply = lambda path: (status, {"Content-Type": "text/plain"}, LEAKY.encode())
    config = HubSpotDestinationConfig(access_token="pat-na1-x", base_url=server.base)
    dest = HubSpotDestination(config)
    try:
        check = dest.check()
    finally:
        dest.close()
    assert not check.ok
    _assert_quoted(check.message)


def test_salesforce_login_error(server: LocalServer) -> None:
    body = json.dumps({"error": "invalid_grant", "error_description": LEAKY}).encode()
    server.reply = lambda path: (400, {"Content-Type": "application/json"}, body)
    config = SalesforceDestinationConfig.model_validate(
        {"login_url": server.base, "auth": {"client_id": "a", "client_secret": "b"}, "object": "C"}
    )
    dest = SalesforceDestination(config)
    try:
        check = dest.check()
    finally:
        dest.close()
    assert not check.ok and "invalid_grant" in check.message
    _assert_quoted(check.message)
    with pytest.raises(DestinationError) as caught:
        dest.begin(RunInfo("s", "r", SyncMode.UPSERT, "id", ["id"]))
    dest.close()
    _assert_quoted(str(caught.value))
