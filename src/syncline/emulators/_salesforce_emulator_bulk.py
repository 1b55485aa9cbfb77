"""Bulk API 2.0 ingest jobs for the Salesforce emulator.

A job is created Open, takes CSV data (``PUT .../batches``), is closed with
``{"state": "UploadComplete"}`` and is processed when polled: it reports ``InProgress`` for the
first ``polls_in_progress`` polls (so clients exercise their polling), then applies every row
and reports ``JobComplete``. A CSV header naming an unknown field fails the whole job, as
Salesforce does. Results are CSVs with ``sf__Id``/``sf__Created`` or ``sf__Id``/``sf__Error``
followed by the row as uploaded; ``#N/A`` sets a field to null and an empty cell leaves it.

* Create a job: https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/create_job.htm
* Upload job data: https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/upload_job_data.htm
* Close or abort a job: https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/close_job.htm
* Job info and states: https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/get_job_info.htm
* Results: https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/get_job_successful_results.htm
  and https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/get_job_failed_results.htm
* CSV rows: https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/datafiles_csv_valid_record_rows.htm
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

from syncline.emulators._crm_emulator_http import Response, json_response
from syncline.emulators._salesforce_emulator_org import RecordFailure, SObject, sf_error

__all__ = ["BulkJobs"]

OPERATIONS = ("insert", "update", "upsert", "delete")
RESULTS = ("successfulResults", "failedResults", "unprocessedrecords")


class BulkJobs:
    """The ingest jobs of one emulated org (the caller holds the emulator's lock)."""

    def __init__(self, objects: dict[str, SObject], polls_in_progress: int) -> None:
        self.objects = objects
        self.polls_in_progress = polls_in_progress
        self.jobs: dict[str, dict[str, Any]] = {}

    def handle(self, method: str, parts: list[str], body: bytes) -> tuple[Response, int]:
        """Route ``/jobs/ingest[/{id}[/batches|/successfulResults|...]]``."""
        if not parts:
            return (self._create(json.loads(body or b"{}")) if method == "POST" else _nf()), 0
        job = self.jobs.get(parts[0])
        if job is None:
            return _nf(), 0
        tail = parts[1] if len(parts) > 1 else ""
        if method == "PUT" and tail == "batches":
            return self._upload(job, body.decode("utf-8"))
        if method == "PATCH" and not tail:
            return self._patch(job, json.loads(body or b"{}")), 0
        if method == "GET" and not tail:
            return json_response(200, self._poll(job)), 0
        if method == "GET" and tail in RESULTS:
            return _csv_response(job["results"][tail]), 0
        return _nf(), 0

    def _create(self, spec: dict[str, Any]) -> Response:
        sobject = self.objects.get(str(spec.get("object", "")).lower())
        operation = spec.get("operation")
        if sobject is None:
            return sf_error(400, "INVALIDJOB", f"InvalidJob : Invalid object: {spec.get('object')}")
        if operation not in OPERATIONS:
            return sf_error(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
        if operation == "upsert" and not spec.get("externalIdFieldName"):
            return sf_error(400, "INVALIDJOB", "InvalidJob : External ID was blank for upsert")
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        job_id = f"750{len(self.jobs) + 1:012d}AAA"
        info = {
            "id": job_id,
            "operation": operation,
            "object": sobject.name,
            "createdById": "005000000000001AAA",
            "createdDate": now,
            "systemModstamp": now,
            "state": "Open",
            "externalIdFieldName": spec.get("externalIdFieldName"),
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": 60.0,
            "lineEnding": spec.get("lineEnding", "LF"),
            "columnDelimiter": spec.get("columnDelimiter", "COMMA"),
            "numberRecordsProcessed": 0,
            "numberRecordsFailed": 0,
        }
        results: dict[str, list[dict[str, str]]] = {k: [] for k in RESULTS}
        self.jobs[job_id] = {
            "info": info,
            "data": [],
            "polls": self.polls_in_progress,
            "results": results,
        }
        return json_response(200, info)

    def _upload(self, job: dict[str, Any], text: str) -> tuple[Response, int]:
        if job["info"]["state"] != "Open":
            message = f"Job {job['info']['id']} is not open for data upload"
            return sf_error(409, "INVALIDJOBSTATE", message), 0
        job["data"].append(text)
        return (201, {}, b""), max(0, len(list(csv.reader(io.StringIO(text)))) - 1)

    def _patch(self, job: dict[str, Any], change: dict[str, Any]) -> Response:
        info, wanted = job["info"], change.get("state")
        allowed = {"UploadComplete": ("Open",), "Aborted": ("Open", "UploadComplete")}
        if info["state"] not in allowed.get(str(wanted), ()):
            message = (
                f"Cannot change the state of job {info['id']} from {info['state']} to {wanted}"
            )
            return sf_error(400, "INVALIDJOBSTATE", message)
        info["state"] = wanted
        return json_response(200, info)

    def _poll(self, job: dict[str, Any]) -> dict[str, Any]:
        info = job["info"]
        if info["state"] in ("UploadComplete", "InProgress"):
            if job["polls"] > 0:
                job["polls"] -= 1
                info["state"] = "InProgress"
            else:
                self._process(job)
        return dict(info)

    def _process(self, job: dict[str, Any]) -> None:
        info = job["info"]
        sobject = self.objects[info["object"].lower()]
        header: list[str] = []
        rows: list[list[str]] = []
        for chunk in job["data"]:
            reader = csv.reader(io.StringIO(chunk))
            header = next(reader, header)
            rows += [r for r in reader if r]
        results: dict[str, list[dict[str, str]]] = {k: [] for k in RESULTS}
        job["results"] = results
        unknown = [h for h in header if h.lower() not in sobject.fields]
        if unknown:
            info.update(
                state="Failed", errorMessage=f"InvalidBatch : Field name not found : {unknown[0]}"
            )
            results["unprocessedrecords"] = [dict(zip(header, r, strict=False)) for r in rows]
            return
        for cells in rows:
            raw = dict(zip(header, cells, strict=False))
            values = {k: (None if v == "#N/A" else v) for k, v in raw.items() if v != ""}
            record_id = str(raw.get("Id", ""))
            try:
                record_id, created = self._apply(sobject, info, values, record_id)
                results["successfulResults"].append(
                    {"sf__Id": record_id, "sf__Created": str(created).lower(), **raw}
                )
            except RecordFailure as exc:
                error = " ".join(
                    f"{e['statusCode']}:{e['message']}:{','.join(e['fields'])} --"
                    for e in exc.errors
                )
                results["failedResults"].append({"sf__Id": record_id, "sf__Error": error, **raw})
        info.update(
            state="JobComplete",
            numberRecordsProcessed=len(rows),
            numberRecordsFailed=len(results["failedResults"]),
        )

    @staticmethod
    def _apply(
        sobject: SObject, info: dict[str, Any], values: dict[str, Any], record_id: str
    ) -> tuple[str, bool]:
        operation = info["operation"]
        if operation == "insert":
            return sobject.create(values), True
        if operation == "upsert":
            return sobject.upsert(str(info["externalIdFieldName"]), values)
        values = {k: v for k, v in values.items() if k.lower() != "id"}
        if operation == "update":
            sobject.update(record_id, values)
        else:
            sobject.delete(record_id)
        return record_id, False


def _nf() -> Response:
    return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


def _csv_response(rows: list[dict[str, str]]) -> Response:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(
            out, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL, lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
    return 200, {"Content-Type": "text/csv"}, out.getvalue().encode("utf-8")
