"""Query evaluation against a seeded org: filters, ordering, projection, and Salesforce's refusals."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce import format_soql

from sandbox.salesforce import Org
from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.soql.errors import SoqlError

from .conftest import API


@pytest.fixture
def seeded(org: Org) -> Org:
    ana = org.insert(
        "User", {"FirstName": "Ana", "LastName": "Ruiz", "Username": "ana@x", "Email": "ana@x.com"}
    )
    green = org.insert("Account", {
        "Name": "Green Leaf", "Store_Id__c": "NV-001", "Health_Score__c": 82, "Health_Band__c": "Green",
        "BillingState": "NV", "CSM__c": ana, "Onboarding_Start__c": "2026-03-01", "Health_Stale__c": True,
    })  # fmt: skip
    blue = org.insert("Account", {
        "Name": "Blue Moon", "Store_Id__c": "AZ-002", "Health_Score__c": 55, "Health_Band__c": "Yellow",
        "BillingState": "AZ", "Onboarding_Start__c": "2026-02-20",
    })  # fmt: skip
    org.insert("Account", {
        "Name": "desert bloom", "Store_Id__c": "AZ-003", "BillingState": "AZ", "ParentId": blue,
        "Onboarding_Start__c": "2026-03-05", "Description": "it's 100% organic_ish",
    })  # fmt: skip
    org.insert("Risk_Flag__c", {"Account__c": green, "Sync_Key__c": "nv-1:menu", "Severity__c": "High",
                                "Opened_At__c": "2026-03-04T09:00:00Z", "Rule__c": "menu_sync"})  # fmt: skip
    org.insert("Risk_Flag__c", {"Account__c": blue, "Sync_Key__c": "az-2:drop", "Severity__c": "Low",
                                "Opened_At__c": "2026-02-01T09:00:00Z", "Rule__c": "category_drop"})  # fmt: skip
    return org


def names(org: Org, soql: str) -> list[str]:
    return [r["Name"] for r in org.query(soql)]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Name = 'green leaf'", ["Green Leaf"]),  # text compares case-insensitively
        ("Name != 'Green Leaf'", ["Blue Moon", "desert bloom"]),
        ("Health_Score__c > 60", ["Green Leaf"]),
        ("Health_Score__c <= 55", ["Blue Moon"]),
        ("Health_Score__c != 55", ["desert bloom", "Green Leaf"]),  # != keeps nulls
        ("Health_Score__c = null", ["desert bloom"]),
        ("Health_Score__c != null", ["Blue Moon", "Green Leaf"]),
        ("Health_Score__c < 100", ["Blue Moon", "Green Leaf"]),  # ordering never matches null
        ("Health_Band__c IN ('Green', 'Red')", ["Green Leaf"]),
        ("Health_Band__c NOT IN ('Green')", ["Blue Moon", "desert bloom"]),
        ("Store_Id__c LIKE 'az-%'", ["Blue Moon", "desert bloom"]),
        ("Store_Id__c LIKE '__-00_'", ["Blue Moon", "desert bloom", "Green Leaf"]),
        ("Health_Stale__c = true", ["Green Leaf"]),
        ("NOT Health_Stale__c = true", ["Blue Moon", "desert bloom"]),
        ("BillingState = 'AZ' AND Health_Score__c = null", ["desert bloom"]),
        ("BillingState = 'NV' OR Health_Score__c = null", ["desert bloom", "Green Leaf"]),
        ("(BillingState = 'NV' OR Health_Band__c = 'Yellow') AND Health_Score__c > 60", ["Green Leaf"]),
        ("Parent.Name = 'Blue Moon'", ["desert bloom"]),
        ("CSM__r.Email = 'ANA@X.COM'", ["Green Leaf"]),
        ("Onboarding_Start__c > 2026-03-01", ["desert bloom"]),
        ("Onboarding_Start__c = LAST_N_DAYS:3", ["Green Leaf"]),  # today is 2026-03-04
        ("Onboarding_Start__c = NEXT_N_DAYS:1", ["desert bloom"]),
        ("Onboarding_Start__c < THIS_MONTH", ["Blue Moon"]),
        ("Onboarding_Start__c = THIS_WEEK", ["desert bloom", "Green Leaf"]),  # Sun 1 Mar – Sat 7 Mar
        ("CreatedDate = TODAY", ["Blue Moon", "desert bloom", "Green Leaf"]),
        ("CreatedDate > 2026-03-04T15:29:59Z", ["Blue Moon", "desert bloom", "Green Leaf"]),
        ("CreatedDate < YESTERDAY", []),
    ],
)
def test_filters(seeded: Org, where: str, expected: list[str]) -> None:
    assert sorted(names(seeded, f"SELECT Name FROM Account WHERE {where}"), key=str.lower) == expected


def test_escaped_strings_from_format_soql_match_the_stored_text(seeded: Org) -> None:
    soql = format_soql("SELECT Name FROM Account WHERE Name LIKE '{:like}%'", "desert")
    assert names(seeded, soql) == ["desert bloom"]
    assert names(
        seeded, format_soql("SELECT Name FROM Account WHERE Store_Id__c IN {}", ["NV-001", "x'y"])
    ) == ["Green Leaf"]


def test_order_by_defaults_to_nulls_first_and_sorts_text_case_insensitively(seeded: Org) -> None:
    assert names(seeded, "SELECT Name FROM Account ORDER BY Health_Score__c") == [
        "desert bloom", "Blue Moon", "Green Leaf",
    ]  # fmt: skip
    assert names(seeded, "SELECT Name FROM Account ORDER BY Health_Score__c DESC NULLS LAST") == [
        "Green Leaf", "Blue Moon", "desert bloom",
    ]  # fmt: skip
    assert names(seeded, "SELECT Name FROM Account ORDER BY Health_Score__c DESC NULLS FIRST") == [
        "desert bloom", "Green Leaf", "Blue Moon",
    ]  # fmt: skip
    assert names(seeded, "SELECT Name FROM Account ORDER BY Name") == [
        "Blue Moon",
        "desert bloom",
        "Green Leaf",
    ]
    assert names(seeded, "SELECT Name FROM Account ORDER BY BillingState, Name DESC") == [
        "desert bloom", "Blue Moon", "Green Leaf",
    ]  # fmt: skip


def test_limit_offset_and_count(seeded: Org, http: requests.Session) -> None:
    assert names(seeded, "SELECT Name FROM Account ORDER BY Name LIMIT 2 OFFSET 1") == [
        "desert bloom",
        "Green Leaf",
    ]
    body = http.get(
        f"{API}/query", params={"q": "SELECT COUNT() FROM Account WHERE BillingState = 'AZ'"}
    ).json()
    assert body == {"totalSize": 2, "done": True, "records": []}


def test_parent_fields_nest_under_the_relationship_with_attributes(seeded: Org) -> None:
    rows = seeded.query(
        "SELECT Rule__c, Account__r.Store_Id__c, Account__r.CSM__r.Name FROM Risk_Flag__c ORDER BY Rule__c"
    )
    first = rows[1]
    assert first["attributes"]["type"] == "Risk_Flag__c"
    assert first["attributes"]["url"].startswith("/services/data/v59.0/sobjects/Risk_Flag__c/a04")
    assert first["Rule__c"] == "menu_sync"
    assert first["Account__r"]["attributes"]["type"] == "Account"
    assert first["Account__r"]["Store_Id__c"] == "NV-001"
    assert first["Account__r"]["CSM__r"]["Name"] == "Ana Ruiz"
    # A missing parent is a null relationship, not a missing key.
    assert rows[0]["Account__r"]["CSM__r"] is None


def test_object_name_may_prefix_its_own_fields(seeded: Org) -> None:
    assert [
        r["Name"]
        for r in seeded.query("SELECT Account.Name FROM Account WHERE Account.Store_Id__c = 'NV-001'")
    ] == ["Green Leaf"]


def test_query_all_sees_deleted_records(seeded: Org) -> None:
    flag = seeded.query("SELECT Id FROM Risk_Flag__c WHERE Rule__c = 'menu_sync'")[0]["Id"]
    seeded.delete(flag)
    assert seeded.query("SELECT Id FROM Risk_Flag__c WHERE Rule__c = 'menu_sync'") == []
    deleted = seeded.query(
        "SELECT Id, IsDeleted FROM Risk_Flag__c WHERE Rule__c = 'menu_sync'", include_deleted=True
    )
    assert [(r["Id"], r["IsDeleted"]) for r in deleted] == [(flag, True)]


def test_ids_match_in_15_and_18_character_forms(seeded: Org) -> None:
    account = seeded.query("SELECT Id FROM Account WHERE Name = 'Green Leaf'")[0]["Id"]
    assert names(seeded, f"SELECT Name FROM Account WHERE Id = '{account[:15]}'") == ["Green Leaf"]
    assert names(seeded, f"SELECT Name FROM Account WHERE Id IN ('{account}')") == ["Green Leaf"]


def test_account_contact_roles_query_by_account_role_and_primary(seeded: Org) -> None:
    green = seeded.query("SELECT Id FROM Account WHERE Name = 'Green Leaf'")[0]["Id"]
    ana = seeded.insert("Contact", {"FirstName": "Ana", "LastName": "Diaz", "AccountId": green})
    bo = seeded.insert("Contact", {"LastName": "Bo", "AccountId": green})
    seeded.insert("AccountContactRole", {"AccountId": green, "ContactId": ana, "Role": "Decision Maker",
                                         "IsPrimary": True})  # fmt: skip
    seeded.insert("AccountContactRole", {"AccountId": green, "ContactId": bo, "Role": "Influencer"})
    rows = seeded.query(
        "SELECT ContactId, Contact.Name, Role, IsPrimary FROM AccountContactRole "
        f"WHERE AccountId IN ('{green}') AND Role IN ('Decision Maker', 'Executive Sponsor') "
        "AND IsPrimary = true"
    )
    assert [(r["ContactId"], r["Contact"]["Name"], r["Role"], r["IsPrimary"]) for r in rows] == [
        (ana, "Ana Diaz", "Decision Maker", True)
    ]
    with pytest.raises(RecordError, match="restricted picklist"):  # Salesforce's standard Role values
        seeded.insert("AccountContactRole", {"AccountId": green, "ContactId": bo, "Role": "Champion"})


@pytest.mark.parametrize(
    ("soql", "code", "message"),
    [
        ("SELECT Foo__c FROM Account", "INVALID_FIELD", "No such column 'Foo__c' on entity 'Account'"),
        ("SELECT Account__c.Name FROM Risk_Flag__c", "INVALID_FIELD", "Didn't understand relationship 'Account__c'"),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE", "sObject type 'Nope__c' is not supported"),
        ("SELECT Id FROM Account WHERE Health_Score__c = '80'", "INVALID_FIELD",
         "value of filter criterion for field 'Health_Score__c' must be of type double"),
        ("SELECT Id FROM Account WHERE Name = 5", "INVALID_FIELD", "must be of type string"),
        ("SELECT Id FROM Account WHERE Onboarding_Start__c = 2026-03-01T00:00:00Z", "INVALID_FIELD",
         "must be of type date"),
        ("SELECT Id FROM Account WHERE Health_Stale__c = 'true'", "INVALID_FIELD", "must be of type boolean"),
        ("SELECT Id FROM Risk_Flag__c WHERE Evidence__c = null", "INVALID_FIELD", "can not be filtered"),
        ("SELECT Id FROM Risk_Flag__c ORDER BY Evidence__c", "INVALID_FIELD", "can not be sorted"),
        ("SELECT Id FROM Account WHERE Id = 'nope'", "INVALID_QUERY_FILTER_OPERATOR", "invalid ID field: nope"),
        ("SELECT Id, Name, id FROM Account", "MALFORMED_QUERY", "duplicate field selected: id"),
    ],
)  # fmt: skip
def test_refusals(seeded: Org, soql: str, code: str, message: str) -> None:
    with pytest.raises(SoqlError) as caught:
        seeded.query(soql)
    assert caught.value.code == code
    assert message in caught.value.message
