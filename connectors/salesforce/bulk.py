"""Bulk API 2.0 upsert: one ingest job per call, polled with backoff, results matched back by key."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, Protocol

import requests
import structlog
from simple_salesforce.exceptions import SalesforceResourceNotFound
from simple_salesforce.util import exception_handler

log = structlog.get_logger(__name__)

TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})
NOT_PROCESSED = "BULK_NOT_PROCESSED"
MAX_UPLOAD_BYTES = 100_000_000  # Salesforce takes ≤ 150 MB per upload, ≤ 100 MB before base64 inflation
MIN_CALLS = 6  # create, upload, close, one poll, successful results, failed results


def to_csv(records: Sequence[dict[str, Any]]) -> tuple[str, list[str]]:
    """CSV as Bulk 2.0 reads it: an empty cell leaves a field unchanged, so null is sent as #N/A."""
    columns = sorted({k for r in records for k in r})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in records:
        writer.writerow([_cell(r[c]) if c in r else "" for c in columns])
    return buf.getvalue(), columns


def _cell(v: Any) -> str:
    if v is None or v == "":
        return "#N/A"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        # str(1e-05) is '1e-05', which Salesforce's CSV parser refuses; plain notation always parses.
        return format(Decimal(repr(v)), "f")
    return str(v)


