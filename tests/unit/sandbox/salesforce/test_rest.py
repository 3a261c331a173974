"""REST resources through unmodified simple-salesforce and raw HTTP: CRUD, upsert, paging, describe."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from sandbox.salesforce import Org

from .conftest import API, BASE


def test_crud_round_trip(sf: Salesforce, org: Org) -> None:
    created = sf.Account.create({"Name": "Green Leaf", "Store_Id__c": "NV-001"})
    assert created["success"] and created["id"].startswith("001") and len(created["id"]) == 18
    assert sf.Account.update(created["id"], {"Health_Score__c": 80}) == 204
    got = sf.Account.get(created["id"])
    assert (got["Name"], got["Health_Score__c"]) == ("Green Leaf", 80.0)
    assert got["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{created['id']}",
    }
    assert sf.Account.get_by_custom_id("Store_Id__c", "nv-001")["Id"] == created["id"]
    assert sf.Account.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(created["id"])


def test_get_with_chosen_fields(http: requests.Session, account: Callable[..., str]) -> None:
    record_id = account()
    body = http.get(f"{API}/sobjects/Account/{record_id}", params={"fields": "Name,Store_Id__c"}).json()
    assert list(body) == ["attributes", "Name", "Store_Id__c"]


def test_upsert_by_external_id_creates_then_updates(sf: Salesforce, org: Org) -> None:
    first = sf.Task.upsert("Sync_Key__c/renewal:001:90", {"Subject": "Renewal in 90 days"}, raw_response=True)
    assert first.status_code == 201 and first.json()["created"] is True
    second = sf.Task.upsert("Sync_Key__c/renewal:001:90", {"Priority": "High"}, raw_response=True)
    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": False}
    (task,) = org.records("Task")
    assert (task["Subject"], task["Priority"], task["Sync_Key__c"]) == (
        "Renewal in 90 days",
        "High",
        "renewal:001:90",
    )


def test_update_only_upsert_does_not_create(http: requests.Session, org: Org) -> None:
    resp = http.patch(
        f"{API}/sobjects/Task/Sync_Key__c/k9", params={"updateOnly": "true"}, json={"Subject": "x"}
    )
    assert resp.status_code == 404 and org.records("Task") == []


def test_several_matches_answer_300(sf: Salesforce, org: Org) -> None:
    # Name is an idLookup field but not unique, so two records can share it.
    a = org.insert("Account", {"Name": "Twin"})
    b = org.insert("Account", {"Name": "Twin"})
    with pytest.raises(SalesforceMoreThanOneRecord) as caught:
        sf.Account.get_by_custom_id("Name", "Twin")
    assert caught.value.content == [f"/services/data/v59.0/sobjects/Account/{a}",
                                    f"/services/data/v59.0/sobjects/Account/{b}"]  # fmt: skip


def test_write_errors_surface_as_simple_salesforce_exceptions(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Account.create({"Name": "A", "Health_Band__c": "Blue"})
    assert caught.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_query_all_follows_next_records_url(sf: Salesforce, org: Org) -> None:
    org.page_size = 3
    org.load("Account", [{"Name": f"Store {i:02d}"} for i in range(8)])
    first = sf.query("SELECT Name FROM Account ORDER BY Name")
    assert (first["totalSize"], first["done"], len(first["records"])) == (8, False, 3)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-3")
    every = sf.query_all("SELECT Name FROM Account ORDER BY Name")
    assert [r["Name"] for r in every["records"]] == [f"Store {i:02d}" for i in range(8)]
    calls = org.stats.snapshot()
    assert (calls["query"], calls["query_more"]) == (2, 2)


def test_batch_size_header_is_clamped_to_salesforce_bounds(http: requests.Session, org: Org) -> None:
    org.load("Account", [{"Name": f"S{i}"} for i in range(450)])
    page = http.get(f"{API}/query", params={"q": "SELECT Id FROM Account"},
                    headers={"Sforce-Query-Options": "batchSize=50"}).json()  # fmt: skip
    assert len(page["records"]) == 200  # Salesforce's minimum batch size
    page = http.get(f"{API}/query", params={"q": "SELECT Id FROM Account"},
                    headers={"Sforce-Query-Options": "batchSize=300"}).json()  # fmt: skip
    assert len(page["records"]) == 300
    more = http.get(BASE + page["nextRecordsUrl"]).json()
    assert (len(more["records"]), more["done"]) == (150, True)


def test_bad_query_locator_and_bad_soql(http: requests.Session) -> None:
    resp = http.get(f"{API}/query/01gNOPE-2000")
    assert (resp.status_code, resp.json()[0]["errorCode"]) == (400, "INVALID_QUERY_LOCATOR")
    resp = http.get(f"{API}/query", params={"q": "SELECT Nope__c FROM Account"})
    assert resp.status_code == 400
    assert resp.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "ERROR at Row:1:Column:8" in resp.json()[0]["message"]


def test_describe_reports_the_metadata(sf: Salesforce) -> None:
    d = sf.Risk_Flag__c.describe()
    assert (d["name"], d["keyPrefix"], d["custom"]) == ("Risk_Flag__c", "a04", True)
    fields = {f["name"]: f for f in d["fields"]}
    key = fields["Sync_Key__c"]
    assert (key["type"], key["length"], key["externalId"], key["unique"], key["caseSensitive"], key["idLookup"]) == (
        "string", 255, True, True, True, True,
    )  # fmt: skip
    status = fields["Status__c"]
    assert [v["value"] for v in status["picklistValues"]] == ["Open", "Snoozed", "Resolved"]
    assert status["restrictedPicklist"] and status["defaultValue"] == "Open"
    master = fields["Account__c"]
    assert (master["type"], master["referenceTo"], master["relationshipName"], master["nillable"],
            master["updateable"], master["cascadeDelete"]) == ("reference", ["Account"], "Account__r", False, False,
                                                               True)  # fmt: skip
    assert fields["Evidence__c"]["filterable"] is False
    task = {f["name"]: f for f in sf.Task.describe()["fields"]}
    assert task["Priority"]["defaultedOnCreate"] and not task["Priority"]["nillable"]
    assert task["WhatId"]["polymorphicForeignKey"] and task["WhatId"]["relationshipName"] == "What"
    assert task["IsClosed"]["createable"] is False
    account = sf.Account.describe()
    assert {"childSObject": "Risk_Flag__c", "field": "Account__c", "relationshipName": "Risk_Flags__r",
            "cascadeDelete": True, "restrictedDelete": False,
            "deprecatedAndHidden": False} in account["childRelationships"]  # fmt: skip
    names = {o["name"]: o["keyPrefix"] for o in sf.describe()["sobjects"]}
    assert {names[n] for n in ("Account", "Contact", "User", "Task", "Case", "Contract", "Opportunity", "Group")} == {
        "001", "003", "005", "00T", "500", "800", "006", "00G",
    }  # fmt: skip


def test_versions_limits_and_the_usage_header(http: requests.Session, sf: Salesforce) -> None:
    versions = http.get(f"{BASE}/services/data/").json()
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions
    resp = http.get(f"{API}/limits")
    assert resp.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    assert resp.json()["DailyApiRequests"] == {"Max": 100000, "Remaining": 99999}
    assert http.get(f"{BASE}/services/data/v62.0/limits").status_code == 200  # any version is answered


def test_unknown_paths_and_methods(http: requests.Session) -> None:
    assert http.get(f"{API}/nothing/here").json() == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    resp = http.put(f"{API}/sobjects/Account")
    assert resp.status_code == 405 and resp.json()[0]["errorCode"] == "METHOD_NOT_ALLOWED"
    assert http.get(f"{API}/sobjects/Nope__c/describe").status_code == 404
    assert http.get(f"{API}/sobjects/Account/not-an-id").status_code == 404
    bad_json = http.post(f"{API}/sobjects/Account", data=b"{", headers={"Content-Type": "application/json"})
    assert bad_json.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
