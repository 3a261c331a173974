"""What each console page shows, read through the org's APIs: the dashboard, list views, an Account 360."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sandbox.console.api import OrgApi

TREND_DAYS = 90
OPEN_FLAG = ("Open", "Snoozed")
LIST_VIEW_OBJECTS = ("Account", "Risk_Flag__c", "Onboarding_Milestone__c", "Contract", "Product_Request__c")
ACCOUNT_SOQL = (
    "SELECT Id, Name, Store_Id__c, BillingCity, BillingState, Plan__c, CSM__c, OwnerId, Health_Score__c, "
    "Health_Band__c, Health_Trend__c, Health_Score_Change_7d__c, Health_Drivers__c, Health_Stale__c, "
    "Health_Override__c, Health_Override_Reason__c, Health_Updated_At__c, Open_Risk_Count__c, "
    "Onboarding_Start__c, Online_Orders_7d__c, Online_Revenue_7d__c, AOV_Online__c, AOV_In_Store__c, "
    "Online_Conversion__c, Cart_Abandonment__c FROM Account WHERE Store_Id__c = {store}"
)
QBR_SOQL = (
    "SELECT Quarter__c, Review_Date__c, Online_Orders__c, In_Store_Orders__c, Online_Share__c, "
    "AOV_Online__c, AOV_In_Store__c, AOV_Lift__c, Conversion__c, Cart_Abandonment__c, Order_Trend__c "
    "FROM Quarterly_Review__c WHERE Account__c = {aid} ORDER BY Quarter__c DESC LIMIT 4"
)


@dataclass(frozen=True)
class Component:
    """One dashboard component: its header, chart type and the top-level groups of its report run."""

    header: str
    kind: str
    measures: tuple[str, ...]  # aggregate labels, RowCount last as "Records"
    groups: tuple[tuple[str, tuple[float | None, ...]], ...]
    total: tuple[float | None, ...]


@dataclass(frozen=True)
class ListViewResult:
    sobject: str
    id: str
    label: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    size: int


@dataclass
class Account360:
    """One Account as its record page shows it."""

    account: dict[str, Any]
    csm: str
    components: dict[str, dict[str, Any]]
    trend: list[tuple[date, float | None, str]]
    flags: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    cases: list[dict[str, Any]]
    milestones: list[dict[str, Any]]
    contracts: list[dict[str, Any]]
    reviews: list[dict[str, Any]]
    users: dict[str, str] = field(default_factory=dict)


_AGGREGATE = {"a": "Average", "s": "Sum", "m": "Smallest", "mx": "Largest"}


def measure_label(name: str) -> str:
    """`a!Account$Health_Score__c` → `Average Health Score`; `RowCount` → `Records`."""
    if name == "RowCount":
        return "Records"
    kind, _, column = name.partition("!")
    label = column.rsplit("$", 1)[-1].removesuffix("__c").replace("_", " ")
    return f"{_AGGREGATE.get(kind, kind)} {label}"


def _values(cells: list[dict[str, Any]]) -> tuple[float | None, ...]:
    return tuple(None if c.get("value") is None else float(c["value"]) for c in cells)


def dashboard(api: OrgApi) -> tuple[str, list[Component]]:
    """The first shipped dashboard, run: its title and every component's top-level groups."""
    listed = api.dashboards()
    if not listed:
        return "No dashboard", []
    result = api.dashboard(listed[0]["id"])
    by_id = {d["componentId"]: d for d in result["componentData"]}
    out = []
    for meta in result["dashboardMetadata"]["components"]:
        report = by_id[meta["id"]]["reportResult"]
        names = list(report["reportMetadata"]["aggregates"])
        facts = report["factMap"]
        groups = tuple(
            (str(g["label"]), _values(facts[f"{g['key']}!T"]["aggregates"]))
            for g in report["groupingsDown"]["groupings"]
        )
        out.append(
            Component(
                header=str(meta["header"]),
                kind=str(meta["properties"]["visualizationType"]),
                measures=tuple(measure_label(n) for n in names),
                groups=groups,
                total=_values(facts["T!T"]["aggregates"]),
            )
        )
    return str(result["dashboardMetadata"]["name"]), out


