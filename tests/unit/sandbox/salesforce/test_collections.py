"""sObject Collections and Composite: per-record results in order, allOrNone, limits, references."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from sandbox.salesforce import Org

from .conftest import API

UPSERT_TASKS = f"{API}/composite/sobjects/Task/Sync_Key__c"


def task(key: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Task"}, "Sync_Key__c": key, "Subject": f"Call {key}"} | fields


def test_upsert_reports_each_record_in_request_order(http: requests.Session, org: Org) -> None:
    org.insert("Task", {"Subject": "existing", "Sync_Key__c": "k1"})
    resp = http.patch(UPSERT_TASKS, json={"allOrNone": False, "records": [
        task("k1", Priority="High"), task("k2", Priority="Urgent"), task("k3"),
    ]})  # fmt: skip
    assert resp.status_code == 200
    first, second, third = resp.json()
    assert (first["success"], first["created"]) == (True, False)
    assert second == {"success": False, "errors": [{
        "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "message": "Priority: bad value for restricted picklist field: Urgent", "fields": ["Priority"],
    }]}  # fmt: skip
    assert (third["success"], third["created"]) == (True, True) and third["id"].startswith("00T")
    by_key = {t["Sync_Key__c"]: t for t in org.records("Task")}
    assert sorted(by_key) == ["k1", "k3"]
    assert by_key["k1"]["Priority"] == "High" and by_key["k1"]["Subject"] == "Call k1"


def test_all_or_none_rolls_back_every_record_on_one_failure(http: requests.Session, org: Org) -> None:
    org.insert("Task", {"Subject": "before", "Sync_Key__c": "k1"})
    resp = http.patch(UPSERT_TASKS, json={"allOrNone": True, "records": [
        task("k1"), task("k2"), task("k3", Status="Lost"),
    ]})  # fmt: skip
    results = resp.json()
    assert [r["success"] for r in results] == [False, False, False]
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK", "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ]  # fmt: skip
    assert [(t["Sync_Key__c"], t["Subject"]) for t in org.records("Task")] == [("k1", "before")]


def test_the_same_key_twice_in_one_request_fails_both(http: requests.Session, org: Org) -> None:
    results = http.patch(UPSERT_TASKS, json={"records": [task("dup"), task("ok"), task("dup")]}).json()
    assert [r["success"] for r in results] == [False, True, False]
    assert results[0]["errors"][0] == {
        "statusCode": "DUPLICATE_EXTERNAL_ID", "message": "Duplicate external id specified: dup",
        "fields": ["Sync_Key__c"],
    }  # fmt: skip
    assert [t["Sync_Key__c"] for t in org.records("Task")] == ["ok"]


def test_more_than_200_records_is_refused_whole(http: requests.Session, org: Org) -> None:
    resp = http.patch(UPSERT_TASKS, json={"records": [task(f"k{i}") for i in range(201)]})
    assert resp.status_code == 400
    assert resp.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert org.records("Task") == []
    assert http.patch(UPSERT_TASKS, json={"records": [task(f"k{i}") for i in range(200)]}).status_code == 200


def test_an_unknown_field_fails_the_whole_request(http: requests.Session, org: Org) -> None:
    resp = http.patch(UPSERT_TASKS, json={"records": [task("a"), task("b", Mood__c="calm")]})
    assert resp.status_code == 400
    assert resp.json() == [{"message": "No such column 'Mood__c' on sobject of type Task", "errorCode": "INVALID_FIELD",
                            "fields": ["Mood__c"]}]  # fmt: skip
    assert org.records("Task") == []


def test_create_update_delete_and_retrieve(
    http: requests.Session, org: Org, account: Callable[..., str]
) -> None:
    acct = account()
    created = http.post(f"{API}/composite/sobjects", json={"records": [
        {"attributes": {"type": "Risk_Flag__c"}, "Account__c": acct, "Sync_Key__c": "f1"},
        {"attributes": {"type": "Case"}, "Subject": "Menu sync failure", "Priority": "High", "AccountId": acct},
    ]}).json()  # fmt: skip
    flag_id, case_id = (r["id"] for r in created)
    assert flag_id.startswith("a04") and case_id.startswith("500")
    updated = http.patch(f"{API}/composite/sobjects", json={"records": [
        {"attributes": {"type": "Case"}, "id": case_id, "Status": "Closed"},
        {"attributes": {"type": "Case"}, "id": "5005g0000000zzzAAA", "Status": "Closed"},
    ]}).json()  # fmt: skip
    assert updated[0] == {"id": case_id, "success": True, "errors": []}
    assert updated[1]["id"] == "5005g0000000zzzAAA" and not updated[1]["success"]
    fetched = http.get(
        f"{API}/composite/sobjects/Case", params={"ids": case_id, "fields": "Status,IsClosed"}
    ).json()
    assert (fetched[0]["Status"], fetched[0]["IsClosed"]) == ("Closed", True)
    deleted = http.delete(f"{API}/composite/sobjects", params={"ids": f"{flag_id},{case_id}"}).json()
    assert [r["success"] for r in deleted] == [True, True]
    assert org.records("Case") == [] and org.records("Risk_Flag__c") == []


def test_composite_chains_references_and_counts_as_one_call(http: requests.Session, org: Org) -> None:
    before = org.api_used
    resp = http.post(f"{API}/composite", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "acct",
         "body": {"Name": "Chained", "Store_Id__c": "CO-1"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Task", "referenceId": "call",
         "body": {"Subject": "Kickoff", "WhatId": "@{acct.id}"}},
        {"method": "GET", "url": "/services/data/v59.0/query?q=SELECT+Id,Subject+FROM+Task", "referenceId": "q"},
        {"method": "PATCH", "url": "/services/data/v59.0/sobjects/Task/@{q.records[0].Id}", "referenceId": "u",
         "body": {"Status": "Completed"}},
    ]})  # fmt: skip
    assert resp.status_code == 200
    out = resp.json()["compositeResponse"]
    assert [r["httpStatusCode"] for r in out] == [201, 201, 200, 204]
    assert (
        out[0]["httpHeaders"]["Location"] == f"/services/data/v59.0/sobjects/Account/{out[0]['body']['id']}"
    )
    (t,) = org.records("Task")
    assert (t["WhatId"], t["Status"]) == (out[0]["body"]["id"], "Completed")
    assert org.api_used == before + 1
    assert org.stats.snapshot()["composite"] == 1


def test_composite_all_or_none_halts_and_rolls_back(http: requests.Session, org: Org) -> None:
    out = http.post(f"{API}/composite", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "a", "body": {"Name": "A"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "b", "body": {}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "c", "body": {"Name": "C"}},
    ]}).json()["compositeResponse"]  # fmt: skip
    assert [r["httpStatusCode"] for r in out] == [400, 400, 400]
    assert [r["body"][0]["errorCode"] for r in out] == ["PROCESSING_HALTED", "REQUIRED_FIELD_MISSING",
                                                        "PROCESSING_HALTED"]  # fmt: skip
    assert org.records("Account") == []


def test_composite_without_all_or_none_reports_unresolvable_references(
    http: requests.Session, org: Org
) -> None:
    out = http.post(f"{API}/composite", json={"compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "a", "body": {}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Task", "referenceId": "t",
         "body": {"Subject": "x", "WhatId": "@{a.id}"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "b", "body": {"Name": "B"}},
    ]}).json()["compositeResponse"]  # fmt: skip
    assert [r["httpStatusCode"] for r in out] == [400, 400, 201]
    assert "Invalid reference specified. No value for a.id found in a." in out[1]["body"][0]["message"]
    assert [a["Name"] for a in org.records("Account")] == ["B"]


def test_composite_refuses_more_than_25_subrequests(http: requests.Session) -> None:
    sub = [{"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": f"r{i}"} for i in range(26)]
    resp = http.post(f"{API}/composite", json={"compositeRequest": sub})
    assert resp.status_code == 400 and "at most 25" in resp.json()[0]["message"]
