"""Bulk API 2.0 lifecycle: CSV rules, backoff polling, results matched by key, failed and aborted jobs."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
import requests
from simple_salesforce.exceptions import SalesforceResourceNotFound

from connectors.salesforce.bulk import NOT_PROCESSED, Ambiguous, BulkJobs, parse_error, to_csv


def response(status: int = 200, body: Any = None, text: str | None = None) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    resp._content = (text if text is not None else json.dumps(body or {})).encode()
    return resp


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


class FakeIngest:
    """Answers the ingest calls like Salesforce: a job completes after `polls` polls."""

    def __init__(
        self, polls: int = 3, final: str = "JobComplete", fail_keys: frozenset[str] = frozenset()
    ) -> None:
        self.polls_left = polls
        self.final = final
        self.fail_keys = fail_keys
        self.calls: list[tuple[str, str]] = []
        self.uploaded: list[str] = []
        self.state = "Open"
        self.upload_error: BaseException | None = None
        self.jobs = 0

    def __call__(
        self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any
    ) -> requests.Response:
        self.calls.append((method, path))
        if method == "POST":
            self.jobs += 1
            self.state = "Open"
            return response(body={"id": f"750JOB{self.jobs}", "state": "Open"})
        if method == "PUT":
            assert not idempotent, "the upload must not be retried blindly"
            if self.upload_error is not None:
                err, self.upload_error = self.upload_error, None
                raise err
            self.uploaded.append(kwargs["data"].decode())
            return response(201, text="")
        if method == "PATCH":
            self.state = kwargs["json"]["state"]
            return response(body={"state": self.state})
        if path.endswith("successfulResults"):
            rows = self._rows()
            done = self.state == "JobComplete"
            ok = [
                ["001" + r["Sync_Key__c"], "true", *r.values()]
                for r in rows
                if done and r["Sync_Key__c"] not in self.fail_keys
            ]
            return response(text=csv_text(["sf__Id", "sf__Created", *rows[0].keys()], list(reversed(ok))))
        if path.endswith("failedResults"):
            rows = self._rows()
            bad = [
                [
                    "",
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:Severity: bad value for restricted picklist field: Severe:Severity__c --",
                    *r.values(),
                ]
                for r in rows
                if r["Sync_Key__c"] in self.fail_keys
            ]
            return response(text=csv_text(["sf__Id", "sf__Error", *rows[0].keys()], bad))
        # GET job
        if self.state in ("UploadComplete", "InProgress"):
            self.polls_left -= 1
            self.state = "InProgress" if self.polls_left > 0 else self.final
        n = len(self._rows()) if self.uploaded else 0
        processed = n if self.state == "JobComplete" else 0
        body = {
            "id": "750JOB",
            "state": self.state,
            "numberRecordsProcessed": processed,
            "numberRecordsFailed": len(self.fail_keys) if processed else 0,
        }
        if self.state == "Failed":
            body["errorMessage"] = "InvalidBatch : Field name not found : Bogus__c"
        return response(body=body)

    def _rows(self) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.uploaded[-1])))


RECORDS = [{"Sync_Key__c": f"k{i}", "Severity__c": "High", "Resolved_At__c": None} for i in range(5)]


def test_csv_sends_null_as_na_and_leaves_missing_columns_empty() -> None:
    text, columns = to_csv([{"K": "a", "N": None, "B": True, "F": 1e-05}, {"K": "b", "S": "x,y"}])
    assert columns == ["B", "F", "K", "N", "S"]
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["true", "0.00001", "a", "#N/A", ""]  # "" = leave unchanged, #N/A = set null
    assert rows[2] == ["", "", "b", "", "x,y"]


def test_parse_error_splits_code_message_and_fields() -> None:
    assert parse_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Subject]:Subject --") == {
        "statusCode": "REQUIRED_FIELD_MISSING",
        "message": "Required fields are missing: [Subject]",
        "fields": "Subject",
    }


def test_upsert_polls_with_backoff_and_matches_results_by_key_not_order() -> None:
    fake, slept, jobs = FakeIngest(polls=4, fail_keys=frozenset({"k3"})), [], []
    results = BulkJobs(fake, slept.append, first_poll_delay=0.5, max_poll_delay=2.0).upsert(
        "Risk_Flag__c", "Sync_Key__c", RECORDS, jobs.append
    )
    assert jobs == ["750JOB1"]  # told before the upload, so the caller can persist it
    assert slept == [0.5, 1.0, 2.0]  # doubling, capped
    assert [r["success"] for r in results] == [True, True, True, False, True]
    assert results[0] == {"id": "001k0", "success": True, "errors": [], "created": True}
    assert results[3]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert "#N/A" in fake.uploaded[0]
    kinds = [m for m, _ in fake.calls]
    assert kinds == ["POST", "PUT", "PATCH", "GET", "GET", "GET", "GET", "GET", "GET"]


def test_a_clean_job_skips_the_failed_results_call() -> None:
    fake = FakeIngest(polls=1)
    BulkJobs(fake, lambda _s: None).upsert("Risk_Flag__c", "Sync_Key__c", RECORDS)
    assert not any(p.endswith("failedResults") for _, p in fake.calls)
    assert sum(p.endswith("successfulResults") for _, p in fake.calls) == 1


def test_failed_job_leaves_every_record_not_processed_with_the_job_error() -> None:
    fake = FakeIngest(polls=1, final="Failed")
    results = BulkJobs(fake, lambda _s: None).upsert("Risk_Flag__c", "Sync_Key__c", RECORDS)
    assert all(not r["success"] for r in results)
    error = results[0]["errors"][0]
    assert error["statusCode"] == NOT_PROCESSED
    assert "Failed" in error["message"] and "Field name not found : Bogus__c" in error["message"]
    assert not any("Results" in p for _, p in fake.calls)  # nothing processed: no results to fetch


def test_gives_up_waiting_and_aborts() -> None:
    fake = FakeIngest(polls=10**6)
    results = BulkJobs(fake, lambda _s: None, max_wait_seconds=3.0).upsert(
        "Risk_Flag__c", "Sync_Key__c", RECORDS
    )
    assert ("PATCH", "jobs/ingest/750JOB1") in fake.calls and fake.state == "Aborted"
    assert "gave up waiting" in results[0]["errors"][0]["message"]
    # Counts from before the abort may be stale, so both result files are read.
    assert sum("Results" in p for _, p in fake.calls) == 2


def test_an_ambiguous_upload_aborts_the_job_and_uploads_once_into_a_new_one() -> None:
    fake = FakeIngest(polls=1)
    fake.upload_error = Ambiguous("PUT: read timed out")
    jobs: list[str] = []
    results = BulkJobs(fake, lambda _s: None).upsert("Risk_Flag__c", "Sync_Key__c", RECORDS, jobs.append)
    assert jobs == ["750JOB1", "750JOB2"]
    assert len(fake.uploaded) == 1 and all(r["success"] for r in results)


def test_collect_aborts_an_open_job_and_reports_its_rows_not_processed() -> None:
    fake = FakeIngest()
    fake.state = "Open"
    results = BulkJobs(fake, lambda _s: None).collect("750JOB1", "Sync_Key__c", RECORDS)
    assert results is not None and {r["errors"][0]["statusCode"] for r in results} == {NOT_PROCESSED}
    assert fake.state == "Aborted"


def test_collect_waits_for_a_running_job_then_reads_its_results() -> None:
    fake = FakeIngest(polls=2)
    body, _ = to_csv(RECORDS)
    fake.uploaded.append(body)
    fake.state = "InProgress"
    results = BulkJobs(fake, lambda _s: None).collect("750JOB1", "Sync_Key__c", RECORDS)
    assert results is not None and all(r["success"] for r in results)
    assert not any(m in ("POST", "PUT") for m, _ in fake.calls)  # nothing uploaded again


def test_collect_returns_none_for_a_job_salesforce_no_longer_has() -> None:
    def gone(method: str, path: str, **_: Any) -> requests.Response:
        raise SalesforceResourceNotFound(path, 404, "job", [{"errorCode": "NOT_FOUND"}])

    assert BulkJobs(gone, lambda _s: None).collect("750JOB1", "Sync_Key__c", RECORDS) is None


def test_refuses_an_upload_over_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("connectors.salesforce.bulk.MAX_UPLOAD_BYTES", 10)
    with pytest.raises(ValueError, match="split the rows"):
        BulkJobs(FakeIngest(), lambda _s: None).upsert("Risk_Flag__c", "Sync_Key__c", RECORDS)
