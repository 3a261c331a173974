"""Renewals: windows at 90/60/30 days, priority from health and risks, closed Tasks stay closed."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from jobs.plan import diff
from jobs.renewals import RenewalsJob, window_for
from tests.doubles import FakeOrg

from .builders import MAPPINGS, NOW, TODAY, account_data, daily, rerun_is_noop

JOB = RenewalsJob.build(MAPPINGS)


def store(days_left: int, band: str = "Green", risks: list[dict[str, Any]] | None = None) -> Any:
    series: dict[Any, Any] = {}
    start = TODAY - timedelta(days=90)
    end = TODAY - timedelta(days=1)
    daily(series, "orders", "channel=online", start, end, 10)
    daily(series, "revenue", "channel=online", start, end, 700)
    daily(series, "orders", "channel=in_store", start, end, 30)
    daily(series, "revenue", "channel=in_store", start, end, 1620)
    daily(series, "sessions", "", start, end, 250)
    daily(series, "carts", "", start, end, 40)
    return account_data(
        "MI-003",
        account={"Health_Score__c": 32, "Health_Band__c": band, "Health_Trend__c": "Declining",
                 "Health_Score_Change_7d__c": -6},
        series=series,
        attrs={"renewals": [{"id": "800C1", "end": (TODAY + timedelta(days=days_left)).isoformat()}],
               "open_risks": risks or []},
    )  # fmt: skip


@pytest.mark.parametrize(("left", "window"), [(121, None), (91, None), (90, 90), (61, 90), (60, 60), (45, 60),
                                              (30, 30), (0, 30), (-1, None)])  # fmt: skip
def test_the_window_is_the_smallest_one_reached(left: int, window: int | None) -> None:
    assert window_for(left, JOB.cfg.windows) == window


@pytest.mark.parametrize(("left", "key"), [(90, "90"), (60, "60"), (30, "30")])
def test_one_task_per_contract_per_window(left: int, key: str) -> None:
    (t,) = JOB.evaluate(store(left))
    assert t.key == f"renewal:MI-003:800C1:{key}"
    assert t.create_only["Subject"] == f"Renewal in {left} days: Copper Leaf ({key}-day check)"
    assert t.create_only["OwnerId"] == "005CSM"


def test_no_task_outside_the_windows() -> None:
    assert JOB.evaluate(store(100)) == [] and JOB.evaluate(store(-3)) == []


def test_the_description_carries_health_risks_and_roi() -> None:
    risks = [{"Name": "Menu sync failure", "Rule__c": "menu_sync", "Severity__c": "High"}]
    (t,) = JOB.evaluate(store(30, risks=risks))
    text = t.fields["Description"]  # kept current while the Task is open and untouched
    assert "Health: 32 (Green), declining (-6 in 7 days)" in text
    assert "Open risks: Menu sync failure (High)" in text
    assert ("ROI, 90 days to 2026-11-22: AOV online $70.00 vs in-store $54.00 (+30%); online share 25% of 3,600 orders; "
            "conversion 4.0%; cart abandonment 75%") in text  # fmt: skip


@pytest.mark.parametrize(("band", "risks", "priority"), [
    ("Green", [], "Normal"), ("Yellow", [], "Normal"), ("Red", [], "High"), ("Green", [{"Name": "AR"}], "High"),
])  # fmt: skip
def test_priority_is_high_when_health_is_red_or_a_risk_is_open(
    band: str, risks: list[Any], priority: str
) -> None:
    (t,) = JOB.evaluate(store(60, band, risks))
    assert t.fields["Priority"] == priority


def test_a_task_a_csm_closed_is_never_reopened() -> None:
    (t,) = JOB.evaluate(store(60, "Red"))
    plan = diff([t], {("Task", t.key): {"Priority": "Normal", "IsClosed": True, "Status": "Completed"}})
    assert plan.changes == () and plan.kept[0].why.startswith("a person closed this Task")


def test_the_description_follows_the_account_until_a_person_edits_the_task() -> None:
    (before,) = JOB.evaluate(store(60))
    (after,) = JOB.evaluate(
        store(60, "Red", [{"Name": "Invoices 90+ days past due", "Severity__c": "Critical"}])
    )
    ours = {"Description": before.fields["Description"], "Priority": "Normal", "IsClosed": False,
            "CreatedById": "005INT", "LastModifiedById": "005INT"}  # fmt: skip
    (change,) = diff([after], {("Task", after.key): ours}).changes
    assert change.op == "update" and set(change.fields) == {"Description", "Priority"}
    assert "Open risks: Invoices 90+ days past due (Critical)" in change.fields["Description"]
    assert "Open risks: nothing open" in before.fields["Description"]
    edited = {
        **ours,
        "Description": "Spoke to the owner: renewing at the same plan.",
        "LastModifiedById": "005CSM",
    }
    plan = diff([after], {("Task", after.key): edited})
    assert plan.changes == () and plan.kept[0].why.startswith("a person edited this Task")


def test_the_description_holds_still_from_day_to_day_and_following_it_is_routine() -> None:
    data = store(45)
    later = dataclasses.replace(data, today=TODAY + timedelta(days=1), now=NOW + timedelta(days=1))
    (t,), (t2,) = JOB.evaluate(data), JOB.evaluate(later)
    assert t2.fields["Description"] == t.fields["Description"]  # the ROI ends when the window opened
    ours = {
        "Description": "Health: 80 (Green)",
        "Priority": "Normal",
        "CreatedById": "005I",
        "LastModifiedById": "005I",
    }
    plan = diff([t], {("Task", t.key): ours})
    (change,) = plan.changes
    assert change.op == "update" and change.routine and plan.change_share == 0.0  # not a surprise


def test_renewals_are_idempotent() -> None:
    assert JOB.evaluate(store(60)) == JOB.evaluate(store(60))
    assert rerun_is_noop(JOB.evaluate(store(60)))


def test_prepare_reads_contracts_and_open_flags_with_bound_dates() -> None:
    org = FakeOrg({
        "Contract": [{"Id": "800C1", "AccountId": "001A", "EndDate": "2027-01-22", "Status": "Activated"}],
        "Risk_Flag__c": [{"Id": "a01", "Account__c": "001A", "Name": "AR", "Rule__c": "receivables:past_due",
                          "Severity__c": "High"}],
    })  # fmt: skip
    out = JOB.prepare(org, {"MI-003": {"Id": "001A"}, "X": {"Id": "001O'Brien"}}, NOW)
    assert out["MI-003"]["renewals"] == [{"id": "800C1", "end": "2027-01-22"}]
    assert out["MI-003"]["open_risks"][0]["Name"] == "AR"
    assert org.queries[0] == (
        "SELECT AccountId, EndDate, Id, Status FROM Contract WHERE AccountId IN ('001A','001O\\'Brien') "
        "AND (Status = 'Activated' AND EndDate >= 2026-11-23 AND EndDate <= 2027-02-21)"
    )


def test_prepare_reads_a_large_portfolio_200_accounts_a_query() -> None:
    org = FakeOrg({})
    accounts = {f"S{i:03}": {"Id": f"001{i:03}"} for i in range(450)}
    JOB.prepare(org, accounts, NOW)
    contracts = [q for q in org.queries if " FROM Contract " in q]
    flags = [q for q in org.queries if " FROM Risk_Flag__c " in q]
    assert len(contracts) == len(flags) == 3
    assert [q.count("'001") for q in contracts] == [200, 200, 50]
    assert all(f"'001{i:03}'" in "".join(flags) for i in range(450))  # every account, once


def test_renewal_opportunities_can_be_the_source() -> None:
    job = RenewalsJob(JOB.cfg.model_copy(update={"source": "opportunity"}))
    org = FakeOrg({"Opportunity": [{"Id": "006O1", "AccountId": "001A", "CloseDate": "2027-01-01"}]})
    out = job.prepare(org, {"MI-003": {"Id": "001A"}}, NOW)
    assert out["MI-003"]["renewals"] == [{"id": "006O1", "end": "2027-01-01"}]
    assert (
        "FROM Opportunity WHERE AccountId IN ('001A') AND (IsClosed = false AND Type = 'Renewal'"
        in org.queries[0]
    )


def test_explain_shows_the_window_and_priority() -> None:
    out = JOB.explain(store(45, "Red"))
    assert out["in_window"] == [{"record": "800C1", "end": "2027-01-07", "days_left": 45, "window": 60}]
    assert out["priority"] == "High"
