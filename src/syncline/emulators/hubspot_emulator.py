"""A local emulator of the part of the HubSpot CRM v3 API that Syncline uses.

Real HTTP on 127.0.0.1, state in memory, for the test suite and the demo::

    with HubSpotEmulator({"contacts": CONTACT_PROPERTIES}) as hs:
        hs.url                          # base_url for the destination
        hs.objects("contacts")          # [{"id", "properties", ...}]
        hs.inject("rate_limit", retry_after=1)

It serves ``GET /crm/v3/properties/{objectType}`` and ``POST /crm/v3/objects/{objectType}/
batch/{create,update,upsert,read,archive}`` (100 inputs at most), checks the private app
bearer token, validates values (see ``_hubspot_emulator_store``) and keeps unique properties
unique. Inputs with ``objectWriteTraceId`` get 207 Multi-Status answers with per-input errors;
without it (or with ``multi_status=False``) one bad input fails the whole request, as the
docs describe for batch create. Every answer carries the ``X-HubSpot-RateLimit-*`` headers
of a rolling window (``rate_limit`` requests per ``rate_interval_ms``) that is enforced with
HubSpot's 429 body.

Faults for ``inject``: ``rate_limit`` (429 TEN_SECONDLY_ROLLING), ``daily_limit`` (429 DAILY),
``status`` (any status), ``slow`` (processes the request, then answers ``delay`` s late);
with ``times``, ``after``, ``match`` and ``retry_after`` as in ``salesforce_emulator``.
For benchmarks, ``latency`` delays every answer and ``fault_rate`` answers that share of
requests (seeded) with a 429 or a 503 without applying them.

A request costs work in proportion to its inputs, not to the stored objects: unique
properties are indexed and an all-or-nothing batch undoes only the objects it touched.

* Batch endpoints: https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
* Archive: https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/delete-contacts
* Error handling and 207: https://developers.hubspot.com/docs/api-reference/error-handling
* Rate limits: https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details
"""

from __future__ import annotations

import copy
import json
import random
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from syncline.emulators._crm_emulator_http import (
    Call,
    EmulatorServer,
    Fault,
    Response,
    json_response,
)
from syncline.emulators._hubspot_emulator_store import (
    CONTACT_PROPERTIES,
    BatchError,
    HsObjects,
    HsProperty,
    copy_row,
)

__all__ = ["CONTACT_PROPERTIES", "Fault", "HsProperty", "HubSpotEmulator"]

LIMIT = 100


def hs_error(status: int, category: str, message: str, **extra: Any) -> Response:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4())}
    body["category"] = category
    return json_response(status, body, {k.replace("_", "-"): v for k, v in extra.items()})


