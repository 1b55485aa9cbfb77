"""Salesforce writes through Bulk API 2.0 ingest jobs, for batches above the bulk threshold.

One job per batch: create (``POST /jobs/ingest``), upload the CSV
(``PUT /jobs/ingest/{id}/batches``), close (``PATCH {"state": "UploadComplete"}``), poll
``GET /jobs/ingest/{id}`` until JobComplete, Failed or Aborted, then read
``successfulResults/`` and ``failedResults/``. Result rows come back in any order, so each is
matched to its record by the value we sent in the match column (the external ID for
upsert/insert, the record Id for update/delete). A record in neither list was not processed
and is reported as failed, never acknowledged.

Insert, update and delete resolve keys with the same SOQL lookup as the REST path first.

Docs:
* https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/create_job.htm
* https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/upload_job_data.htm
* https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/close_job.htm
* https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/get_job_info.htm
* https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/get_job_successful_results.htm
* https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/get_job_failed_results.htm
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from collections.abc import Callable
from typing import Any

from syncline.connectors._http import Transient, quote_body, retrying
from syncline.connectors.base import DestinationError, Operation, RecordError
from syncline.connectors.destinations._saas_common import Rec
from syncline.connectors.destinations.salesforce.rest import GONE, RestWriter
from syncline.connectors.destinations.salesforce.values import csv_cell

FINAL = frozenset({"JobComplete", "Failed", "Aborted"})


class BulkWriter:
    """Applies one batch to one object as one Bulk API 2.0 ingest job."""

    def __init__(
        self,
        rest: RestWriter,
        *,
        poll_interval: float,
        timeout: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rest = rest
        self.client = rest.client
        self.target = rest.target
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.sleep = sleep
        self.last_job_id: str | None = None

    def write(self, op: Operation, recs: list[Rec], *, skip_nulls: bool) -> list[RecordError]:
        """Every record of ``recs`` not in the returned errors was applied."""
        errors: dict[int, RecordError] = {}
        t = self.target
        if op in (Operation.UPSERT, Operation.INSERT):
            if op is Operation.INSERT:
                present = self.rest.lookup_retrying([r.key for r in recs])
                recs = [r for r in recs if t.ext.norm_key(r.key) not in present]
            rows = [(r, str(csv_cell(r.key, t.ext.type, skip_nulls=False))) for r in recs]
            match = t.ext.name
        else:
            ids = self.rest.lookup_retrying([r.key for r in recs])
            rows = []
            for rec in recs:
                matches = ids.get(t.ext.norm_key(rec.key), [])
                if op is Operation.DELETE:
                    rows += [(rec, record_id) for record_id in matches]
                elif not matches:
                    errors[rec.index] = self.rest.not_found(rec)
                elif len(matches) > 1:
                    text = f"MULTIPLE_CHOICES: {len(matches)} records have {t.ext.name} = {rec.key}"
                    errors[rec.index] = RecordError(rec.index, text)
                else:
                    rows.append((rec, matches[0]))
            match = "Id"
        if rows:
            self._apply(op, rows, match, skip_nulls, errors)
        return sorted(errors.values(), key=lambda e: e.index)

    def _apply(
        self,
        op: Operation,
        rows: list[tuple[Rec, str]],
        match: str,
        skip_nulls: bool,
        errors: dict[int, RecordError],
    ) -> None:
        operation = {Operation.UPSERT: "upsert", Operation.INSERT: "insert"}.get(op, op.value)
        data = self._csv(op, rows, match, skip_nulls)
        job = self._submit(operation, data)
        info = self._wait(job)
        done = {k: self._results(job, k) for k in ("successfulResults", "failedResults")}
        owners: dict[str, list[Rec]] = {}
        for rec, cell in rows:
            owners.setdefault(cell, []).append(rec)
        ok: set[str] = set()
        for row in done["successfulResults"]:
            ok.add(self._cell(row, match))
        for row in done["failedResults"]:
            cell, message = self._cell(row, match), quote_body(str(row.get("sf__Error", "")))
            code = message.split(":", 1)[0]
            gone = code in GONE
            if (op is Operation.DELETE and gone) or (
                op is Operation.INSERT and code == "DUPLICATE_VALUE" and self._on_ext(message)
            ):
                ok.add(cell)  # already deleted / already present
                continue
            for rec in owners.get(cell, []):
                if op is Operation.UPDATE and gone:
                    errors.setdefault(rec.index, self.rest.not_found(rec))
                else:
                    errors.setdefault(rec.index, RecordError(rec.index, message or "failed"))
        why = f"Bulk API job {job} ended {info.get('state')} without processing this record"
        if info.get("errorMessage"):
            why += f": {info['errorMessage']}"
        for rec, cell in rows:
            if cell not in ok and rec.index not in errors:
                errors[rec.index] = RecordError(rec.index, why)

    def _csv(self, op: Operation, rows: list[tuple[Rec, str]], match: str, skip: bool) -> bytes:
        names = [] if op is Operation.DELETE else list(rows[0][0].fields) if rows else []
        types = [self.target.info(n).type for n in names]
        skip = skip or op is Operation.INSERT  # a NULL sets nothing on create
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([match, *names])
        for rec, cell in rows:
            cells = [
                csv_cell(rec.fields.get(n), t, skip_nulls=skip)
                for n, t in zip(names, types, strict=True)
            ]
            writer.writerow([cell, *cells])
        return out.getvalue().encode("utf-8")

    def _submit(self, operation: str, data: bytes) -> str:
        """Create, fill and close a job; a job left Open by a failure is aborted and redone."""
        body: dict[str, Any] = {
            "object": self.target.sobject,
            "contentType": "CSV",
            "operation": operation,
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        if operation == "upsert":
            body["externalIdFieldName"] = self.target.ext.name

        def attempt() -> str:
            job = str(self.client.request("POST", "/jobs/ingest", json=body).json()["id"])
            try:
                headers = {"Content-Type": "text/csv"}
                self.client.request(
                    "PUT", f"/jobs/ingest/{job}/batches", content=data, headers=headers
                )
                self.client.request(
                    "PATCH", f"/jobs/ingest/{job}", json={"state": "UploadComplete"}
                )
            except Transient:
                # If the close went through, the job runs: follow it rather than send the data
                # twice. If it is still Open, abort it so it can never run, then start over.
                if self._info(job).get("state") != "Open":
                    return job
                self._abort(job)
                raise
            return job

        job_id = retrying(attempt, what="Salesforce Bulk API job", policy=self.rest.policy)
        self.last_job_id = job_id
        return job_id

    def _wait(self, job: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            info = retrying(
                lambda: self._info(job), what=f"polling job {job}", policy=self.rest.policy
            )
            if info.get("state") in FINAL:
                return info
            if time.monotonic() > deadline:
                self._abort(job)
                raise DestinationError(
                    f"Salesforce Bulk API job {job} still {info.get('state')} after "
                    f"{self.timeout:g}s; it was aborted",
                    retryable=True,
                )
            self.sleep(self.poll_interval)

    def _info(self, job: str) -> dict[str, Any]:
        body = self.client.request("GET", f"/jobs/ingest/{job}").json()
        return body if isinstance(body, dict) else {}

    def _abort(self, job: str) -> None:
        # Best effort: a job that already finished cannot be aborted.
        with contextlib.suppress(Transient, DestinationError):
            self.client.request("PATCH", f"/jobs/ingest/{job}", json={"state": "Aborted"})

    def _results(self, job: str, kind: str) -> list[dict[str, str]]:
        def fetch() -> list[dict[str, str]]:
            path = f"/jobs/ingest/{job}/{kind}/"
            text = self.client.request("GET", path, headers={"Accept": "text/csv"}).text
            return list(csv.DictReader(io.StringIO(text)))

        return retrying(fetch, what=f"reading {kind} of job {job}", policy=self.rest.policy)

    def _cell(self, row: dict[str, str], match: str) -> str:
        if match == "Id":
            return str(row.get("Id") or row.get("sf__Id") or "")
        lowered = match.lower()
        return next((v for k, v in row.items() if k.lower() == lowered), "")

    def _on_ext(self, message: str) -> bool:
        return self.target.ext.name.lower() in message.lower()
