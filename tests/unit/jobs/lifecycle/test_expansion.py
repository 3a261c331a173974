"""Expansion: growth, plan limits, new MSO locations; one upsell Task per signal per quarter."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from jobs.expansion import ExpansionJob, trend
from jobs.plan import diff

from .builders import MAPPINGS, NOW, TODAY, account_data, rerun_is_noop

JOB = ExpansionJob.build(MAPPINGS)


def store(weekly: Sequence[float], today: date = TODAY, limit: float | None = None, **kw: Any) -> Any:
    """Online orders spread evenly over each of the last len(weekly) weeks (oldest first)."""
    s: dict[Any, Any] = {}
    n = len(weekly)
    for w, total in enumerate(weekly):
        for d in range(7):
            day = today - timedelta(days=7 * (n - w) - d)
            s.setdefault(("orders", "channel=online"), {})[day] = total / 7
    directory = {"plan_limits": {"monthly_orders": limit, "locations": 3}} if limit else {}
    return account_data(
        "MI-002", today=today, series=s, store=directory, account={"Plan__c": "Starter"}, **kw
    )


FLAT = [100.0] * 8
GROWING = [100, 104, 108, 112, 117, 121, 126, 130]


def test_trend_is_the_fitted_change_over_the_weeks() -> None:
    assert round(trend([1.0, 1.1, 1.2, 1.3]) or 0, 9) == 0.3
    assert round(trend(GROWING) or 0, 2) == 0.3
    assert trend([0.0, 0.0]) is None


def test_sustained_growth_raises_an_upsell_task_for_the_owner() -> None:
    (t,) = JOB.evaluate(store(GROWING))
    assert t.key == "expansion:MI-002:growth:2026-Q4"
    assert t.create_only["OwnerId"] == "005AM"
    assert t.create_only["Subject"] == "Upsell: Copper Leaf — sustained order growth"
    assert "(trend +30%)" in t.create_only["Description"]


def test_flat_orders_a_single_busy_week_or_a_tiny_base_raise_nothing() -> None:
    assert JOB.evaluate(store(FLAT)) == []
    assert JOB.evaluate(store([100, 100, 100, 100, 100, 100, 100, 200])) == []
    assert JOB.evaluate(store([10, 10.4, 10.8, 11.2, 11.7, 12.1, 12.6, 13])) == []
    assert JOB.evaluate(store(GROWING[2:])) == []  # not 8 weeks of history


def test_plan_limit_reached_raises_its_own_task() -> None:
    out = JOB.evaluate(store(FLAT, limit=450))  # ~429 online orders in 30 days = 95 %
    assert [d.key for d in out] == ["expansion:MI-002:plan_limit:2026-Q4"]
    assert (
        "429 orders in the last 30 days: 95% of the Starter plan's 450 a month."
        in out[0].create_only["Description"]
    )
    assert JOB.evaluate(store(FLAT, limit=1000)) == []


def test_at_most_once_per_quarter_per_signal() -> None:
    day1, day2, next_q = date(2026, 11, 2), date(2026, 12, 20), date(2027, 1, 4)
    keys = [[d.key for d in JOB.evaluate(store(GROWING, today=day))] for day in (day1, day2, next_q)]
    assert keys[0] == keys[1] == ["expansion:MI-002:growth:2026-Q4"]
    assert keys[2] == ["expansion:MI-002:growth:2027-Q1"]
    (t,) = JOB.evaluate(store(GROWING, today=day2))
    done = {("Task", t.key): {"IsClosed": True, "Priority": "Normal"}}
    assert diff([t], done).changes == ()  # the owner closed it: not raised again this quarter


def _parent_run(children: dict[str, str | None]) -> list[Any]:
    job = ExpansionJob.build(MAPPINGS)
    accounts = {"MSO-1": {"Id": "001P", "OwnerId": "005AM", "Name": "Copperline", "Store_Id__c": "MSO-1"}}
    job.prepare(None, accounts, NOW)
    for i, (sid, start) in enumerate(children.items()):
        accounts[sid] = {"Id": f"001{i}", "ParentId": "001P"}
        job.evaluate(account_data(sid, account={"Id": f"001{i}", "ParentId": "001P", "Onboarding_Start__c": start},
                                  store={"plan_limits": {"locations": 3}}))  # fmt: skip
    return list(job.finalize(accounts, [], NOW))


def test_a_new_location_under_an_mso_and_its_location_limit_raise_tasks_on_the_parent() -> None:
    recent = (TODAY - timedelta(days=30)).isoformat()
    out = {
        d.key: d
        for d in _parent_run({"NV-002": None, "NV-004": "2025-01-01", "AZ-002": None, "NV-006": recent})
    }
    assert set(out) == {"expansion:MSO-1:new_locations:2026-Q4", "expansion:MSO-1:location_limit:2026-Q4"}
    new = out["expansion:MSO-1:new_locations:2026-Q4"]
    assert new.create_only["WhatId"] == "001P" and new.create_only["OwnerId"] == "005AM"
    assert "4 locations now, 3 90 days ago (new: NV-006)." in new.create_only["Description"]
    assert (
        "4 locations on a plan for 3."
        in out["expansion:MSO-1:location_limit:2026-Q4"].create_only["Description"]
    )


def test_an_mso_without_new_locations_or_at_its_limit_raises_nothing() -> None:
    assert _parent_run({"NV-002": None, "NV-004": "2025-01-01"}) == []


def test_expansion_is_idempotent() -> None:
    data = store(GROWING, limit=450)
    assert JOB.evaluate(data) == JOB.evaluate(data)
    assert rerun_is_noop(JOB.evaluate(data))


def test_explain_shows_the_weeks_and_signals() -> None:
    out = JOB.explain(store(GROWING))
    assert [round(x, 6) for x in out["weekly_orders"]] == [float(x) for x in GROWING]
    assert [s["signal"] for s in out["signals"]] == ["growth"]