class HubSpotEmulator(EmulatorServer):
    """A HubSpot account with the configured object types; see the module docstring."""

    def __init__(
        self,
        object_types: dict[str, list[HsProperty]] | None = None,
        *,
        token: str = "pat-na1-syncline-test",
        multi_status: bool = True,
        missing_on_update: str = "error",
        rate_limit: int = 100,
        rate_interval_ms: int = 10_000,
        daily_limit: int = 250_000,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        seed: int = 16,
    ) -> None:
        super().__init__()
        types = object_types if object_types is not None else {"contacts": CONTACT_PROPERTIES}
        self.types = {
            name: HsObjects(name, list(props), 1001 + 100_000 * i)
            for i, (name, props) in enumerate(types.items())
        }
        self.token = token
        self.multi_status = multi_status
        self.missing_on_update = missing_on_update
        self.rate_limit, self.rate_interval_ms = rate_limit, rate_interval_ms
        self.daily_limit = daily_limit
        self.daily_used = 0
        self.rate_limited = 0  # 429s answered because the window was full
        self._window: deque[float] = deque()
        # A network round trip, slept outside the lock so concurrent requests overlap.
        self.latency = latency
        # Random faults (half 429 without Retry-After, half 503), never applied, seeded.
        self.fault_rate = fault_rate
        self._random = random.Random(seed)

    # -- inspection and control ----------------------------------------------------------------

    def objects(self, object_type: str) -> list[dict[str, Any]]:
        """Copies of the live (not archived) objects: ``{"id", "properties", ...}``."""
        with self.lock:
            return copy.deepcopy(list(self.types[object_type].rows.values()))

    def by_property(self, object_type: str, name: str) -> dict[str, dict[str, Any]]:
        """Live objects' properties keyed by one property's value."""
        return {
            str(o["properties"][name]): o["properties"]
            for o in self.objects(object_type)
            if o["properties"].get(name) is not None
        }

    def archived(self, object_type: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(list(self.types[object_type].archived.values()))

    def seed(self, object_type: str, rows: list[dict[str, Any]]) -> list[str]:
        with self.lock:
            return [self.types[object_type].create(r)["id"] for r in rows]

    def reject(
        self, object_type: str, name: str, values: list[str], message: str = "rejected"
    ) -> None:
        """Fail writes of objects whose property ``name`` is one of ``values``."""
        with self.lock:
            self.types[object_type].rejects.append((name, {str(v) for v in values}, message))

    # -- dispatch ------------------------------------------------------------------------------

    def dispatch(self, method: str, raw: str, headers: dict[str, str], body: bytes) -> Response:
        path = urlsplit(raw).path.rstrip("/")
        if self.latency:
            time.sleep(self.latency)
        fault = self.next_fault(method, path) or self._random_fault()
        if fault is not None and fault.kind != "slow":
            response = self._fault(fault)
            with self.lock:
                self.calls.append(Call(method, path, 0, response[0]))
            return response
        response = self._serve(method, path, headers, body)
        if fault is not None:
            # Applied, but answered late: a client that times out here must not apply twice.
            time.sleep(fault.delay)
        return response

    def _random_fault(self) -> Fault | None:
        if not self.fault_rate:
            return None
        with self.lock:
            draw = self._random.random()
        if draw >= self.fault_rate:
            return None
        return Fault("rate_limit") if draw < self.fault_rate / 2 else Fault("status", status=503)

    def _serve(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        if headers.get("authorization", "") != f"Bearer {self.token}":
            return hs_error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        with self.lock:
            limited, records = self._count(), 0
            if limited is not None:
                response = limited
            else:
                try:
                    response, records = self._route(method, path, body)
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    response = hs_error(400, "VALIDATION_ERROR", f"Invalid input: {exc}")
            self.calls.append(Call(method, path, records, response[0]))
            status, out, payload = response
            return status, {**out, **self._limit_headers()}, payload

    def _fault(self, fault: Fault) -> Response:
        extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        if fault.kind in ("rate_limit", "daily_limit"):
            daily = fault.kind == "daily_limit"
            return self._too_many("DAILY" if daily else "TEN_SECONDLY_ROLLING", extra)
        body = fault.body or {"status": "error", "message": fault.message or "internal error"}
        return json_response(fault.status, body, extra)

    def _too_many(self, policy: str, extra: dict[str, str]) -> Response:
        window = "daily" if policy == "DAILY" else "ten_secondly_rolling"
        body = {
            "status": "error",
            "message": f"You have reached your {window} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "groupName": "api:private-app",
        }
        return json_response(429, body, {**extra, **self._limit_headers()})

    def _count(self) -> Response | None:
        """Spend one request of the rolling window and the day; a 429 when none is left."""
        now = time.monotonic()
        while self._window and now - self._window[0] >= self.rate_interval_ms / 1000:
            self._window.popleft()
        if self.daily_used >= self.daily_limit:
            return self._too_many("DAILY", {})
        if len(self._window) >= self.rate_limit:
            self.rate_limited += 1
            return self._too_many("TEN_SECONDLY_ROLLING", {})
        self._window.append(now)
        self.daily_used += 1
        return None

    def _limit_headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily_limit - self.daily_used)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(self.rate_interval_ms),
            "X-HubSpot-RateLimit-Max": str(self.rate_limit),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.rate_limit - len(self._window))),
        }

    def _route(self, method: str, path: str, body: bytes) -> tuple[Response, int]:
        parts = path.strip("/").split("/")
        if method == "GET" and parts[:3] == ["crm", "v3", "properties"] and len(parts) == 4:
            objects = self.types.get(parts[3])
            if objects is None:
                return hs_error(
                    400, "VALIDATION_ERROR", f"Unable to infer object type from: {parts[3]}"
                ), 0
            results = [p.definition() for p in objects.properties.values()]
            return json_response(200, {"results": results}), 0
        if method != "POST" or len(parts) != 6 or parts[:3] != ["crm", "v3", "objects"]:
            return hs_error(404, "OBJECT_NOT_FOUND", f"No route for {method} {path}"), 0
        objects = self.types.get(parts[3])
        if objects is None or parts[4] != "batch":
            return hs_error(
                400, "VALIDATION_ERROR", f"Unable to infer object type from: {parts[3]}"
            ), 0
        request = json.loads(body or b"{}")
        inputs = request.get("inputs")
        if not isinstance(inputs, list):
            return hs_error(400, "VALIDATION_ERROR", "inputs is required"), 0
        if len(inputs) > LIMIT:
            message = f"Batch input size must be at most {LIMIT} (got {len(inputs)})"
            return hs_error(400, "VALIDATION_ERROR", message), len(inputs)
        action = parts[5]
        if action == "read":
            return self._read(objects, request), len(inputs)
        if action == "archive":
            for item in inputs:
                objects.archive(str(item["id"]))
            return (204, {}, b""), len(inputs)
        if action not in ("create", "update", "upsert"):
            return hs_error(404, "OBJECT_NOT_FOUND", f"No route for {method} {path}"), 0
        return self._write(objects, action, inputs), len(inputs)

    # -- batch endpoints -----------------------------------------------------------------------

    def _write(self, objects: HsObjects, action: str, inputs: list[dict[str, Any]]) -> Response:
        """``batch/create``, ``batch/update`` (by id or idProperty), ``batch/upsert``."""
        multi = self.multi_status and all("objectWriteTraceId" in i for i in inputs)
        if not multi:
            objects.begin()
        started = _now()
        results, errors, missing = [], [], []
        for item in inputs:
            trace = item.get("objectWriteTraceId")
            try:
                row, new = self._write_one(objects, action, item)
            except BatchError as exc:
                context: dict[str, list[str]] = {}
                if trace is not None:
                    context["objectWriteTraceId"] = [str(trace)]
                if item.get("id") is not None:
                    context["ids"] = [str(item["id"])]
                errors.append({**exc.body, "context": context})
                continue
            if row is None:
                missing.append(str(item.get("id")))
                continue
            result = copy_row(row)
            if trace is not None:
                result["objectWriteTraceId"] = trace
            if action == "upsert":
                result["new"] = new
            results.append(result)
        if missing and self.missing_on_update == "error":
            errors.append(_not_found(objects, missing))
        if not multi and not errors:
            objects.commit()
        if errors and not multi:  # all or nothing, and no hint of which input failed
            objects.rollback()
            first = errors[0]
            status = {"CONFLICT": 409, "OBJECT_NOT_FOUND": 404}.get(first["category"], 400)
            return hs_error(status, first["category"], first["message"])
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        body.update(startedAt=started, completedAt=_now())
        if errors:
            body.update(numErrors=len(errors), errors=errors)
        return json_response(207 if errors else 201 if action == "create" else 200, body)

    def _write_one(
        self, objects: HsObjects, action: str, item: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, bool]:
        """(the object written, or None for an update of a missing one; whether it is new)."""
        properties = dict(item.get("properties") or {})
        if action == "create":
            return objects.create(properties), True
        id_property, key = item.get("idProperty"), str(item.get("id"))
        if id_property is not None and not objects.unique(str(id_property)):
            message = f"{id_property} is not a unique property of {objects.object_type}"
            raise BatchError("VALIDATION_ERROR", message)
        object_id = objects.find(id_property, key) if id_property else None
        if id_property is None and key in objects.rows:
            object_id = key
        if object_id is not None:
            return objects.update(object_id, properties), False
        if action == "update":
            return None, False
        if id_property is None:
            raise BatchError("VALIDATION_ERROR", "upsert needs an idProperty")
        return objects.create({**properties, str(id_property): key}), True

    def _read(self, objects: HsObjects, request: dict[str, Any]) -> Response:
        """``batch/read`` by internal id or by a unique ``idProperty``."""
        id_property = request.get("idProperty")
        wanted = [*(request.get("properties") or []), "hs_object_id"]
        results, missing = [], []
        for item in request["inputs"]:
            key = str(item["id"])
            object_id = objects.find(id_property, key) if id_property else key
            row = objects.rows.get(object_id or "")
            if row is None:
                missing.append(key)
                continue
            properties = {p: row["properties"].get(p) for p in wanted}
            results.append({**row, "properties": properties})
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if missing:
            body.update(numErrors=1, errors=[_not_found(objects, missing)])
        return json_response(207 if missing else 200, body)


def _not_found(objects: HsObjects, ids: list[str]) -> dict[str, Any]:
    kind = objects.object_type.upper().removesuffix("S")
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"Could not get some {kind} objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        "context": {"ids": ids},
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
