"""Salesforce REST plumbing: OAuth 2.0 tokens, requests that re-authenticate, error mapping.

Every Salesforce call of the destination goes through ``SalesforceClient.request``, which
turns the documented failure shapes into three outcomes (see ``connectors._http`` for retries):

* ``Transient``: waiting may cure it (timeouts, connection loss, 5xx, 429, the concurrent
  request limit). The caller retries the *whole* idempotent step with ``retrying``.
* ``DestinationAuthError``: the credentials are refused, even after one fresh token.
* ``DestinationError``: the request itself is wrong; retrying will not help.

Vendor documentation this follows:

* OAuth 2.0 client credentials flow:
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm
* OAuth 2.0 username-password flow:
  https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_username_password_flow.htm
* Status codes and error responses (``[{"errorCode", "message"}]``, 401 INVALID_SESSION_ID):
  https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
* REQUEST_LIMIT_EXCEEDED (403) for the concurrent and the 24-hour request limits:
  https://developer.salesforce.com/docs/platform/salesforce-app-limits-cheatsheet/guide/salesforce-app-limits-platform-api.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from syncline.connectors._http import Transient, quote_body, retry_after
from syncline.connectors._netguard_http import guarded_client
from syncline.connectors.base import DestinationAuthError, DestinationError


@dataclass(frozen=True)
class Credentials:
    """What the token endpoint needs for one of the two supported OAuth flows."""

    flow: str
    client_id: str
    client_secret: str
    username: str | None = None
    password: str | None = None
    security_token: str = ""


def error_list(response: httpx.Response) -> list[dict[str, Any]]:
    """The ``[{"errorCode", "message"}]`` body of a failed REST call (tolerates other shapes)."""
    try:
        body = response.json()
    except ValueError:
        return [{"errorCode": f"HTTP_{response.status_code}", "message": response.text}]
    if isinstance(body, dict):
        body = [body]
    if not isinstance(body, list):
        return []
    return [e for e in body if isinstance(e, dict)]


def describe_errors(errors: list[dict[str, Any]]) -> str:
    parts = [f"{e.get('errorCode', 'ERROR')}: {e.get('message', '')}".strip() for e in errors]
    return quote_body("; ".join(parts)) or "no error details"


class SalesforceClient:
    """One authenticated session against an org's REST API (``/services/data/vXX.X``)."""

    def __init__(
        self,
        *,
        login_url: str,
        instance_url: str | None,
        api_version: str,
        credentials: Credentials,
        timeout: float,
    ) -> None:
        self._login_url = login_url.rstrip("/")
        self._instance_url = instance_url.rstrip("/") if instance_url else None
        self._version = api_version if api_version.startswith("v") else f"v{api_version}"
        self._credentials = credentials
        # Every connection (token endpoint, the instance_url it returns) is guarded.
        self._http = guarded_client(timeout=timeout, destination_type="salesforce")
        self._token: str | None = None
        self.base_url: str = self._instance_url or self._login_url
        self.token_requests = 0

    @property
    def data_path(self) -> str:
        return f"/services/data/{self._version}"

    def close(self) -> None:
        self._http.close()

    def authenticate(self) -> None:
        """Get a fresh access token from ``/services/oauth2/token``.

        The token response carries the org's ``instance_url``; API calls go there unless the
        config pins one.
        """
        c = self._credentials
        form = {"grant_type": c.flow, "client_id": c.client_id, "client_secret": c.client_secret}
        if c.flow == "password":
            form["username"] = c.username or ""
            form["password"] = (c.password or "") + c.security_token
        self.token_requests += 1
        url = f"{self._login_url}/services/oauth2/token"
        response = self._send("POST", url, data=form)
        if response.status_code >= 500 or response.status_code == 429:
            raise Transient(f"token endpoint answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            error = body.get("error", f"HTTP {response.status_code}")
            detail = body.get("error_description", "")
            text = quote_body(f"{error}: {detail}".rstrip(": "))
            raise DestinationAuthError(f"Salesforce login failed: {text}")
        self._token = str(body["access_token"])
        self.base_url = self._instance_url or str(body.get("instance_url") or self._login_url)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One API call; a 401 INVALID_SESSION_ID gets one new token and one resend.

        ``path`` is relative to ``/services/data/vXX.X`` unless it starts with ``/services/``
        (``nextRecordsUrl`` values are absolute paths like that).
        """
        if self._token is None:
            self.authenticate()
        full = path if path.startswith("/services/") else f"{self.data_path}{path}"
        kwargs: dict[str, Any] = {"json": json, "params": params, "content": content}
        response = self._send(method, self.base_url + full, headers=headers, **kwargs)
        if response.status_code == 401:
            # Sessions expire (timeout, revoked, password change): a resend with a fresh token
            # is safe because a 401 means the request was not processed.
            self.authenticate()
            response = self._send(method, self.base_url + full, headers=headers, **kwargs)
            if response.status_code == 401:
                raise DestinationAuthError(
                    f"Salesforce refused a fresh token: {describe_errors(error_list(response))}"
                )
        self._raise_for(method, full, response)
        return response

    def _send(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if self._token is not None and not url.endswith("/oauth2/token"):
            all_headers["Authorization"] = f"Bearer {self._token}"
        try:
            return self._http.request(method, url, headers=all_headers, **kwargs)
        except httpx.TimeoutException as exc:
            raise Transient(f"{method} {url} timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Transient(f"{method} {url} failed: {exc}") from exc
        except httpx.InvalidURL as exc:  # e.g. an instance_url the token endpoint made up
            raise DestinationError(f"{method} {url}: not a valid URL: {exc}") from exc

    @staticmethod
    def _raise_for(method: str, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status < 400:
            return
        errors = error_list(response)
        detail = describe_errors(errors)
        code = str(errors[0].get("errorCode", "")) if errors else ""
        if code == "REQUEST_LIMIT_EXCEEDED":
            if "TotalRequests" in detail:
                # The 24-hour allocation: waiting minutes will not help, so stop the run.
                raise DestinationError(f"Salesforce API request limit reached: {detail}")
            raise Transient(f"Salesforce concurrent request limit: {detail}", retry_after(response))
        if status == 429 or status >= 500:
            raise Transient(f"{method} {path}: HTTP {status}: {detail}", retry_after(response))
        if status == 403:
            raise DestinationAuthError(f"Salesforce refused {method} {path}: {detail}")
        raise DestinationError(f"Salesforce {method} {path} failed: HTTP {status}: {detail}")
