"""HubSpot writes through the CRM v3 batch endpoints, 100 inputs a request.

* upsert: ``batch/upsert`` with ``idProperty`` (create or update by the unique property).
* insert: ``batch/create`` with the key in ``idProperty``. A conflict on a unique property
  means "already there" only if a ``batch/read`` by ``idProperty`` finds the key; then it is
  acknowledged unchanged (this is also what makes a resent create after a timeout safe).
* update: ``batch/update`` with ``idProperty``; OBJECT_NOT_FOUND, or an input missing from the
  results (HubSpot may drop unknown ids silently), is "not found".
* delete: ``batch/archive`` takes internal ids only, so ``batch/read`` by ``idProperty``
  resolves them first; an absent key is already deleted.

Every input carries an ``objectWriteTraceId`` (its position), which opts into multi-status
(207) answers and ties results and errors to inputs. Results and errors that cannot be tied
to an input, and whole-request 4xx rejections, are resolved by splitting the chunk in halves
and resending (every step is idempotent), down to single inputs whose fate is then certain.

Docs:
* https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/upsert-contacts
* https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/objects/batch/create-objects
* https://developers.hubspot.com/docs/api-reference/2026-03/crm/objects/contacts/batch/update-contacts.md
* https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/contacts/batch/delete-contacts
* Multi-status errors: https://developers.hubspot.com/docs/api-reference/error-handling
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from typing import Any

from syncline.connectors._http import RetryPolicy, retrying
from syncline.connectors.base import DestinationError, Operation, RecordError
from syncline.connectors.destinations._saas_common import Rec
from syncline.connectors.destinations.hubspot.client import HubSpotClient, message_of

CHUNK = 100  # "inputs" of the batch endpoints: at most 100
CONFLICT = frozenset({"CONFLICT", "OBJECT_ALREADY_EXISTS"})
ENDPOINT = {Operation.UPSERT: "upsert", Operation.INSERT: "create", Operation.UPDATE: "update"}


def encode(value: Any) -> str:
    """A value as a HubSpot property value (always a string; dates as ISO 8601)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)


