"""Mapping files against an org's describe: missing and read-only fields, types, picklists, lengths."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from mappings.describe import validate_against_describe
from mappings.load import MappingSet, load_mapping_set
from mappings.owners import validate_queues


def f(name: str, type_: str = "string", **kw: Any) -> dict[str, Any]:
    picklist = kw.pop("picklist", ())
    out = {
        "name": name,
        "type": type_,
        "length": kw.pop("length", 255 if type_ in ("string", "picklist", "reference", "id") else 0),
        "createable": kw.pop("createable", True),
        "updateable": kw.pop("updateable", True),
        "externalId": kw.pop("externalId", False),
        "restrictedPicklist": kw.pop("restricted", bool(picklist)),
        "picklistValues": [{"value": v, "active": True} for v in picklist],
    }
    out.update(kw)
    return out


def org() -> dict[str, dict[str, Any]]:
    """The shipped data model, as describe reports it."""
    return {
        "Account": {
            "fields": [
                f("Id", "id", createable=False, updateable=False),
                f("Name"),
                f("OwnerId", "reference"),
                f("CSM__c", "reference"),
                f("Store_Id__c", externalId=True, length=64),
                *(
                    f(n, "double")
                    for n in (
                        "Online_Orders_7d__c",
                        "Health_Score__c",
                        "Health_Score_Change_7d__c",
                        "Health_Override__c",
                        "Open_Risk_Count__c",
                        "Locations_Total__c",
                        "Locations_Live__c",
                    )
                ),  # fmt: skip
                *(f(n, "currency") for n in ("Online_Revenue_7d__c", "AOV_Online__c", "AOV_In_Store__c")),
                *(
                    f(n, "percent")
                    for n in ("Online_Conversion__c", "Cart_Abandonment__c", "Onboarding_Progress__c")
                ),
                f("Health_Band__c", "picklist", picklist=("Green", "Yellow", "Red")),
                f("Health_Trend__c", "picklist", picklist=("Improving", "Stable", "Declining")),
                f("Health_Drivers__c", "textarea", length=32768),
                f("Health_Stale__c", "boolean"),
                f("Health_Updated_At__c", "datetime"),
            ]
        },
        "Risk_Flag__c": {
            "fields": [
                f("Sync_Key__c", externalId=True),
                f("Name", length=80),
                f("Rule__c", length=80),
                f("Rule_Version__c", length=40),
                f("Severity__c", "picklist", picklist=("Low", "Medium", "High", "Critical")),
                f("Status__c", "picklist", picklist=("Open", "Snoozed", "Resolved")),
                f("Evidence__c", "textarea", length=32768),
                f("Evidence_Data__c", "textarea", length=32768),
                f("Category__c", length=80),
                f("Opened_At__c", "datetime"),
                f("Resolved_At__c", "datetime"),
                f("Snoozed_Until__c", "date"),
                f("Account__c", "reference", updateable=False),
            ]
        },
        "Task": {
            "fields": [
                f("Sync_Key__c", externalId=True),
                f("Subject"),
                f("Description", "textarea", length=32000),
                f("Priority", "picklist", picklist=("High", "Normal", "Low")),
                f("Status", "picklist", picklist=("Not Started", "In Progress", "Completed")),
                f("Type", "picklist", picklist=("Call", "Email"), restricted=False),
                f("ActivityDate", "date"),
                f("OwnerId", "reference"),
                f("WhatId", "reference"),
                f("IsClosed", "boolean", createable=False, updateable=False),
            ]
        },
        "Case": {
            "fields": [
                f("Sync_Key__c", externalId=True),
                f("Subject"),
                f("Description", "textarea", length=32000),
                f("Priority", "picklist", picklist=("High", "Medium", "Low")),
                f("Status", "picklist", picklist=("New", "Working", "Closed")),
                f("Origin", "picklist", picklist=("Phone", "Email", "Web"), restricted=False),
                f("Type", "picklist", picklist=("Problem", "Question"), restricted=False),
                f("AccountId", "reference"),
                f("OwnerId", "reference"),
                f("IsClosed", "boolean", createable=False, updateable=False),
            ]
        },
    }


def change(
    describe: dict[str, dict[str, Any]], sobject: str, name: str, **kw: Any
) -> dict[str, dict[str, Any]]:
    out = copy.deepcopy(describe)
    fields = out[sobject]["fields"]
    if kw.get("drop"):
        out[sobject]["fields"] = [x for x in fields if x["name"] != name]
        return out
    (field,) = [x for x in fields if x["name"] == name]
    if "picklist" in kw:
        field["picklistValues"] = [{"value": v, "active": True} for v in kw.pop("picklist")]
    field.update(kw)
    return out


@pytest.fixture(scope="module")
def ms() -> MappingSet:
    return load_mapping_set()


def messages(ms: MappingSet, describe: dict[str, dict[str, Any]]) -> list[str]:
    return [str(i) for i in validate_against_describe(ms, describe)]


def test_the_shipped_mappings_fit_the_shipped_data_model(ms: MappingSet) -> None:
    assert messages(ms, org()) == []


CASES = [
    (("Account", "Online_Orders_7d__c", {"drop": True}),
     'mappings/account_health.toml: field "Online_Orders_7d__c": Account has no field Online_Orders_7d__c; '
     'did you mean "Online_Revenue_7d__c"?'),
    (("Account", "AOV_Online__c", {"updateable": False}),
     'mappings/account_health.toml: field "AOV_Online__c": Account.AOV_Online__c is not updateable by the '
     "integration user"),
    (("Account", "AOV_Online__c", {"type": "string"}),
     'mappings/account_health.toml: field "AOV_Online__c": Account.AOV_Online__c is a string field but the '
     "mapping gives a number"),
    (("Account", "Health_Band__c", {"picklist": ("Green", "Amber", "Red")}),
     'mappings/account_health.toml: health.targets.band: "Yellow" is not in Account.Health_Band__c\'s picklist '
     "(Green, Amber, Red) — a health band"),
    (("Account", "Health_Stale__c", {"type": "string"}),
     "mappings/account_health.toml: health.targets.stale: Account.Health_Stale__c is a string field but the "
     "mapping gives true/false"),
    (("Account", "Store_Id__c", {"externalId": False}),
     "mappings/account_health.toml: match_key: Account.Store_Id__c must be an External ID to match stores"),
    (("Task", "Priority", {"picklist": ("Normal", "Low")}),
     'mappings/risk_rules.toml: rule "menu_sync" → task.priority: "High" is not in Task.Priority\'s picklist '
     "(Normal, Low)"),
    (("Risk_Flag__c", "Severity__c", {"picklist": ("Low", "Medium")}),
     'mappings/risk_rules.toml: rule "menu_sync" → severity: "High" is not in Risk_Flag__c.Severity__c\'s '
     "picklist (Low, Medium)"),
    (("Risk_Flag__c", "Name", {"length": 12}),
     'mappings/risk_rules.toml: rule "menu_sync" → title: is at least 17 characters; Risk_Flag__c.Name holds 12'),
    (("Risk_Flag__c", "Opened_At__c", {"createable": False}),
     "mappings/risk_rules.toml: Risk_Flag__c.Opened_At__c is not createable by the integration user"),
    (("Risk_Flag__c", "Evidence_Data__c", {"drop": True}),
     'mappings/risk_rules.toml: Risk_Flag__c has no field Evidence_Data__c; did you mean "Evidence__c"?'),
    (("Risk_Flag__c", "Evidence_Data__c", {"length": 255}),
     "mappings/risk_rules.toml: Risk_Flag__c.Evidence_Data__c holds only 255 characters; use a long text"),
    (("Risk_Flag__c", "Sync_Key__c", {"externalId": False}),
     "mappings/risk_rules.toml: Risk_Flag__c.Sync_Key__c must be an External ID for upserts"),
    (("Task", "Status", {"picklist": ("Not Started", "Done")}),
     'mappings/risk_rules.toml: "Completed" is not in Task.Status\'s picklist (Not Started, Done) — '
     "auto-resolve completes Tasks with it"),
    (("Case", "Priority", {"picklist": ("P1", "P2")}),
     'mappings/risk_rules.toml: rule "menu_sync" → case.priority: "High" is not in Case.Priority\'s picklist '
     "(P1, P2)"),
    (("Account", "CSM__c", {"type": "string"}),
     'mappings/risk_rules.toml: rule "menu_sync" → task.owner: Account.CSM__c is a string field, not a user lookup'),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "expected"), CASES, ids=[f"{e[0]}.{e[1]}" for e, _ in CASES])
def test_a_mismatch_with_the_org_is_reported(
    ms: MappingSet, edit: tuple[str, str, dict[str, Any]], expected: str
) -> None:
    sobject, name, kw = edit
    found = messages(ms, change(org(), sobject, name, **kw))
    assert expected in found
    assert len(set(found)) == len(found)


def test_an_unrestricted_picklist_takes_any_value(ms: MappingSet) -> None:
    # Case.Origin "csm-sync" is not among Phone/Email/Web, but the picklist is not restricted
    assert messages(ms, change(org(), "Case", "Origin", picklist=("Phone",))) == []


def test_an_object_missing_from_the_org_is_said_once(ms: MappingSet) -> None:
    describe = org()
    del describe["Case"]
    assert messages(ms, describe) == [
        "mappings/risk_rules.toml: object Case is not in the org's describe (deploy salesforce/ first)"
    ]


def test_the_shipped_metadata_matches_the_shipped_mappings(ms: MappingSet) -> None:
    """The sandbox org builds its schema from salesforce/: the two sources of truth must agree."""
    metadata = pytest.importorskip("sandbox.salesforce.metadata")
    describe_mod = pytest.importorskip("sandbox.salesforce.describe")
    schema = metadata.load_schema(metadata.default_metadata_root())
    describe = {
        n: describe_mod.describe_object(schema, schema.get(n), "60.0")
        for n in ("Account", "Risk_Flag__c", "Task", "Case")
    }
    assert messages(ms, describe) == []


def test_validate_names_every_rule_action_whose_queue_the_org_lacks() -> None:
    ms = load_mapping_set()
    assert validate_queues(ms, {"Menu_Engineering", "Menu Engineering"}) == []
    (issue,) = validate_queues(ms, {"Menu Engineering", "Support"})
    assert str(issue).startswith(
        'mappings/risk_rules.toml: rule "menu_sync" → case.owner: the org has no queue'
    )
    assert '"Menu_Engineering"' in issue.message and "Support" in issue.message
