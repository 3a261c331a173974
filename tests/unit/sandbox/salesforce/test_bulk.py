"""Bulk API 2.0 ingest: the job state machine, CSV semantics, per-row results."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from sandbox.salesforce import Faults, Org

from .conftest import API

JOBS = f"{API}/jobs/ingest"


def open_job(http: requests.Session, **spec: Any) -> str:
    body = {"object": "Account", "operation": "upsert", "externalIdFieldName": "Store_Id__c",
            "contentType": "CSV", "lineEnding": "LF"} | spec  # fmt: skip
    resp = http.post(JOBS, json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json()["state"] == "Open"
    return str(resp.json()["id"])


def upload(http: requests.Session, job: str, text: str) -> None:
    resp = http.put(f"{JOBS}/{job}/batches", data=text.encode(), headers={"Content-Type": "text/csv"})
    assert resp.status_code == 201, resp.text


def close(http: requests.Session, job: str) -> str:
    return str(http.patch(f"{JOBS}/{job}", json={"state": "UploadComplete"}).json()["state"])


def poll(http: requests.Session, job: str) -> dict[str, Any]:
    info: dict[str, Any] = http.get(f"{JOBS}/{job}").json()
    return info


def rows(http: requests.Session, job: str, kind: str) -> list[dict[str, str]]:
    resp = http.get(f"{JOBS}/{job}/{kind}")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(resp.text)))


def test_states_advance_one_step_per_poll_and_rows_land_at_completion(
    http: requests.Session, org: Org
) -> None:
    job = open_job(http)
    upload(http, job, "Store_Id__c,Name,Health_Score__c\nNV-1,First,80\nNV-2,Second,bad\n")
    assert close(http, job) == "UploadComplete"
    first = poll(http, job)
    assert first["state"] == "InProgress"
    assert org.records("Account") == []  # not written until the job completes
    done = poll(http, job)
    assert done["state"] == "JobComplete"
    assert (done["numberRecordsProcessed"], done["numberRecordsFailed"]) == (2, 1)
    assert poll(http, job)["state"] == "JobComplete"  # terminal states stay put
    (ok,) = rows(http, job, "successfulResults")
    assert (ok["sf__Created"], ok["Store_Id__c"], ok["Name"]) == ("true", "NV-1", "First")
    assert ok["sf__Id"] == org.records("Account")[0]["Id"]
    (bad,) = rows(http, job, "failedResults")
    assert bad["sf__Id"] == ""
    assert bad["sf__Error"] == (
        "INVALID_TYPE_ON_FIELD_IN_RECORD:Health Score: value not of required type: bad:Health_Score__c --"
    )
    assert rows(http, job, "unprocessedrecords") == []


def test_empty_cells_leave_fields_alone_and_na_clears_them(http: requests.Session, org: Org,
                                                          account: Callable[..., str]) -> None:  # fmt: skip
    record_id = account(Store_Id__c="NV-9", Health_Score__c=70, BillingState="NV")
    job = open_job(http)
    upload(http, job, "Store_Id__c,Health_Score__c,BillingState\nNV-9,,#N/A\n")
    close(http, job)
    poll(http, job), poll(http, job)
    rec = org.get(record_id)
    assert rec is not None and (rec["Health_Score__c"], rec["BillingState"]) == (70.0, None)
    assert rows(http, job, "successfulResults")[0]["sf__Created"] == "false"


def test_relationship_columns_resolve_parents_by_external_id(http: requests.Session, org: Org,
                                                            account: Callable[..., str]) -> None:  # fmt: skip
    acct = account(Store_Id__c="AZ-1")
    job = open_job(http, object="Health_Snapshot__c", externalIdFieldName="Snapshot_Key__c")
    upload(http, job, "Snapshot_Key__c,Account__r.Store_Id__c,Snapshot_Date__c,Score__c,Band__c,Stale__c\n"
                      "AZ-1:2026-03-03,AZ-1,2026-03-03,61,Yellow,false\n"
                      "AZ-1:2026-03-04,AZ-1,2026-03-04,64,Yellow,true\n"
                      "AZ-1:2026-03-04,AZ-1,2026-03-04,65,Yellow,true\n")  # fmt: skip
    close(http, job)
    poll(http, job), poll(http, job)
    (snap,) = org.records("Health_Snapshot__c")
    assert (snap["Account__c"], snap["Score__c"], snap["Stale__c"]) == (acct, 61.0, False)
    failed = rows(http, job, "failedResults")
    assert [f["sf__Error"].split(":")[0] for f in failed] == [
        "DUPLICATE_EXTERNAL_ID",
        "DUPLICATE_EXTERNAL_ID",
    ]


def test_an_unknown_column_fails_the_job(http: requests.Session) -> None:
    job = open_job(http)
    upload(http, job, "Store_Id__c,Name,Mood__c\nNV-1,A,calm\n")
    close(http, job)
    poll(http, job)
    info = poll(http, job)
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Mood__c"
    assert [r["Store_Id__c"] for r in rows(http, job, "unprocessedrecords")] == ["NV-1"]


def test_abort_and_illegal_transitions(http: requests.Session) -> None:
    job = open_job(http)
    upload(http, job, "Store_Id__c,Name\nNV-1,A\n")
    aborted = http.patch(f"{JOBS}/{job}", json={"state": "Aborted"})
    assert aborted.json()["state"] == "Aborted"
    assert http.patch(f"{JOBS}/{job}", json={"state": "UploadComplete"}).status_code == 400
    assert (
        http.put(f"{JOBS}/{job}/batches", data=b"x", headers={"Content-Type": "text/csv"}).status_code == 409
    )
    assert [r["Name"] for r in rows(http, job, "unprocessedrecords")] == ["A"]
    results_early = http.get(f"{JOBS}/{open_job(http)}/successfulResults")
    assert results_early.status_code == 400


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"object": "Nope__c"}, "Entity 'Nope__c' is not supported"),
        ({"operation": "merge"}, "Invalid operation: merge"),
        ({"externalIdFieldName": None}, "External ID was blank for Account"),
        ({"externalIdFieldName": "BillingState"}, "BillingState is not an External ID"),
    ],
)
def test_bad_job_specs_are_refused(http: requests.Session, spec: dict[str, Any], message: str) -> None:
    body = {"object": "Account", "operation": "upsert", "externalIdFieldName": "Store_Id__c"} | spec
    resp = http.post(JOBS, json=body)
    assert resp.status_code == 400 and message in resp.json()[0]["message"]


def test_insert_update_delete_operations(
    http: requests.Session, org: Org, account: Callable[..., str]
) -> None:
    keep, drop = account(), account()
    job = open_job(http, operation="update", externalIdFieldName=None)
    upload(http, job, f"Id,Health_Band__c\n{keep[:15]},Red\n")
    close(http, job)
    poll(http, job), poll(http, job)
    job = open_job(http, operation="delete", externalIdFieldName=None)
    upload(http, job, f"Id\n{drop}\n")
    close(http, job)
    poll(http, job), poll(http, job)
    assert [(r["Id"], r["Health_Band__c"]) for r in org.records("Account")] == [(keep, "Red")]


def test_simple_salesforce_bulk2_upsert_and_failed_records(sf: Salesforce, org: Org) -> None:
    out = sf.bulk2.Account.upsert(
        records=[{"Store_Id__c": "NV-1", "Name": "One"}, {"Store_Id__c": "NV-2", "Name": ""}],
        external_id_field="Store_Id__c", wait=0.001,
    )  # fmt: skip
    assert out[0]["numberRecordsProcessed"] == 2 and out[0]["numberRecordsFailed"] == 1
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_failed_records(out[0]["job_id"]))))
    assert [(f["Store_Id__c"], f["sf__Error"]) for f in failed] == [
        ("NV-2", "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --")
    ]
    assert [a["Name"] for a in org.records("Account")] == ["One"]


def test_injected_job_failure_surfaces_in_simple_salesforce(sf: Salesforce, org: Org) -> None:
    org.faults = Faults(bulk_failure_rate=1.0)
    with pytest.raises(SalesforceOperationError, match="fault injection"):
        sf.bulk2.Account.insert(records=[{"Name": "x"}], wait=0.001)
    assert org.records("Account") == []


def test_polls_to_complete_is_configurable(http: requests.Session, org: Org) -> None:
    org.bulk.polls_to_complete = 4
    job = open_job(http)
    upload(http, job, "Store_Id__c,Name\nNV-1,A\n")
    close(http, job)
    assert [poll(http, job)["state"] for _ in range(5)] == [
        "InProgress", "InProgress", "InProgress", "JobComplete", "JobComplete",
    ]  # fmt: skip