def list_views(api: OrgApi) -> list[ListViewResult]:
    """Every shipped list view of the objects a CSM works in, run as the console's user."""
    out = []
    for sobject in LIST_VIEW_OBJECTS:
        for view in api.list_views(sobject):
            result = api.list_view_results(view["resultsUrl"])
            shown = [c for c in result["columns"] if not c["hidden"]]
            rows = []
            for record in result["records"]:
                cells = {c["fieldNameOrPath"]: c["value"] for c in record["columns"]}
                rows.append(
                    tuple(
                        "" if cells.get(c["fieldNameOrPath"]) is None else str(cells[c["fieldNameOrPath"]])
                        for c in shown
                    )
                )
            out.append(
                ListViewResult(
                    sobject=sobject,
                    id=str(view["id"]),
                    label=str(result["label"]),
                    columns=tuple(str(c["label"]) for c in shown),
                    rows=tuple(rows),
                    size=int(result["size"]),
                )
            )
    return out


def stores(api: OrgApi) -> list[dict[str, Any]]:
    """Every store Account with its band, for the console's account index."""
    return api.query(
        "SELECT Name, Store_Id__c, Health_Score__c, Health_Band__c FROM Account WHERE Store_Id__c != null"
    )


def account_360(api: OrgApi, store: str, today: date) -> Account360 | None:
    """The Account of `store` with its health history, open flags, Tasks, Cases, milestones, renewal, QBR."""
    found = api.query(ACCOUNT_SOQL, store=store)
    if not found:
        return None
    account = found[0]
    aid = account["Id"]
    users = {u["Id"]: str(u.get("Name") or "") for u in api.query("SELECT Id, Name FROM User")}
    since = today - timedelta(days=TREND_DAYS)
    snapshots = api.query(
        "SELECT Snapshot_Date__c, Score__c, Band__c, Components__c, Stale__c FROM Health_Snapshot__c "
        "WHERE Account__c = {aid} AND Snapshot_Date__c >= {since} ORDER BY Snapshot_Date__c",
        aid=aid,
        since=since,
    )
    trend = [
        (date.fromisoformat(s["Snapshot_Date__c"]), s.get("Score__c"), str(s.get("Band__c") or ""))
        for s in snapshots
    ]
    components: dict[str, dict[str, Any]] = {}
    if snapshots and snapshots[-1].get("Components__c"):
        parsed = json.loads(snapshots[-1]["Components__c"])
        components = {k: v for k, v in parsed.items() if not k.startswith("_") and isinstance(v, dict)}
    flags = api.query(
        "SELECT Name, Rule__c, Category__c, Severity__c, Status__c, Evidence__c, Opened_At__c, "
        "Snoozed_Until__c FROM Risk_Flag__c WHERE Account__c = {aid} AND Status__c IN {open} "
        "ORDER BY Opened_At__c",
        aid=aid,
        open=list(OPEN_FLAG),
    )
    tasks = api.query(
        "SELECT Subject, Status, Priority, ActivityDate, OwnerId, Sync_Key__c FROM Task "
        "WHERE WhatId = {aid} AND Status != 'Completed' ORDER BY ActivityDate",
        aid=aid,
    )
    cases = api.query(
        "SELECT CaseNumber, Subject, Status, Priority FROM Case WHERE AccountId = {aid} AND IsClosed = false",
        aid=aid,
    )
    milestones = api.query(
        "SELECT Name, Code__c, Sequence__c, Status__c, Due_Date__c, Completed_Date__c "
        "FROM Onboarding_Milestone__c WHERE Account__c = {aid} ORDER BY Sequence__c",
        aid=aid,
    )
    contracts = api.query(
        "SELECT ContractNumber, Status, StartDate, EndDate FROM Contract WHERE AccountId = {aid} "
        "ORDER BY EndDate",
        aid=aid,
    )
    reviews = api.query(QBR_SOQL, aid=aid)
    return Account360(
        account=account,
        csm=users.get(str(account.get("CSM__c")), ""),
        components=components,
        trend=trend,
        flags=flags,
        tasks=tasks,
        cases=cases,
        milestones=milestones,
        contracts=contracts,
        reviews=reviews,
        users=users,
    )
