"""What CSMs open in Salesforce: every shipped list view, report and dashboard run over HTTPS on a
demo-like org, each figure checked against the records themselves."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest
import requests

from sandbox.portfolio import Portfolio
from sandbox.salesforce import Org
from sandbox.seed import seed_org
from sandbox.server import RunningServer, serve
from sandbox.tls import TLSMaterial
from tests.integration.demo_org import NOW, TODAY, fill_like_the_jobs

API = "/services/data/v59.0"


class DemoOrg:
    """The seeded portfolio plus what the jobs write: health, risk flags, snapshots, milestones, reviews."""

    def __init__(self, org: Org, server: RunningServer, session: requests.Session) -> None:
        self.org, self.server, self.session = org, server, session

    def get(self, path: str, user: str | None = None, **params: str) -> Any:
        token = self.org.login(user)
        reply = self.session.get(
            self.server.url + API + path,
            params=params,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        return reply.json()

    def post(self, path: str, body: dict[str, Any]) -> requests.Response:
        token = self.org.login()
        return self.session.post(
            self.server.url + API + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def records(self, sobject: str) -> list[dict[str, Any]]:
        return self.org.records(sobject)

    def user_name(self, user_id: str | None) -> str:
        if user_id is None:
            return "-"
        found = self.org.get(user_id)
        assert found is not None
        return str(found["Name"])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoOrg]:
    org = Org.from_metadata(clock=lambda: NOW)
    accounts = seed_org(org, Portfolio(7, TODAY))
    fill_like_the_jobs(org, accounts)
    tls = TLSMaterial.create(tmp_path_factory.mktemp("tls"))
    with serve(org, tls) as server:
        yield DemoOrg(org, server, tls.client_session())


# -- list views ---------------------------------------------------------------------------------------


def _by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in records}


def _overdue(m: dict[str, Any]) -> bool:
    return m["Due_Date__c"] is not None and m["Due_Date__c"] < TODAY.isoformat() and m["Status__c"] != "Done"


def _renewing(c: dict[str, Any]) -> bool:
    end = c["EndDate"]
    return (
        c["Status"] == "Activated"
        and end is not None
        and TODAY.isoformat() <= end <= str(TODAY + timedelta(90))
    )


LIST_VIEWS: dict[tuple[str, str], tuple[str, Callable[[dict[str, Any]], bool]]] = {
    ("Account", "Red_and_Declining"): (
        "Account",
        lambda a: a["Health_Band__c"] == "Red" or a["Health_Trend__c"] == "Declining",
    ),
    ("Risk_Flag__c", "Open_by_Severity"): ("Risk_Flag__c", lambda f: f["Status__c"] == "Open"),
    ("Onboarding_Milestone__c", "Overdue"): ("Onboarding_Milestone__c", _overdue),
    ("Contract", "Renewals_Next_90_Days"): ("Contract", _renewing),
    ("Product_Request__c", "Open_by_ARR"): ("Product_Request__c", lambda r: r["Status__c"] == "Open"),
}


def _results(demo: DemoOrg, sobject: str, name: str, user: str | None = None) -> dict[str, Any]:
    views = demo.get(f"/sobjects/{sobject}/listviews", user)["listviews"]
    view = next(v for v in views if v["developerName"] == name)
    return demo.get(view["resultsUrl"].removeprefix(API), user, limit="2000")  # type: ignore[no-any-return]


def _ids(results: dict[str, Any]) -> list[str]:
    return [
        next(c["value"] for c in r["columns"] if c["fieldNameOrPath"] == "Id") for r in results["records"]
    ]


def test_every_shipped_list_view_is_checked(demo: DemoOrg) -> None:
    shipped = {(v.sobject, v.name) for v in demo.org.catalog.list_views}
    assert shipped == set(LIST_VIEWS) | {("Account", "My_Accounts_by_Band")}


@pytest.mark.parametrize("key", sorted(LIST_VIEWS))
def test_list_view_returns_exactly_the_matching_records(demo: DemoOrg, key: tuple[str, str]) -> None:
    sobject, predicate = LIST_VIEWS[key]
    expected = {r["Id"] for r in demo.records(sobject) if predicate(r)}
    results = _results(demo, *key)
    assert expected, f"the demo-like org should give {key[1]} something to show"
    assert set(_ids(results)) == expected
    assert results["size"] == len(expected) and results["done"]


def test_list_view_cells_carry_the_record_values(demo: DemoOrg) -> None:
    results = _results(demo, "Risk_Flag__c", "Open_by_Severity")
    flags = _by_id(demo.records("Risk_Flag__c"))
    accounts = _by_id(demo.records("Account"))
    for row in results["records"]:
        cells = {c["fieldNameOrPath"]: c["value"] for c in row["columns"]}
        flag = flags[cells["Id"]]
        assert cells["Severity__c"] == flag["Severity__c"]
        assert cells["Account__r.Name"] == accounts[flag["Account__c"]]["Name"]
    labels = [c["label"] for c in results["columns"] if not c["hidden"]]
    assert labels[:2] == ["Severity", "Flag"]


def test_my_accounts_is_the_signed_in_owners_book(demo: DemoOrg) -> None:
    accounts = demo.records("Account")
    owner = max({a["OwnerId"] for a in accounts}, key=lambda u: sum(a["OwnerId"] == u for a in accounts))
    username = demo.org.get(owner)["Username"]  # type: ignore[index]
    expected = {a["Id"] for a in accounts if a["OwnerId"] == owner and a["Health_Band__c"]}
    assert expected
    assert set(_ids(_results(demo, "Account", "My_Accounts_by_Band", username))) == expected
    # The integration user owns no accounts: its "my accounts" is empty, not everyone's.
    assert _ids(_results(demo, "Account", "My_Accounts_by_Band")) == []


def test_list_view_results_page_with_limit_and_offset(demo: DemoOrg) -> None:
    view = next(v for v in demo.org.catalog.list_views if v.name == "Red_and_Declining")
    url = f"/sobjects/Account/listviews/{view.id}/results"
    everything = _ids(demo.get(url, limit="2000"))
    first, second = _ids(demo.get(url, limit="3")), _ids(demo.get(url, limit="3", offset="3"))
    assert first + second == everything[:6]


# -- reports ------------------------------------------------------------------------------------------

Expected = dict[tuple[str, ...], tuple[int, dict[str, float | None]]]


def _flatten(result: dict[str, Any]) -> Expected:
    """Each grouping path (labels) with its row count and named aggregates, from the factMap."""
    names = result["reportMetadata"]["aggregates"]
    out: Expected = {}

    def walk(groups: list[dict[str, Any]], labels: tuple[str, ...]) -> None:
        for g in groups:
            path = (*labels, g["label"])
            aggs = result["factMap"][f"{g['key']}!T"]["aggregates"]
            values = {n: a["value"] for n, a in zip(names, aggs, strict=True)}
            out[path] = (values.pop("RowCount"), values)
            walk(g["groupings"], path)

    total = result["factMap"]["T!T"]["aggregates"]
    values = {n: a["value"] for n, a in zip(names, total, strict=True)}
    out[()] = (values.pop("RowCount"), values)
    walk(result["groupingsDown"]["groupings"], ())
    return out


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _group(
    rows: list[dict[str, Any]], *keys: Callable[[dict[str, Any]], str]
) -> dict[tuple[str, ...], list[Any]]:
    out: dict[tuple[str, ...], list[Any]] = defaultdict(list)
    for row in rows:
        path: tuple[str, ...] = ()
        out[path].append(row)
        for key in keys:
            path = (*path, key(row))
            out[path].append(row)
    return out


def _week(day: str) -> str:
    d = date.fromisoformat(day[:10])
    return (d - timedelta(days=(d.weekday() + 1) % 7)).isoformat()


def _label(value: Any) -> str:
    return "-" if value is None else str(value)


def _expect(
    groups: dict[tuple[str, ...], list[Any]], aggs: dict[str, Callable[[list[Any]], float | None]]
) -> Expected:
    return {path: (len(rows), {name: f(rows) for name, f in aggs.items()}) for path, rows in groups.items()}


def _avg(
    field: str, on: Callable[[dict[str, Any]], dict[str, Any]] = lambda r: r
) -> Callable[[list[Any]], float | None]:
    return lambda rows: _mean([float(on(r)[field]) for r in rows if on(r)[field] is not None])


def _sum(field: str) -> Callable[[list[Any]], float | None]:
    def total(rows: list[Any]) -> float | None:
        values = [float(r[field]) for r in rows if r[field] is not None]
        return sum(values) if values else None

    return total


def _min(field: str) -> Callable[[list[Any]], float | None]:
    return lambda rows: min((float(r[field]) for r in rows if r[field] is not None), default=None)


def _portfolio(demo: DemoOrg) -> Expected:
    rows = [a for a in demo.records("Account") if a["Health_Band__c"]]
    groups = _group(rows, lambda a: a["Health_Band__c"], lambda a: demo.user_name(a["CSM__c"]))
    return _expect(groups, {"a!Account$Health_Score__c": _avg("Health_Score__c"),
                            "s!Account$Open_Risk_Count__c": _sum("Open_Risk_Count__c")})  # fmt: skip


def _trend(demo: DemoOrg) -> Expected:
    since = (TODAY - timedelta(days=90)).isoformat()
    rows = [
        s for s in demo.records("Health_Snapshot__c") if since <= s["Snapshot_Date__c"] <= TODAY.isoformat()
    ]
    groups = _group(rows, lambda s: _week(s["Snapshot_Date__c"]), lambda s: _label(s["Band__c"]))
    S = "Account.Health_Snapshots__r$Score__c"
    return _expect(groups, {f"a!{S}": _avg("Score__c"), f"m!{S}": _min("Score__c")})


def _open_flags(demo: DemoOrg) -> Expected:
    rows = [f for f in demo.records("Risk_Flag__c") if f["Status__c"] == "Open"]
    return _expect(_group(rows, lambda f: f["Category__c"], lambda f: _week(f["Opened_At__c"])), {})


def _renewals(demo: DemoOrg) -> Expected:
    accounts = _by_id(demo.records("Account"))
    rows = [c for c in demo.records("Contract") if _renewing(c)]
    groups = _group(rows, lambda c: _label(accounts[c["AccountId"]]["Health_Band__c"]))
    account: Callable[[dict[str, Any]], dict[str, Any]] = lambda c: accounts[c["AccountId"]]  # noqa: E731
    return _expect(groups, {
        "a!Account$Health_Score__c": _avg("Health_Score__c", account),
        "s!Account$Open_Risk_Count__c": lambda cs: sum(float(account(c)["Open_Risk_Count__c"] or 0) for c in cs)
        if any(account(c)["Open_Risk_Count__c"] is not None for c in cs) else None,
    })  # fmt: skip


def _onboarding(demo: DemoOrg) -> Expected:
    rows = [a for a in demo.records("Account") if a["Onboarding_On_Time_Pct__c"] is not None]
    groups = _group(rows, lambda a: demo.user_name(a["CSM__c"]))
    return _expect(groups, {"a!Account$Onboarding_Days__c": _avg("Onboarding_Days__c"),
                            "a!Account$Onboarding_On_Time_Pct__c": _avg("Onboarding_On_Time_Pct__c")})  # fmt: skip


def test_onboarding_on_time_gives_each_csm_the_share_of_judged_onboardings(demo: DemoOrg) -> None:
    result = demo.get(f"/analytics/reports/{_report_id(demo, 'Onboarding_On_Time')}")
    accounts = demo.records("Account")
    judged = [a for a in accounts if a["Onboarding_On_Time__c"] in ("On time", "Late", "Overdue")]
    assert any(a["Onboarding_On_Time__c"] == "In progress" for a in accounts)  # left out of the share
    shares = {}
    for g in result["groupingsDown"]["groupings"]:
        share, count = (a["value"] for a in result["factMap"][f"{g['key']}!T"]["aggregates"][1:])
        shares[g["label"]] = (round(share, 2), count)
    expected = {}
    for csm in {a["CSM__c"] for a in judged}:
        mine = [a for a in judged if a["CSM__c"] == csm]
        hit = sum(a["Onboarding_On_Time__c"] == "On time" for a in mine)
        expected[demo.user_name(csm)] = (round(100 * hit / len(mine), 2), len(mine))
    assert shares == expected and len(shares) > 1


def _qbr(demo: DemoOrg) -> Expected:
    Q = "Account.Quarterly_Reviews__r$"
    rows = demo.records("Quarterly_Review__c")
    return _expect(_group(rows, lambda q: _label(q["Quarter__c"])), {
        f"s!{Q}Online_Orders__c": _sum("Online_Orders__c"), f"s!{Q}In_Store_Orders__c": _sum("In_Store_Orders__c"),
        f"a!{Q}Online_Share__c": _avg("Online_Share__c"), f"a!{Q}AOV_Lift__c": _avg("AOV_Lift__c"),
        f"a!{Q}Conversion__c": _avg("Conversion__c"), f"a!{Q}Cart_Abandonment__c": _avg("Cart_Abandonment__c"),
        f"a!{Q}Order_Trend__c": _avg("Order_Trend__c"),
    })  # fmt: skip


def _touchpoints(demo: DemoOrg) -> Expected:
    rows = [a for a in demo.records("Account") if a["Touchpoint_Status__c"]]
    return _expect(_group(rows, lambda a: demo.user_name(a["CSM__c"]), lambda a: a["Touchpoint_Status__c"]), {})


REPORTS: dict[str, Callable[[DemoOrg], Expected]] = {
    "Portfolio_by_Band_and_CSM": _portfolio,
    "Health_Trend": _trend,
    "Open_Flags_by_Category_and_Age": _open_flags,
    "Renewals_Next_90_Days_with_Health": _renewals,
    "Onboarding_On_Time": _onboarding,
    "QBR_Figures": _qbr,
    "Touchpoints_by_CSM": _touchpoints,
}


def _report_id(demo: DemoOrg, name: str) -> str:
    listed = {r["name"]: r["id"] for r in demo.get("/analytics/reports")}
    report = next(r for r in demo.org.catalog.reports if r.name == name)
    return listed[report.label]


def _close(actual: Expected, expected: Expected) -> None:
    assert set(actual) == set(expected)
    for path, (count, aggs) in expected.items():
        got_count, got_aggs = actual[path]
        assert got_count == count, path
        assert set(got_aggs) == set(aggs), path
        for name, value in aggs.items():
            assert (got_aggs[name] is None) == (value is None), (path, name)
            if value is not None:
                assert got_aggs[name] == pytest.approx(value), (path, name)


def test_every_shipped_report_is_checked(demo: DemoOrg) -> None:
    assert {r.name for r in demo.org.catalog.reports} == set(REPORTS)


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_report_figures_match_the_records(demo: DemoOrg, name: str) -> None:
    result = demo.get(f"/analytics/reports/{_report_id(demo, name)}", includeDetails="true")
    expected = REPORTS[name](demo)
    assert expected[()][0] > 0, f"the demo-like org should give {name} rows"
    _close(_flatten(result), expected)
    rows = sum(len(v.get("rows", [])) for k, v in result["factMap"].items() if k != "T!T")
    assert rows == expected[()][0] or not result["reportMetadata"]["groupingsDown"]


def test_report_rows_show_lookup_names_and_sorted_values(demo: DemoOrg) -> None:
    result = demo.get(
        f"/analytics/reports/{_report_id(demo, 'Portfolio_by_Band_and_CSM')}", includeDetails="true"
    )
    columns = result["reportMetadata"]["detailColumns"]
    assert columns[0] == "Account$Name"
    names = {a["Name"] for a in demo.records("Account") if a["Health_Band__c"]}
    for key, fact in result["factMap"].items():
        if key.count("_") == 1:  # band_csm leaves hold the rows
            scores = [row["dataCells"][2]["value"] for row in fact["rows"]]
            assert scores == sorted(scores)
            assert {row["dataCells"][0]["label"] for row in fact["rows"]} <= names
    groups = result["groupingsDown"]["groupings"]
    assert [g["label"] for g in groups] == sorted(g["label"] for g in groups)
    for band in groups:  # CSMs in name order, though grouped by their user id
        csms = [g["label"] for g in band["groupings"]]
        assert csms == sorted(csms) and all(g["value"].startswith("005") for g in band["groupings"])


def test_a_post_run_narrows_the_report_with_its_own_filters(demo: DemoOrg) -> None:
    report_id = _report_id(demo, "Portfolio_by_Band_and_CSM")
    body = {"reportMetadata": {"reportFilters": [
        {"column": "Account$Health_Band__c", "operator": "equals", "value": "Red"}]}}  # fmt: skip
    reply = demo.post(f"/analytics/reports/{report_id}", body)
    assert reply.status_code == 200, reply.text
    red = sum(a["Health_Band__c"] == "Red" for a in demo.records("Account"))
    assert _flatten(reply.json())[()][0] == red
    bad = {
        "reportMetadata": {
            "reportFilters": [{"column": "Account$Nope__c", "operator": "equals", "value": "x"}]
        }
    }
    assert demo.post(f"/analytics/reports/{report_id}", bad).status_code == 400


def test_unknown_report_and_dashboard_ids_are_not_found(demo: DemoOrg) -> None:
    token = demo.org.login()
    for path in ("/analytics/reports/00O5g0000000999AAA", "/analytics/dashboards/01Z5g0000000999AAA"):
        reply = demo.session.get(demo.server.url + API + path, headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 404


# -- the dashboard ---------------------------------------------------------------------------------------


def test_client_health_dashboard_runs_every_component_on_its_report(demo: DemoOrg) -> None:
    (listed,) = demo.get("/analytics/dashboards")
    assert listed["name"] == "Client Health"
    board = demo.get(f"/analytics/dashboards/{listed['id']}")
    components = board["dashboardMetadata"]["components"]
    assert len(components) == len(board["componentData"]) == 7
    by_label = {r.label: r.name for r in demo.org.catalog.reports}
    ids = {r["id"]: by_label[r["name"]] for r in demo.get("/analytics/reports")}
    assert {ids[c["reportId"]] for c in components} == set(REPORTS)
    for component, data in zip(components, board["componentData"], strict=True):
        assert data["componentId"] == component["id"] and data["status"]["dataStatus"] == "DATA"
        result = data["reportResult"]
        assert not result["hasDetailRows"] and all("rows" not in f for f in result["factMap"].values())
        _close(_flatten(result), REPORTS[ids[component["reportId"]]](demo))