def parse_results(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def parse_error(cell: str) -> dict[str, str]:
    """`CODE:message:fields --` (the sf__Error cell) as a Collections-style error entry."""
    code, _, rest = cell.partition(":")
    rest = rest.removesuffix(" --").removesuffix("--")
    message, sep, fields = rest.rpartition(":")
    if not sep:
        message, fields = rest, ""
    return {"statusCode": code, "message": message.strip(), "fields": fields.strip()}


class Ambiguous(Exception):
    """A call that must not be repeated ended without an answer (timeout, dropped connection).

    For an upload it is unknown whether the data reached the job, so the job is aborted (an aborted
    job processes nothing not yet processed, and an `Open` one has processed nothing) and the rows go
    in a new job.
    """


class Request(Protocol):
    def __call__(
        self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any
    ) -> requests.Response:
        """A REST call relative to the versioned base URL, raising simple-salesforce's exceptions."""
        ...


class BulkJobs:
    """The ingest job lifecycle over a raw HTTP callable.

    `on_job(job_id)` is called once the job exists and before any data is uploaded, so the caller can
    persist the id: a run killed later resumes by collecting that job's results (`collect`) rather
    than uploading the rows again.
    """

    def __init__(
        self,
        request: Request,
        sleep: Callable[[float], None],
        max_wait_seconds: float = 1800.0,
        first_poll_delay: float = 0.5,
        max_poll_delay: float = 15.0,
    ) -> None:
        self._request = request
        self._sleep = sleep
        self._max_wait = max_wait_seconds
        self._first_delay = first_poll_delay
        self._max_delay = max_poll_delay

    def upsert(
        self,
        sobject: str,
        key_field: str,
        records: Sequence[dict[str, Any]],
        on_job: Callable[[str], None] | None = None,
    ) -> list[dict[str, Any]]:
        """One result per record, in input order: success with Id and created, or the record's errors."""
        body, _ = to_csv(records)
        data = body.encode()
        if len(data) > MAX_UPLOAD_BYTES:
            raise ValueError(f"{len(data)} bytes of CSV is more than one Bulk upload takes; split the rows")
        for attempt in (1, 2):
            job_id = self._create(sobject, key_field)
            if on_job is not None:
                on_job(job_id)
            try:
                self._request(
                    "PUT",
                    f"jobs/ingest/{job_id}/batches",
                    idempotent=False,
                    data=data,
                    headers={"Content-Type": "text/csv"},
                )
            except Ambiguous as exc:
                self._abort(job_id)
                log.warning("bulk_upload_failed", job_id=job_id, attempt=attempt, error=str(exc)[:200])
                if attempt == 2:
                    raise
                continue
            self._request("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})
            return self._results(job_id, key_field, records, self._wait(job_id))
        raise AssertionError("unreachable")  # pragma: no cover

    def collect(
        self, job_id: str, key_field: str, records: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        """Results of a job an interrupted run started; None when Salesforce no longer knows the job.

        A job still `Open` never received `UploadComplete`, so it processed nothing: it is aborted and
        its rows come back not processed, to be sent again.
        """
        try:
            info: dict[str, Any] = self._request("GET", f"jobs/ingest/{job_id}").json()
        except SalesforceResourceNotFound:
            return None
        if info["state"] == "Open":
            self._abort(job_id)
            return [_missing(job_id, "Aborted", "never closed by the run that opened it")] * len(records)
        if info["state"] not in TERMINAL:
            info = self._wait(job_id)
        return self._results(job_id, key_field, records, info)

    # -- steps ------------------------------------------------------------------------------------
    def _create(self, sobject: str, key_field: str) -> str:
        job = self._request(
            "POST",
            "jobs/ingest",
            json={
                "operation": "upsert",
                "object": sobject,
                "externalIdFieldName": key_field,
                "contentType": "CSV",
                "columnDelimiter": "COMMA",
                "lineEnding": "LF",
            },
        ).json()
        log.info("bulk_job_created", job_id=job["id"], sobject=sobject)
        return str(job["id"])

    def _abort(self, job_id: str) -> None:
        try:
            self._request("PATCH", f"jobs/ingest/{job_id}", json={"state": "Aborted"})
        except Exception as exc:  # best effort: an Open job processes nothing anyway
            log.warning("bulk_abort_failed", job_id=job_id, error=str(exc)[:200])

    def _wait(self, job_id: str) -> dict[str, Any]:
        """Poll with exponential backoff until the job ends; abort it after `max_wait_seconds`."""
        waited, delay = 0.0, self._first_delay
        while True:
            state: dict[str, Any] = self._request("GET", f"jobs/ingest/{job_id}").json()
            if state["state"] in TERMINAL:
                return state
            if waited >= self._max_wait:
                self._abort(job_id)
                # Counts from before the abort may be stale: `_results` fetches both files.
                return {
                    **state,
                    "state": "Aborted",
                    "errorMessage": f"gave up waiting after {waited:.0f}s",
                    "numberRecordsProcessed": None,
                }
            self._sleep(delay)
            waited += delay
            delay = min(delay * 2, self._max_delay)

    def _results(
        self, job_id: str, key_field: str, records: Sequence[dict[str, Any]], info: dict[str, Any]
    ) -> list[dict[str, Any]]:
        unknown = info.get("numberRecordsProcessed") is None
        processed = int(info.get("numberRecordsProcessed") or 0)
        failed = int(info.get("numberRecordsFailed") or 0)
        by_key: dict[str, dict[str, Any]] = {}
        # Each results file is one more API call: fetch only those that have rows.
        if unknown or processed - failed > 0:
            text = self._request("GET", f"jobs/ingest/{job_id}/successfulResults").text
            for row in parse_results(text):
                by_key[row[key_field]] = {
                    "id": row["sf__Id"],
                    "success": True,
                    "errors": [],
                    "created": row.get("sf__Created") == "true",
                }
        if unknown or failed > 0:
            for row in parse_results(self._request("GET", f"jobs/ingest/{job_id}/failedResults").text):
                by_key[row[key_field]] = {"success": False, "errors": [parse_error(row.get("sf__Error", ""))]}
        reason = str(info.get("errorMessage") or "")
        if info["state"] != "JobComplete":
            log.warning("bulk_job_incomplete", job_id=job_id, state=info["state"], error=reason[:300])
        missing = _missing(job_id, str(info["state"]), reason)
        return [by_key.get(str(r[key_field]), missing) for r in records]


def _missing(job_id: str, state: str, reason: str) -> dict[str, Any]:
    """The result of a row the job did not process (it failed, was aborted, or never got the data)."""
    message = f"bulk job {job_id} ended {state}" + (f": {reason}" if reason else "")
    return {"success": False, "errors": [{"statusCode": NOT_PROCESSED, "message": message}]}


def raise_for_salesforce(resp: requests.Response, name: str) -> requests.Response:
    """Raise the same exceptions simple-salesforce raises, so one retry policy covers both paths."""
    if resp.status_code >= 300:
        exception_handler(resp, name)
    return resp
