"""Report and list-view filters become SOQL the org's engine runs: values quoted, operators mapped,
boolean filters checked, and a view of `Mine` limited to the caller's records. Also the read-only
Organization record the Salesforce CLI reads."""

from __future__ import annotations

from dataclasses import replace

import pytest

from sandbox.salesforce import Org
from sandbox.salesforce.analytics import list_view_soql, report_soql, run_report, with_filters
from sandbox.salesforce.catalog import Criterion
from sandbox.salesforce.errors import ApiError, RecordError


@pytest.fixture(scope="module")
def org() -> Org:
    return Org.from_metadata()


def _report(org: Org, name: str = "Portfolio_by_Band_and_CSM"):  # type: ignore[no-untyped-def]
    return next(r for r in org.catalog.reports if r.name == name)


def test_values_are_quoted_and_operators_mapped(org: Org) -> None:
    report = replace(
        _report(org),
        filters=[
            Criterion("Account$Name", "contains", "O'Brien"),
            Criterion("Account$Health_Band__c", "notEqual", "Red,Yellow"),
            Criterion("Account$Health_Score__c", "greaterOrEqual", "50"),
            Criterion("Account$Health_Stale__c", "equals", "0"),
            Criterion("Account$Onboarding_Start__c", "lessThan", "LAST_N_DAYS:30"),
            Criterion("Account$Store_Id__c", "equals", ""),
        ],
    )
    soql = report_soql(org.schema, report)
    assert (
        "WHERE Name LIKE '%O\\'Brien%' AND Health_Band__c NOT IN ('Red', 'Yellow') AND Health_Score__c >= 50.0"
        " AND Health_Stale__c = FALSE AND Onboarding_Start__c < LAST_N_DAYS:30 AND Store_Id__c = null"
    ) in soql
    org.query(soql)  # the engine accepts what the translation produces


@pytest.mark.parametrize(
    ("criterion", "message"),
    [
        (Criterion("Account$Health_Score__c", "greaterThan", "fifty"), "is not a number"),
        (Criterion("Account$Onboarding_Start__c", "equals", "yesterday"), "is not a date"),
        (Criterion("Account$Health_Score__c", "contains", "5"), "needs a text field"),
        (Criterion("Account$Name", "within", "x"), "not supported"),
    ],
)
def test_bad_filter_values_are_refused_as_bad_requests(org: Org, criterion: Criterion, message: str) -> None:
    with pytest.raises(ApiError, match=message):
        report_soql(org.schema, replace(_report(org), filters=[criterion]))


def test_a_boolean_filter_combines_the_numbered_filters(org: Org) -> None:
    report = replace(
        _report(org),
        filters=[
            Criterion("Account$Health_Band__c", "equals", "Red"),
            Criterion("Account$Plan__c", "equals", "x"),
        ],
        boolean_filter="1 OR 2",
    )
    assert "WHERE (Health_Band__c = 'Red') OR (Plan__c = 'x')" in report_soql(org.schema, report)
    with pytest.raises(ApiError, match="names filter 3"):
        report_soql(org.schema, replace(report, boolean_filter="1 AND 3"))


def test_mine_limits_a_list_view_to_the_callers_records(org: Org) -> None:
    view = next(v for v in org.catalog.list_views if v.name == "My_Accounts_by_Band")
    soql = list_view_soql(org.schema, view, "0055g0000000009AAA")
    assert "WHERE OwnerId = '0055g0000000009AAA' AND (Health_Band__c IN ('Green', 'Yellow', 'Red'))" in soql


def test_post_filters_must_name_columns_of_the_report_type(org: Org) -> None:
    report = _report(org)
    narrowed = with_filters(report, {"reportFilters": [{"column": "Account$Plan__c", "operator": "equals",
                                                        "value": "Growth"}]})  # fmt: skip
    assert narrowed.filters == [Criterion("Account$Plan__c", "equals", "Growth")]
    with pytest.raises(ApiError, match="not a column"):
        with_filters(report, {"reportFilters": [{"column": "Account$Secret__c", "operator": "equals"}]})
    with pytest.raises(ApiError, match="must be a list"):
        with_filters(report, {"reportFilters": "Account$Plan__c = 'x'"})


def test_an_empty_org_reports_zero_rows_and_no_groups(org: Org) -> None:
    result = run_report(org.schema, _report(org, "Renewals_Next_90_Days_with_Health"), org.query, True)
    assert result["factMap"] == {"T!T": {"aggregates": [{"label": "-", "value": None}] * 2 + [
        {"label": "0", "value": 0}]}}  # fmt: skip
    assert result["groupingsDown"] == {"groupings": []}


def test_any_text_survives_quoting_and_matches_itself() -> None:
    org = Org.from_metadata()
    tricky = "O'Brien \\ \"Bud\"\n\tLtd' OR Name != '"
    wanted = org.insert("Account", {"Name": tricky, "Health_Band__c": "Red"})
    org.insert("Account", {"Name": "Someone else", "Health_Band__c": "Red"})
    report = replace(_report(org), filters=[Criterion("Account$Name", "equals", tricky)])
    assert [r["Id"] for r in org.query(report_soql(org.schema, report))] == [wanted]


def test_the_organization_record_is_the_org_and_read_only() -> None:
    org = Org.from_metadata()
    (record,) = org.query("SELECT Id, Name, IsSandbox, OrganizationType FROM Organization")
    assert record["Id"] == org.org_id and record["IsSandbox"] is False
    obj = org.schema.get("Organization")
    assert obj is not None
    with pytest.raises(RecordError, match="cannot be inserted: Organization"):
        org.store.create(obj, {"Name": "Another"})
    with pytest.raises(RecordError, match="cannot be updated: Organization"):
        org.store.update(obj, org.org_id, {"Name": "Renamed"})
    with pytest.raises(RecordError, match="cannot be deleted: Organization"):
        org.store.delete(org.org_id)
