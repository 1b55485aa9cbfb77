"""REST resources of the Salesforce emulator: SOQL queries and sObject Collections.

* Query (``nextRecordsUrl`` paging): https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
* sObject Collections: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections.htm
* SOQL escapes: https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from syncline.emulators._crm_emulator_http import Response, json_response
from syncline.emulators._salesforce_emulator_org import (
    LIMIT,
    RecordFailure,
    SObject,
    norm,
    sf_error,
)

__all__ = ["RestApi", "literals"]

SOQL = re.compile(
    r"^\s*SELECT\s+(?P<select>.+?)\s+FROM\s+(?P<obj>\w+)"
    r"(?:\s+WHERE\s+(?P<field>\w+)\s+IN\s*\((?P<values>.*)\))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
UNESCAPE = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def literals(text: str) -> list[str]:
    """The values of a SOQL ``IN (...)`` list: quoted strings (with escapes) or numbers."""
    out, i = [], 0
    while i < len(text):
        if text[i] in " ,\n\t":
            i += 1
        elif text[i] == "'":
            buf, i = [], i + 1
            while text[i] != "'":
                if text[i] == "\\":
                    buf.append(UNESCAPE.get(text[i + 1], text[i + 1]))
                    i += 2
                else:
                    buf.append(text[i])
                    i += 1
            out.append("".join(buf))
            i += 1
        else:
            match = re.match(r"[-+0-9.eE]+", text[i:])
            if match is None:
                raise ValueError(f"unexpected token at {text[i : i + 20]!r}")
            out.append(match.group())
            i += match.end()
    return out


class RestApi:
    """Query and sObject Collections over an org's objects (the caller holds the lock)."""

    def __init__(self, objects: dict[str, SObject], page_size: int) -> None:
        self.objects = objects
        self.page_size = page_size
        self.pages: dict[str, list[dict[str, Any]]] = {}

    def query(self, version: str, soql: str, locator: str | None) -> Response:
        """``GET /query?q=`` for ``SELECT f, ... FROM o [WHERE f IN (...)]``, paged.

        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
        """
        if locator is not None:
            rows = self.pages.pop(locator, None)
            if rows is None:
                return sf_error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        else:
            match = SOQL.match(soql)
            o = self.objects.get(match["obj"].lower()) if match else None
            if match is None or o is None:
                return sf_error(400, "MALFORMED_QUERY", f"unsupported or malformed query: {soql}")
            names = [n.strip() for n in match["select"].split(",")]
            unknown = [n for n in [*names, match["field"] or "Id"] if n.lower() not in o.fields]
            if unknown:
                message = f"No such column '{unknown[0]}' on entity '{o.name}'"
                return sf_error(400, "INVALID_FIELD", message)
            selected = list(o.rows.values())
            if match["field"]:
                f = o.fields[match["field"].lower()]
                wanted = {norm(f, v) for v in literals(match["values"])}
                selected = [r for r in selected if norm(f, r.get(f.name)) in wanted]
            attributes = {"type": o.name}
            rows = [
                {
                    "attributes": attributes,
                    **{o.fields[n.lower()].name: r[o.fields[n.lower()].name] for n in names},
                }
                for r in selected
            ]
        page, rest = rows[: self.page_size], rows[self.page_size :]
        body: dict[str, Any] = {"totalSize": len(rows), "done": not rest, "records": page}
        if rest:
            key = f"01g{secrets.token_hex(6)}-{self.page_size}"
            self.pages[key] = rest
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{key}"
        return json_response(200, body)

    def collection(
        self, method: str, tail: list[str], query: dict[str, str], body: bytes
    ) -> tuple[Response, int]:
        """Create (POST), update (PATCH), upsert (PATCH .../{SObject}/{Field}), delete.

        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm
        https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_delete.htm
        """
        if method == "DELETE" and not tail:
            ids = [i for i in query.get("ids", "").split(",") if i]
            if len(ids) > LIMIT:
                return _too_many(), len(ids)
            return json_response(200, [self._delete_one(i) for i in ids]), len(ids)
        payload = json.loads(body or b"{}")
        records = payload.get("records")
        if not isinstance(records, list):
            return sf_error(400, "JSON_PARSER_ERROR", "The records field is required"), 0
        if len(records) > LIMIT:
            return _too_many(), len(records)
        upsert = tail if method == "PATCH" and len(tail) == 2 else None
        if not ((method == "POST" and not tail) or (method == "PATCH" and not tail) or upsert):
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist"), 0
        backup = {n: {i: dict(r) for i, r in o.rows.items()} for n, o in self.objects.items()}
        results = [self._write_one(method, upsert, r) for r in records]
        if payload.get("allOrNone") and not all(r["success"] for r in results):
            for name, rows in backup.items():  # roll the whole request back
                self.objects[name].rows = rows
            results = [
                r if not r["success"] else {"success": False, "errors": [_rolled_back()]}
                for r in results
            ]
        return json_response(200, results), len(records)

    def _write_one(self, method: str, upsert: list[str] | None, record: Any) -> dict[str, Any]:
        attributes = record.get("attributes") if isinstance(record, dict) else None
        sobject = self.objects.get(str((attributes or {}).get("type", "")).lower())
        if sobject is None or (upsert and sobject.name.lower() != upsert[0].lower()):
            message = "sObject type is missing from attributes or does not match the URI"
            return {"success": False, "errors": [_error("INVALID_TYPE", message)]}
        values = {k: v for k, v in record.items() if k != "attributes"}
        record_id = None
        try:
            if upsert:
                record_id, created = sobject.upsert(upsert[1], values)
                return {"id": record_id, "success": True, "errors": [], "created": created}
            if method == "POST":
                record_id = sobject.create(values)
                return {"id": record_id, "success": True, "errors": []}
            record_id = str(values.pop("id", values.pop("Id", "")))
            sobject.update(record_id, values)
            return {"id": record_id, "success": True, "errors": []}
        except RecordFailure as exc:
            out: dict[str, Any] = {"success": False, "errors": exc.errors}
            if record_id and method == "PATCH" and not upsert:
                out["id"] = record_id
            return out

    def _delete_one(self, record_id: str) -> dict[str, Any]:
        owner = next(
            (o for o in self.objects.values() if record_id in o.rows or record_id in o.deleted),
            None,
        )
        if owner is None:
            error = _error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
            return {"id": record_id, "success": False, "errors": [error]}
        try:
            owner.delete(record_id)
        except RecordFailure as exc:
            return {"id": record_id, "success": False, "errors": exc.errors}
        return {"id": record_id, "success": True, "errors": []}


def _error(code: str, message: str) -> dict[str, Any]:
    return {"statusCode": code, "message": message, "fields": []}


def _rolled_back() -> dict[str, Any]:
    return _error("ALL_OR_NONE_OPERATION_ROLLED_BACK", "Record rolled back because not all were ok")


def _too_many() -> Response:
    message = "record limit reached. cannot submit more than 200 records into this call"
    return sf_error(400, "EXCEEDED_ID_LIMIT", message)
