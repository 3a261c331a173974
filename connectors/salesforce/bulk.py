"""Bulk API 2.0 upsert: one ingest job per object, polled with backoff, results matched back by key."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from typing import Any

import requests
from simple_salesforce.util import exception_handler

TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})


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
    return str(v)


def parse_results(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


class BulkUpsert:
    """The ingest job lifecycle over a raw HTTP callable that raises simple-salesforce's exceptions."""

    def __init__(
        self,
        request: Callable[..., requests.Response],
        sleep: Callable[[float], None],
        max_wait_seconds: float = 1800.0,
    ) -> None:
        self._request = request
        self._sleep = sleep
        self._max_wait = max_wait_seconds

    def run(self, sobject: str, key_field: str, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        body, _ = to_csv(records)
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
        job_id = job["id"]
        self._request(
            "PUT", f"jobs/ingest/{job_id}/batches", data=body.encode(), headers={"Content-Type": "text/csv"}
        )
        self._request("PATCH", f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})
        state = self._wait(job_id)
        by_key: dict[str, dict[str, Any]] = {}
        for row in parse_results(self._request("GET", f"jobs/ingest/{job_id}/successfulResults").text):
            by_key[row[key_field]] = {
                "id": row["sf__Id"],
                "success": True,
                "errors": [],
                "created": row.get("sf__Created") == "true",
            }
        for row in parse_results(self._request("GET", f"jobs/ingest/{job_id}/failedResults").text):
            code, _, message = row.get("sf__Error", "").partition(":")
            by_key[row[key_field]] = {"success": False, "errors": [{"statusCode": code, "message": message}]}
        reason = state.get("errorMessage") or f"bulk job {job_id} ended {state['state']}"
        missing = {"success": False, "errors": [{"statusCode": "BULK_NOT_PROCESSED", "message": reason}]}
        return [by_key.get(str(r[key_field]), missing) for r in records]

    def _wait(self, job_id: str) -> dict[str, Any]:
        waited, delay = 0.0, 0.5
        while True:
            state: dict[str, Any] = self._request("GET", f"jobs/ingest/{job_id}").json()
            if state["state"] in TERMINAL:
                return state
            if waited >= self._max_wait:
                self._request("PATCH", f"jobs/ingest/{job_id}", json={"state": "Aborted"})
                return {**state, "state": "Aborted", "errorMessage": f"gave up after {waited:.0f}s"}
            self._sleep(delay)
            waited += delay
            delay = min(delay * 2, 15.0)


def raise_for_salesforce(resp: requests.Response, name: str) -> requests.Response:
    """Raise the same exceptions simple-salesforce raises, so one retry policy covers both paths."""
    if resp.status_code >= 300:
        exception_handler(resp, name)
    return resp
