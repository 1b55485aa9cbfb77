"""A local emulator of the part of the Salesforce REST API that Syncline uses.

Real HTTP on 127.0.0.1 (stdlib ``ThreadingHTTPServer`` in a thread), state in memory. Used by
the test suite and usable by the demo::

    with SalesforceEmulator({"Contact": CONTACT_FIELDS}) as sf:
        sf.url                      # instance and login URL
        sf.records("Contact")       # what the org holds
        sf.inject("status", status=503, retry_after=1)

Written from the vendor documentation (links on each handler). It implements:

* the OAuth 2.0 token endpoint (client credentials and password flows); ``expire_tokens()``
  makes every issued token answer 401 INVALID_SESSION_ID;
* ``GET /sobjects`` and ``GET /sobjects/{SObject}/describe``;
* ``GET /query?q=SELECT ... FROM ... [WHERE field IN (...)]`` with ``nextRecordsUrl`` paging;
* sObject Collections create, update, upsert by external ID and delete, 200 records at most;
* Bulk API 2.0 ingest jobs (insert, update, upsert, delete) and their result CSVs;
* validation against the configured schema (unknown field, not createable/updateable,
  required, number/boolean/date/datetime/email formats, length, unique values) and
  per-record rejections of chosen values (``reject``);
* faults on demand (``inject``): REQUEST_LIMIT_EXCEEDED, any status with ``Retry-After``,
  slow answers (the request is applied, the answer comes late), token expiry.

Records and write rules live in ``_salesforce_emulator_org``, queries and sObject
Collections in ``_salesforce_emulator_rest``, Bulk API 2.0 jobs in
``_salesforce_emulator_bulk``, the HTTP harness in ``_crm_emulator_http``.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from syncline.emulators._crm_emulator_http import (
    Call,
    EmulatorServer,
    Fault,
    Response,
    json_response,
)
from syncline.emulators._salesforce_emulator_bulk import BulkJobs
from syncline.emulators._salesforce_emulator_org import (
    CONTACT_FIELDS,
    LIMIT,
    SfField,
    SObject,
    sf_error,
)
from syncline.emulators._salesforce_emulator_rest import RestApi

__all__ = ["CONTACT_FIELDS", "Fault", "SalesforceEmulator", "SfField"]

PREFIXES = {"account": "001", "contact": "003", "lead": "00Q", "opportunity": "006"}


class SalesforceEmulator(EmulatorServer):
    """An org with the configured objects; see the module docstring for what it serves.

    Fault kinds for ``inject``: ``request_limit`` (403 REQUEST_LIMIT_EXCEEDED, ``message``
    defaults to the concurrent limit), ``status`` (any ``status``, e.g. 503 or 429),
    ``slow`` (processes the request, then waits ``delay`` seconds before answering: a client
    timeout there is the "applied, answer lost" case) and ``expire_token``.
    Each takes ``times``, ``after`` (skip that many matching requests first), ``match``
    (substring of "METHOD /path") and ``retry_after`` (seconds, sent as ``Retry-After``).
    """

    def __init__(
        self,
        objects: dict[str, list[SfField]] | None = None,
        *,
        client_id: str = "syncline-client",
        client_secret: str = "syncline-secret",
        username: str = "integration@example.com",
        password: str = "password",
        security_token: str = "",
        bulk_polls_in_progress: int = 1,
        query_page_size: int = 2000,
    ) -> None:
        super().__init__()
        objects = objects if objects is not None else {"Contact": CONTACT_FIELDS}
        self.objects = {
            name.lower(): SObject(name, list(fields), PREFIXES.get(name.lower(), f"a0{i}"))
            for i, (name, fields) in enumerate(objects.items())
        }
        self.client_id, self.client_secret = client_id, client_secret
        self.username, self.password = username, password + security_token
        self.rest = RestApi(self.objects, query_page_size)
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.bulk = BulkJobs(self.objects, bulk_polls_in_progress)

    # -- inspection and control ----------------------------------------------------------------

    def records(self, sobject: str) -> list[dict[str, Any]]:
        """Copies of the object's records, every field present (None when unset)."""
        with self.lock:
            return [dict(row) for row in self._obj(sobject).rows.values()]

    def by_field(self, sobject: str, name: str) -> dict[str, dict[str, Any]]:
        """Records keyed by ``str`` of a field's value (e.g. the external ID)."""
        return {str(r[name]): r for r in self.records(sobject) if r.get(name) is not None}

    def seed(self, sobject: str, rows: list[dict[str, Any]]) -> list[str]:
        """Create records directly (validated like an API create); returns their Ids."""
        with self.lock:
            return [self._obj(sobject).create(row) for row in rows]

    def reject(
        self,
        sobject: str,
        field: str,
        values: list[str],
        message: str = "rejected by a validation rule",
        code: str = "FIELD_CUSTOM_VALIDATION_EXCEPTION",
    ) -> None:
        """Fail writes of records whose ``field`` is one of ``values``, like a validation rule."""
        with self.lock:
            self._obj(sobject).rejects.append((field, {str(v) for v in values}, message, code))

    def expire_tokens(self) -> None:
        """Every token issued so far now answers 401 INVALID_SESSION_ID."""
        with self.lock:
            self.tokens.clear()

    def remove_field(self, sobject: str, name: str) -> None:
        with self.lock:
            del self._obj(sobject).fields[name.lower()]

    def _obj(self, name: str) -> SObject:
        return self.objects[name.lower()]

    # -- dispatch ------------------------------------------------------------------------------

    def dispatch(self, method: str, raw: str, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(raw)
        path, query = parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}
        fault = self.next_fault(method, path)
        if fault is not None and (response := self._fault(fault)) is not None:
            with self.lock:
                self.calls.append(Call(method, path, 0, response[0]))
            return response
        response = self._serve(method, path, query, headers, body)
        if fault is not None and fault.kind == "slow":
            # Applied, but answered late: a client that times out here must not apply twice.
            time.sleep(fault.delay)
        return response

    def _serve(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Response:
        if path == "/services/oauth2/token" and method == "POST":
            return self._token({k: v[0] for k, v in parse_qs(body.decode()).items()})
        match = re.match(r"^/services/data/(v\d+\.\d)/(.+?)/?$", path)
        if match is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        token = headers.get("authorization", "").removeprefix("Bearer ").strip()
        with self.lock:
            if token not in self.tokens:
                self.calls.append(Call(method, path, 0, 401))
                return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            try:
                response, records = self._route(method, match[1], match[2], query, body)
            except (ValueError, KeyError, IndexError) as exc:
                response, records = sf_error(400, "JSON_PARSER_ERROR", f"bad request: {exc}"), 0
            self.calls.append(Call(method, path, records, response[0]))
        return response

    def _fault(self, fault: Fault) -> Response | None:
        extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        if fault.kind == "slow":
            return None
        if fault.kind == "expire_token":
            self.expire_tokens()
            return None
        if fault.kind == "request_limit":
            message = fault.message or "ConcurrentPerOrgLongTxn Limit exceeded."
            return sf_error(403, "REQUEST_LIMIT_EXCEEDED", message, **extra)
        code = "SERVER_UNAVAILABLE" if fault.status >= 500 else "REQUEST_LIMIT_EXCEEDED"
        return sf_error(
            fault.status, code, fault.message or f"injected HTTP {fault.status}", **extra
        )

    def _route(
        self, method: str, version: str, rest: str, query: dict[str, str], body: bytes
    ) -> tuple[Response, int]:
        parts = rest.split("/")
        if (method, rest) == ("GET", "sobjects"):
            return self._sobjects(version), 0
        if (
            method == "GET"
            and len(parts) == 3
            and parts[0] == "sobjects"
            and parts[2] == "describe"
        ):
            return self._describe(parts[1]), 0
        if method == "GET" and parts[0] == "query":
            locator = parts[1] if len(parts) > 1 else None
            return self.rest.query(version, query.get("q", ""), locator), 0
        if parts[:2] == ["composite", "sobjects"]:
            return self.rest.collection(method, parts[2:], query, body)
        if parts[:2] == ["jobs", "ingest"]:
            return self.bulk.handle(method, parts[2:], body)
        return sf_error(404, "NOT_FOUND", "The requested resource does not exist"), 0

    # -- OAuth 2.0 -----------------------------------------------------------------------------

    def _token(self, form: dict[str, str]) -> Response:
        """``POST /services/oauth2/token`` (client credentials and username-password flows).

        https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_client_credentials_flow.htm
        """
        with self.lock:
            self.token_requests += 1
            grant = form.get("grant_type")
            if (form.get("client_id"), form.get("client_secret")) != (
                self.client_id,
                self.client_secret,
            ):
                error = {
                    "error": "invalid_client",
                    "error_description": "invalid client credentials",
                }
                return json_response(400, error)
            if grant == "password" and (form.get("username"), form.get("password")) != (
                self.username,
                self.password,
            ):
                return json_response(
                    400, {"error": "invalid_grant", "error_description": "authentication failure"}
                )
            if grant not in ("password", "client_credentials"):
                error = {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                }
                return json_response(400, error)
            token = f"00D000000000001!{secrets.token_hex(24)}"
            self.tokens.add(token)
        return json_response(
            200,
            {
                "access_token": token,
                "instance_url": self.url,
                "id": f"{self.url}/id/00D000000000001AAA/005000000000001AAA",
                "token_type": "Bearer",
                "issued_at": str(int(time.time() * 1000)),
                "signature": secrets.token_urlsafe(32),
            },
        )

    # -- metadata ------------------------------------------------------------------------------

    def _sobjects(self, version: str) -> Response:
        """``GET /sobjects`` (Describe Global).

        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_describeGlobal.htm
        """
        items = [self._summary(o, version) for o in self.objects.values()]
        return json_response(200, {"encoding": "UTF-8", "maxBatchSize": LIMIT, "sobjects": items})

    def _summary(self, o: SObject, version: str) -> dict[str, Any]:
        return {
            "name": o.name,
            "label": o.name.removesuffix("__c"),
            "keyPrefix": o.prefix,
            "custom": o.name.endswith("__c"),
            **dict.fromkeys(("createable", "updateable", "deletable", "queryable"), True),
            "urls": {"sobject": f"/services/data/{version}/sobjects/{o.name}"},
        }

    def _describe(self, name: str) -> Response:
        """``GET /sobjects/{SObject}/describe``.

        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_sobject_describe.htm
        """
        o = self.objects.get(name.lower())
        if o is None:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        fields = [f.describe() for f in o.fields.values()]
        return json_response(200, {**self._summary(o, "v60.0"), "fields": fields})
