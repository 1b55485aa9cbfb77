"""Salesforce writes through sObject Collections: 200 records a request, one result each.

Each mode is one idempotent *step* per chunk of 200, retried whole on transient failures:

* upsert: ``PATCH /composite/sobjects/{SObject}/{ExternalIdField}`` (matched by external ID).
* insert: look the keys up with SOQL, then ``POST /composite/sobjects`` for the absent ones.
  Salesforce's upsert cannot say "create only", and a create alone is not idempotent: a
  resend after a timeout would duplicate records unless the external ID field is unique. The
  lookup makes the step safe to repeat; a DUPLICATE_VALUE on the external ID (a concurrent
  writer, or a unique field) means the record is present, which insert acknowledges.
* update: SOQL lookup, then ``PATCH /composite/sobjects`` by record Id; absent = "not found".
* delete: SOQL lookup, then ``DELETE /composite/sobjects?ids=...``; absent = already done.

Docs:
* https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
* https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_create.htm
* https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_update.htm
* https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_delete.htm
* Query (``nextRecordsUrl`` paging): https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from syncline.connectors._http import RetryPolicy, quote_body, retrying
from syncline.connectors.base import DestinationError, Operation, RecordError
from syncline.connectors.destinations._saas_common import Rec
from syncline.connectors.destinations.salesforce.client import SalesforceClient
from syncline.connectors.destinations.salesforce.values import FieldInfo, encode

CHUNK = 200  # sObject Collections: "The list can contain up to 200 objects."
#: Characters of IN-list literals per SOQL query: keeps the WHERE clause and the GET URL short.
SOQL_BUDGET = 3_500
#: Per-record codes that mean the record is not (or no longer) there.
GONE = frozenset({"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "NOT_FOUND"})
T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """The object being written, as its describe told us."""

    sobject: str
    ext: FieldInfo
    fields: dict[str, FieldInfo]  # by lower-cased name: Salesforce names are case-insensitive

    def info(self, name: str) -> FieldInfo:
        return self.fields.get(name.lower(), FieldInfo(name))

    def payload(self, rec: Rec, *, skip_nulls: bool, create: bool) -> dict[str, Any]:
        """The record's fields as JSON; a NULL is omitted when it means "leave as is".

        On create a NULL sets nothing, so it is omitted too. Otherwise JSON null clears the
        field, which is how the REST API expresses fieldsToNull.
        """
        out: dict[str, Any] = {}
        for name, value in rec.fields.items():
            if value is None and (skip_nulls or create):
                continue
            out[name] = encode(value, self.info(name).type)
        return out

    def ext_value(self, key: str) -> Any:
        return encode(key, self.ext.type)


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def error_text(errors: list[dict[str, Any]]) -> tuple[str, str]:
    """(first status code, readable message) of a per-record ``errors`` list."""
    if not errors:
        return "UNKNOWN", "UNKNOWN: Salesforce reported a failure without details"
    parts = []
    for e in errors:
        fields = e.get("fields") or []
        where = f" (fields: {', '.join(map(str, fields))})" if fields else ""
        parts.append(f"{e.get('statusCode', 'ERROR')}: {e.get('message', '')}{where}")
    return str(errors[0].get("statusCode", "ERROR")), quote_body("; ".join(parts))


class RestWriter:
    """Applies change records to one object with sObject Collections."""

    def __init__(self, client: SalesforceClient, target: Target, policy: RetryPolicy) -> None:
        self.client = client
        self.target = target
        self.policy = policy

    def write(self, op: Operation, recs: list[Rec], *, skip_nulls: bool) -> list[RecordError]:
        """Every record of ``recs`` not in the returned errors was applied."""
        steps = {
            Operation.UPSERT: self._upsert,
            Operation.INSERT: self._insert,
            Operation.UPDATE: self._update,
            Operation.DELETE: self._delete,
        }
        step = steps[op]
        errors: list[RecordError] = []
        for chunk in chunks(recs, CHUNK):
            errors += retrying(
                partial(step, chunk, skip_nulls),
                what=f"Salesforce {op.value} of {len(chunk)} {self.target.sobject} records",
                policy=self.policy,
            )
        return errors

    # -- lookups -----------------------------------------------------------------------------

    def lookup(self, keys: Sequence[str]) -> dict[str, list[str]]:
        """Record Ids by normalised external ID, for the keys that exist (SOQL ``IN``)."""
        ext = self.target.ext
        found: dict[str, list[str]] = {}
        for group in _soql_groups(ext, keys):
            query = (
                f"SELECT Id, {ext.name} FROM {self.target.sobject} WHERE {ext.name} IN ({group})"
            )
            body = self.client.request("GET", "/query", params={"q": query}).json()
            while True:
                for row in body.get("records", []):
                    value = _field(row, ext.name)
                    found.setdefault(ext.norm_key(value), []).append(str(row["Id"]))
                next_url = body.get("nextRecordsUrl")
                if body.get("done", True) or not next_url:
                    break
                body = self.client.request("GET", str(next_url)).json()
        return found

    def lookup_retrying(self, keys: Sequence[str]) -> dict[str, list[str]]:
        return retrying(lambda: self.lookup(keys), what="Salesforce lookup", policy=self.policy)

    # -- steps (each safe to repeat) ---------------------------------------------------------

    def _upsert(self, chunk: Sequence[Rec], skip_nulls: bool) -> list[RecordError]:
        t = self.target
        records = [
            {
                "attributes": {"type": t.sobject},
                **t.payload(r, skip_nulls=skip_nulls, create=False),
                t.ext.name: t.ext_value(r.key),
            }
            for r in chunk
        ]
        path = f"/composite/sobjects/{t.sobject}/{t.ext.name}"
        results = self._results("PATCH", path, records)
        return [e for r, res in zip(chunk, results, strict=True) if (e := _failure(r, res))]

    def _insert(self, chunk: Sequence[Rec], skip_nulls: bool) -> list[RecordError]:
        t = self.target
        present = self.lookup([r.key for r in chunk])
        todo = [r for r in chunk if t.ext.norm_key(r.key) not in present]
        if not todo:
            return []
        records = [
            {
                "attributes": {"type": t.sobject},
                **t.payload(r, skip_nulls=skip_nulls, create=True),
                t.ext.name: t.ext_value(r.key),
            }
            for r in todo
        ]
        results = self._results("POST", "/composite/sobjects", records)
        errors = []
        for rec, res in zip(todo, results, strict=True):
            if not res.get("success") and self._duplicate_key(res.get("errors") or []):
                continue  # already present: insert leaves it as it is
            if error := _failure(rec, res):
                errors.append(error)
        return errors

    def _update(self, chunk: Sequence[Rec], skip_nulls: bool) -> list[RecordError]:
        t = self.target
        ids = self.lookup([r.key for r in chunk])
        errors, todo, records = [], [], []
        for rec in chunk:
            matches = ids.get(t.ext.norm_key(rec.key), [])
            if not matches:
                errors.append(self.not_found(rec))
            elif len(matches) > 1:
                message = f"MULTIPLE_CHOICES: {len(matches)} records have {t.ext.name} = {rec.key}"
                errors.append(RecordError(rec.index, message))
            elif payload := t.payload(rec, skip_nulls=skip_nulls, create=False):
                todo.append(rec)
                records.append({"attributes": {"type": t.sobject}, "id": matches[0], **payload})
        if records:
            results = self._results("PATCH", "/composite/sobjects", records)
            for rec, res in zip(todo, results, strict=True):
                code, _ = error_text(res.get("errors") or [])
                if not res.get("success") and code in GONE:
                    errors.append(self.not_found(rec))  # deleted since the lookup
                elif error := _failure(rec, res):
                    errors.append(error)
        return errors

    def _delete(self, chunk: Sequence[Rec], skip_nulls: bool) -> list[RecordError]:
        ids = self.lookup([r.key for r in chunk])
        owner: dict[str, Rec] = {}
        for rec in chunk:  # a non-unique external ID may match several records: delete all
            for record_id in ids.get(self.target.ext.norm_key(rec.key), []):
                owner[record_id] = rec
        failed: dict[int, RecordError] = {}
        for group in chunks(list(owner), CHUNK):
            params = {"ids": ",".join(group), "allOrNone": "false"}
            response = self.client.request("DELETE", "/composite/sobjects", params=params)
            results = _result_list(response.json(), len(group))
            for record_id, res in zip(group, results, strict=True):
                code, message = error_text(res.get("errors") or [])
                if not res.get("success") and code not in GONE:
                    rec = owner[record_id]
                    failed.setdefault(rec.index, RecordError(rec.index, message))
        return list(failed.values())

    # -- helpers -----------------------------------------------------------------------------

    def _results(self, method: str, path: str, records: list[dict[str, Any]]) -> list[Any]:
        body = {"allOrNone": False, "records": records}
        return _result_list(self.client.request(method, path, json=body).json(), len(records))

    def _duplicate_key(self, errors: list[dict[str, Any]]) -> bool:
        ext = self.target.ext.name.lower()
        for e in errors:
            fields = [str(f).lower() for f in e.get("fields") or []]
            text = str(e.get("message", "")).lower()
            if e.get("statusCode") == "DUPLICATE_VALUE" and (ext in fields or ext in text):
                return True
        return False

    def not_found(self, rec: Rec) -> RecordError:
        t = self.target
        message = f"not found: no {t.sobject} record has {t.ext.name} = {rec.key}"
        return RecordError(rec.index, message, "not_found")


def _failure(rec: Rec, result: dict[str, Any]) -> RecordError | None:
    if result.get("success"):
        return None
    return RecordError(rec.index, error_text(result.get("errors") or [])[1])


def _result_list(body: Any, expected: int) -> list[dict[str, Any]]:
    if not isinstance(body, list) or len(body) != expected:
        got = len(body) if isinstance(body, list) else type(body).__name__
        raise DestinationError(f"Salesforce returned {got} results for {expected} records")
    return [r if isinstance(r, dict) else {} for r in body]


def _field(row: dict[str, Any], name: str) -> Any:
    """A field of a query row; response keys keep the org's spelling of the name."""
    if name in row:
        return row[name]
    lowered = name.lower()
    return next((v for k, v in row.items() if k.lower() == lowered), None)


def _soql_groups(ext: FieldInfo, keys: Sequence[str]) -> Iterator[str]:
    """Comma-joined literals for ``IN (...)``, cut to stay within ``SOQL_BUDGET``."""
    group: list[str] = []
    size = 0
    for key in dict.fromkeys(keys):
        literal = ext.soql_literal(key)
        if literal is None:
            continue  # e.g. text in a number field: cannot exist
        if group and size + len(literal) + 1 > SOQL_BUDGET:
            yield ",".join(group)
            group, size = [], 0
        group.append(literal)
        size += len(literal) + 1
    if group:
        yield ",".join(group)