class BatchWriter:
    """Applies change records to one object type through the batch endpoints."""

    def __init__(
        self, client: HubSpotClient, object_type: str, id_property: str, policy: RetryPolicy
    ) -> None:
        self.client = client
        self.object_type = object_type
        self.id_property = id_property
        self.policy = policy
        # Told the size of each chunk HubSpot answered (the engine's live progress).
        self.on_chunk: Callable[[int], None] = lambda records: None

    def write(self, op: Operation, recs: list[Rec], *, skip_nulls: bool) -> list[RecordError]:
        """Every record of ``recs`` not in the returned errors was applied."""
        errors: list[RecordError] = []
        for start in range(0, len(recs), CHUNK):
            chunk = recs[start : start + CHUNK]
            step = self._delete if op is Operation.DELETE else partial(self._send, op, skip_nulls)
            errors += retrying(
                partial(step, chunk),
                what=f"HubSpot {op.value} of {len(chunk)} {self.object_type}",
                policy=self.policy,
            )
            self.on_chunk(len(chunk))
        return errors

    def norm(self, value: Any) -> str:
        """A key as HubSpot matches it (emails are stored lower-cased)."""
        text = str(value)
        return text.lower() if self.id_property == "email" else text

    # -- steps -------------------------------------------------------------------------------

    def _send(self, op: Operation, skip_nulls: bool, recs: Sequence[Rec]) -> list[RecordError]:
        inputs = [self._input(op, r, pos, skip_nulls) for pos, r in enumerate(recs)]
        path = f"/crm/v3/objects/{self.object_type}/batch/{ENDPOINT[op]}"
        status, body = self.client.request("POST", path, json={"inputs": inputs})
        if status not in (200, 201, 207):
            if status not in (400, 404, 409) or not isinstance(body, dict):
                raise DestinationError(f"HubSpot {path} answered {message_of(body, status)}")
            if len(recs) == 1:
                return self._judge(op, [(recs[0], body, status)])
            return self._split(op, skip_nulls, recs)  # refused for some input: isolate it
        done, failures, stray = self._attribute(recs, inputs, body or {})
        judged, unresolved = [], []
        errors: list[RecordError] = []
        for pos, rec in enumerate(recs):
            if pos in failures:
                judged.append((rec, failures[pos], 0))
            elif pos in done:
                continue
            elif op is Operation.UPDATE and not stray:
                errors.append(self._not_found(rec))  # unknown ids may be dropped silently
            else:
                unresolved.append(rec)
        errors += self._judge(op, judged)
        if len(unresolved) == len(recs) == 1:
            message = f"HubSpot returned no result for {self.id_property} = {recs[0].key}"
            errors.append(RecordError(recs[0].index, message))
        elif len(unresolved) == len(recs):
            errors += self._split(op, skip_nulls, recs)
        elif unresolved:
            errors += self._send(op, skip_nulls, unresolved)
        return errors

    def _split(self, op: Operation, skip_nulls: bool, recs: Sequence[Rec]) -> list[RecordError]:
        half = len(recs) // 2
        return self._send(op, skip_nulls, recs[:half]) + self._send(op, skip_nulls, recs[half:])

    def _judge(
        self, op: Operation, failed: list[tuple[Rec, dict[str, Any], int]]
    ) -> list[RecordError]:
        """Errors for failed inputs; a create that conflicts with its own key is present."""
        errors, conflicts = [], []
        for rec, error, status in failed:
            category = str(error.get("category") or "")
            message = message_of(error, status)
            if op is Operation.INSERT and (status == 409 or category in CONFLICT):
                conflicts.append((rec, message))
            elif op is Operation.UPDATE and (status == 404 or category == "OBJECT_NOT_FOUND"):
                errors.append(self._not_found(rec))
            else:
                errors.append(RecordError(rec.index, message))
        if conflicts:
            present = self.read([rec.key for rec, _ in conflicts])
            errors += [
                RecordError(rec.index, message)
                for rec, message in conflicts
                if self.norm(rec.key) not in present
            ]
        return errors

    def _delete(self, recs: Sequence[Rec]) -> list[RecordError]:
        present = self.read([r.key for r in recs])
        ids = sorted({present[k] for r in recs if (k := self.norm(r.key)) in present})
        if ids:
            path = f"/crm/v3/objects/{self.object_type}/batch/archive"
            status, body = self.client.request(
                "POST", path, json={"inputs": [{"id": i} for i in ids]}
            )
            if status not in (200, 204):
                raise DestinationError(f"HubSpot {path} answered {message_of(body, status)}")
        return []  # archive answers 204 whatever the state: absent keys are already gone

    def read(self, keys: Sequence[str]) -> dict[str, str]:
        """Internal object ids by normalised key, for the keys that exist (``batch/read``)."""
        path = f"/crm/v3/objects/{self.object_type}/batch/read"
        found: dict[str, str] = {}
        for start in range(0, len(keys), CHUNK):
            body = {
                "idProperty": self.id_property,
                "properties": [self.id_property],
                "inputs": [{"id": k} for k in keys[start : start + CHUNK]],
            }
            status, answer = self.client.request("POST", path, json=body)
            if status not in (200, 207):
                raise DestinationError(f"HubSpot {path} answered {message_of(answer, status)}")
            for result in (answer or {}).get("results", []):
                value = (result.get("properties") or {}).get(self.id_property)
                if value is not None:
                    found[self.norm(value)] = str(result["id"])
        return found

    # -- helpers -----------------------------------------------------------------------------

    def _input(self, op: Operation, rec: Rec, pos: int, skip_nulls: bool) -> dict[str, Any]:
        create = op is Operation.INSERT
        properties = {
            name: "" if value is None else encode(value)  # "" clears a property
            for name, value in rec.fields.items()
            if value is not None or not (skip_nulls or create)
        }
        item: dict[str, Any] = {"properties": properties, "objectWriteTraceId": str(pos)}
        if create:
            properties[self.id_property] = rec.key
        else:
            item.update(idProperty=self.id_property, id=rec.key)
        return item

    def _attribute(
        self, recs: Sequence[Rec], inputs: list[dict[str, Any]], body: dict[str, Any]
    ) -> tuple[set[int], dict[int, dict[str, Any]], bool]:
        """(positions with a result, errors by position, whether some error had no owner)."""
        by_trace = {item["objectWriteTraceId"]: pos for pos, item in enumerate(inputs)}
        by_key = {self.norm(r.key): pos for pos, r in enumerate(recs)}
        results = body.get("results") or []
        done = set()
        for result in results:
            trace = result.get("objectWriteTraceId")
            value = (result.get("properties") or {}).get(self.id_property)
            pos = by_trace.get(str(trace)) if trace is not None else by_key.get(self.norm(value))
            if pos is not None:
                done.add(pos)
        if not done and len(results) == len(inputs) and not body.get("errors"):
            done = set(range(len(inputs)))  # complete, just not labelled
        failures: dict[int, dict[str, Any]] = {}
        stray = False
        for error in body.get("errors") or []:
            context = error.get("context") or {}
            traces = [by_trace.get(str(t)) for t in context.get("objectWriteTraceId") or []]
            values = [*(context.get("ids") or []), *(context.get("id") or [])]
            keyed = [by_key.get(self.norm(v)) for v in values]
            owners = [p for p in (*traces, *keyed) if p is not None]
            stray = stray or not owners
            for pos in owners:
                failures.setdefault(pos, error)
        return done, failures, stray

    def _not_found(self, rec: Rec) -> RecordError:
        message = f"not found: no {self.object_type} has {self.id_property} = {rec.key}"
        return RecordError(rec.index, message, "not_found")
