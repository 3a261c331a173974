"""Writes are checked as Salesforce checks them, and refused with its error codes and messages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from sandbox.salesforce import Org

from .conftest import API


def create(http: requests.Session, sobject: str, body: dict[str, Any]) -> requests.Response:
    return http.post(f"{API}/sobjects/{sobject}", json=body)


def error(resp: requests.Response) -> dict[str, Any]:
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert isinstance(body, list) and len(body) == 1
    return dict(body[0])


@pytest.mark.parametrize(
    ("sobject", "body", "code", "message", "fields"),
    [
        ("Account", {"Store_Id__c": "X"}, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"]),
        ("Health_Snapshot__c", {"Snapshot_Key__c": "k"}, "REQUIRED_FIELD_MISSING",
         "Required fields are missing: [Account__c, Snapshot_Date__c]", ["Account__c", "Snapshot_Date__c"]),
        ("Opportunity", {"Name": "Renewal"}, "REQUIRED_FIELD_MISSING",
         "Required fields are missing: [StageName, CloseDate]", ["StageName", "CloseDate"]),
        ("Account", {"Name": "A", "Health_Band__c": "Purple"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
         "Health Band: bad value for restricted picklist field: Purple", ["Health_Band__c"]),
        ("Task", {"Subject": "s", "Priority": "Urgent"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
         "Priority: bad value for restricted picklist field: Urgent", ["Priority"]),
        ("Account", {"Name": "A", "Store_Id__c": "x" * 65}, "STRING_TOO_LONG",
         f"Store ID: data value too large: {'x' * 65} (max length=64)", ["Store_Id__c"]),
        ("Account", {"Name": "A", "Health_Score__c": "high"}, "INVALID_TYPE_ON_FIELD_IN_RECORD",
         "Health Score: value not of required type: high", ["Health_Score__c"]),
        ("Account", {"Name": "A", "Health_Score__c": 1000}, "NUMBER_OUTSIDE_VALID_RANGE",
         "Health Score: value outside of valid range on numeric field: 1000", ["Health_Score__c"]),
        ("Account", {"Name": "A", "Health_Updated_At__c": "yesterday"}, "INVALID_TYPE_ON_FIELD_IN_RECORD",
         "Health Updated At: value not of required type: yesterday", ["Health_Updated_At__c"]),
        ("Account", {"Name": "A", "Health_Stale__c": "maybe"}, "INVALID_TYPE_ON_FIELD_IN_RECORD",
         "Health Stale: value not of required type: maybe", ["Health_Stale__c"]),
        ("Task", {"Subject": "s", "IsClosed": True}, "INVALID_FIELD_FOR_INSERT_UPDATE",
         "Unable to create/update fields: IsClosed.", ["IsClosed"]),
        ("Account", {"Name": "A", "CreatedDate": "2020-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE",
         "Unable to create/update fields: CreatedDate.", ["CreatedDate"]),
        ("Account", {"Name": "A", "Id": "001000000000001AAA"}, "INVALID_FIELD_FOR_INSERT_UPDATE",
         "cannot specify Id in an insert call", ["Id"]),
        ("Account", {"Name": "A", "Colour__c": "red"}, "INVALID_FIELD",
         "No such column 'Colour__c' on sobject of type Account", ["Colour__c"]),
        ("Account", {"Name": "A", "ParentId": "not-an-id"}, "MALFORMED_ID",
         "Parent Account ID: id value of incorrect type: not-an-id", ["ParentId"]),
        ("Account", {"Name": "A", "ParentId": "0055g0000000001AAA"}, "FIELD_INTEGRITY_EXCEPTION",
         "Parent Account ID: id value of incorrect type: 0055g0000000001AAA", ["ParentId"]),
        ("Account", {"Name": "A", "ParentId": "0015g00000000zzAAA"}, "INVALID_CROSS_REFERENCE_KEY",
         "invalid cross reference id", ["ParentId"]),
        ("Risk_Flag__c", {"Account__r": {"Store_Id__c": "NOPE"}}, "INVALID_FIELD",
         "Foreign key external ID: NOPE not found for field Store_Id__c in entity Account", ["Account__c"]),
    ],
)  # fmt: skip
def test_refused_writes(
    http: requests.Session, sobject: str, body: dict[str, Any], code: str, message: str, fields: list[str]
) -> None:
    err = error(create(http, sobject, body))
    assert err["errorCode"] == code
    assert err["message"].startswith(message)
    assert err["fields"] == fields


def test_unique_external_ids_respect_case_sensitivity(http: requests.Session, org: Org) -> None:
    first = org.insert("Account", {"Name": "A", "Store_Id__c": "NV-001"})
    err = error(create(http, "Account", {"Name": "B", "Store_Id__c": "nv-001"}))
    assert err["errorCode"] == "DUPLICATE_VALUE"
    assert err["message"] == f"duplicate value found: Store_Id__c duplicates value on record with id: {first}"
    # Sync_Key__c is case-sensitive, so keys differing only in case are distinct records.
    assert create(http, "Task", {"Subject": "a", "Sync_Key__c": "Key"}).status_code == 201
    assert create(http, "Task", {"Subject": "b", "Sync_Key__c": "key"}).status_code == 201
    assert (
        error(create(http, "Task", {"Subject": "c", "Sync_Key__c": "Key"}))["errorCode"] == "DUPLICATE_VALUE"
    )


def test_deleting_frees_a_unique_value(http: requests.Session, org: Org) -> None:
    first = org.insert("Account", {"Name": "A", "Store_Id__c": "NV-001"})
    assert http.delete(f"{API}/sobjects/Account/{first}").status_code == 204
    assert create(http, "Account", {"Name": "B", "Store_Id__c": "NV-001"}).status_code == 201


def test_values_are_stored_in_salesforce_forms(org: Org, account: Callable[..., str]) -> None:
    record_id = account(
        Health_Score__c="72.6", AOV_Online__c=41.237, Health_Updated_At__c="2026-03-04T10:15:00+02:00",
        Onboarding_Start__c="2026-03-01", Health_Stale__c="true", Description="",
    )  # fmt: skip
    rec = org.get(record_id)
    assert rec is not None
    assert rec["Health_Score__c"] == 73.0  # rounded to the field's scale of 0
    assert rec["AOV_Online__c"] == 41.24
    assert rec["Health_Updated_At__c"] == "2026-03-04T08:15:00.000+0000"
    assert rec["Onboarding_Start__c"] == "2026-03-01"
    assert rec["Health_Stale__c"] is True
    assert rec["Description"] is None  # an empty string is a null


def test_defaults_and_audit_fields_on_create(org: Org, account: Callable[..., str]) -> None:
    acct = account()
    flag = org.get(org.insert("Risk_Flag__c", {"Account__c": acct, "Sync_Key__c": "k"}))
    assert flag is not None
    assert flag["Status__c"] == "Open"  # the picklist's default value
    assert flag["Name"] == flag["Id"]  # an unnamed custom record is named after its id
    assert flag["CreatedById"] == org.integration_user_id
    assert flag["CreatedDate"] == "2026-03-04T15:30:00.000+0000"
    task = org.get(org.insert("Task", {"Subject": "Call"}))
    assert task is not None
    assert (task["Priority"], task["Status"], task["IsClosed"]) == ("Normal", "Not Started", False)
    assert task["OwnerId"] == org.integration_user_id


def test_master_detail_cannot_move_but_may_be_resent_unchanged(http: requests.Session, org: Org,
                                                              account: Callable[..., str]) -> None:  # fmt: skip
    first, second = account(), account()
    flag = org.insert("Risk_Flag__c", {"Account__c": first, "Sync_Key__c": "k"})
    same = http.patch(
        f"{API}/sobjects/Risk_Flag__c/{flag}", json={"Account__c": first, "Severity__c": "High"}
    )
    assert same.status_code == 204
    moved = error(http.patch(f"{API}/sobjects/Risk_Flag__c/{flag}", json={"Account__c": second}))
    assert moved["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_deleting_a_master_deletes_its_details(org: Org, account: Callable[..., str]) -> None:
    acct = account()
    org.insert("Risk_Flag__c", {"Account__c": acct, "Sync_Key__c": "k"})
    org.delete(acct)
    assert org.records("Risk_Flag__c") == []
    assert len(org.records("Risk_Flag__c", include_deleted=True)) == 1


def test_relationship_by_external_id_and_15_character_ids(http: requests.Session, org: Org,
                                                         account: Callable[..., str]) -> None:  # fmt: skip
    acct = account(Store_Id__c="AZ-7")
    by_key = create(http, "Risk_Flag__c", {"Account__r": {"Store_Id__c": "az-7"}, "Sync_Key__c": "a"})
    by_short_id = create(http, "Risk_Flag__c", {"Account__c": acct[:15], "Sync_Key__c": "b"})
    assert by_key.status_code == by_short_id.status_code == 201
    assert {r["Account__c"] for r in org.records("Risk_Flag__c")} == {acct}


def test_derived_fields_follow_their_inputs(org: Org, account: Callable[..., str]) -> None:
    acct = account()
    contract = org.get(
        org.insert("Contract", {"AccountId": acct, "StartDate": "2026-01-31", "ContractTerm": 1})
    )
    assert contract is not None and contract["EndDate"] == "2026-02-27"
    assert contract["Status"] == "Draft" and contract["ContractNumber"] == "00000100"
    case_id = org.insert("Case", {"Subject": "Menu sync", "AccountId": acct})
    opp = org.insert("Opportunity", {"Name": "R", "StageName": "Closed Won", "CloseDate": "2026-06-01",
                                     "AccountId": acct})  # fmt: skip
    task = org.insert("Task", {"Subject": "Follow up", "WhatId": case_id})
    assert org.get(task)["AccountId"] == acct  # type: ignore[index]
    assert org.get(opp)["IsWon"] is True  # type: ignore[index]
    org.update("Task", task, {"Status": "Completed"})
    closed = org.get(task)
    assert closed is not None and closed["IsClosed"] is True
    assert closed["CompletedDateTime"] == "2026-03-04T15:30:00.000+0000"


def test_seeding_may_backdate_system_fields(org: Org, account: Callable[..., str]) -> None:
    acct = org.get(account(CreatedDate="2025-12-01T00:00:00Z"))
    assert acct is not None and acct["CreatedDate"] == "2025-12-01T00:00:00.000+0000"
