"""Onboarding: due dates, statuses from data, manual and done kept, overdue Tasks, MSO roll-ups, on-time share."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from jobs.onboarding import OnboardingJob, on_time_share, read_progress
from jobs.plan import Update, diff
from mappings.desired import Desired
from tests.doubles import FakeOrg

from .builders import MAPPINGS, NOW, TODAY, account_data, daily, rerun_is_noop, written

START = TODAY - timedelta(days=20)
JOB = OnboardingJob.build(MAPPINGS)
CLEAN_MENU = [
    {"id": "m1", "name": "Blue Dream 3.5g", "category": "flower", "visible": True, "price": 35,
     "potency": {"thc": 22.0, "unit": "%"}},
    {"id": "m2", "name": "Citrus Gummies", "category": "edibles", "visible": True, "price": 20,
     "potency": {"thc": 10.0, "unit": "mg"}, "package_thc_mg": 100},
]  # fmt: skip


def onboarding_store(store_id: str = "IL-006", **kw: Any) -> Any:
    series = kw.pop("series", None)
    if series is None:
        series = {}
        daily(series, "orders", "", START + timedelta(days=1), TODAY - timedelta(days=1), 30)
        daily(series, "orders", "channel=online", START + timedelta(days=4), TODAY - timedelta(days=1), 5)
    return account_data(
        store_id,
        account={"Onboarding_Start__c": START.isoformat(), "Plan__c": "Enterprise", **kw.pop("account", {})},
        series=series,
        last_success=kw.pop("last_success", {"pos": NOW - timedelta(hours=2)}),
        freshness=kw.pop("freshness", {"pos": NOW - timedelta(hours=3), "platform": NOW}),
        records=kw.pop("records", {"menu_items": CLEAN_MENU}),
        **kw,
    )


def milestones(desired: list[Desired]) -> dict[str, Desired]:
    return {d.key.split(":")[1]: d for d in desired if d.sobject == "Onboarding_Milestone__c"}


def status(d: Desired) -> Any:
    return d.fields.get("Status__c", d.create_only.get("Status__c"))


def test_one_milestone_per_template_entry_with_due_dates_from_the_onboarding_start() -> None:
    ms = milestones(list(JOB.evaluate(onboarding_store())))
    assert list(ms) == ["kickoff", "pos_integration", "menu_potency", "menu_limits", "menu_marketing",
                        "brand_msrp", "staff_training", "go_live", "review_30d"]  # fmt: skip
    assert ms["kickoff"].fields["Due_Date__c"] == START.isoformat()
    assert ms["pos_integration"].fields["Due_Date__c"] == (START + timedelta(days=7)).isoformat()
    assert ms["go_live"].fields["Due_Date__c"] == (START + timedelta(days=35)).isoformat()  # Enterprise
    assert ms["kickoff"].key == "IL-006:kickoff"
    assert ms["kickoff"].create_only["Account__c"] == "001A"
    assert [d.fields["Sequence__c"] for d in ms.values()] == list(range(1, 10))


def test_plan_templates_leave_out_milestones_of_other_plans_and_shift_due_dates() -> None:
    ms = milestones(list(JOB.evaluate(onboarding_store(account={"Plan__c": "Starter"}))))
    assert "staff_training" not in ms
    assert ms["go_live"].fields["Due_Date__c"] == (START + timedelta(days=28)).isoformat()


def test_the_directory_start_is_used_when_the_account_has_none() -> None:
    data = onboarding_store(
        account={"Onboarding_Start__c": None}, store={"onboarding_started_on": "2026-11-01"}
    )
    assert milestones(list(JOB.evaluate(data)))["kickoff"].fields["Due_Date__c"] == "2026-11-01"


def test_no_start_no_milestones() -> None:
    assert JOB.evaluate(onboarding_store(account={"Onboarding_Start__c": None})) == []


def test_statuses_come_from_the_data() -> None:
    ms = milestones(list(JOB.evaluate(onboarding_store())))
    assert (status(ms["kickoff"]), ms["kickoff"].fields["Completed_Date__c"]) == ("Done", START.isoformat())
    assert status(ms["pos_integration"]) == "Done"
    assert ms["pos_integration"].fields["Completed_Date__c"] == (START + timedelta(days=1)).isoformat()
    assert status(ms["go_live"]) == "Done"
    assert ms["go_live"].fields["Completed_Date__c"] == (START + timedelta(days=4)).isoformat()
    assert status(ms["menu_potency"]) == "Done"
    assert status(ms["menu_limits"]) == "Not Started"  # manual: the CSM confirms limits
    assert "Status__c" in ms["menu_limits"].create_only and "Status__c" not in ms["menu_limits"].fields


def test_without_a_pos_pull_or_online_orders_those_milestones_are_not_started() -> None:
    ms = milestones(list(JOB.evaluate(onboarding_store(series={}, last_success={}, records={}))))
    assert status(ms["pos_integration"]) == "Not Started"
    assert status(ms["go_live"]) == "Not Started"
    assert status(ms["menu_potency"]) == "Not Started"
    assert "no POS data pulled yet" in ms["pos_integration"].fields["Detail__c"]


def test_state_menu_milestones_carry_the_state_rules_and_wait_for_a_clean_menu() -> None:
    bad = [*CLEAN_MENU, {"id": "m3", "name": "Mega Bar", "category": "edibles", "visible": True,
                         "potency": {"thc": 10.0, "unit": "mg"}, "package_thc_mg": 200}]  # fmt: skip
    ms = milestones(list(JOB.evaluate(onboarding_store(records={"menu_items": bad}))))
    potency = ms["menu_potency"]
    assert status(potency) == "In Progress"
    assert (
        "Mega Bar (edibles): 200 mg THC per package; IL caps a package at 100 mg"
        in potency.fields["Detail__c"]
    )
    assert "Potency display — Illinois (IL):" in potency.fields["Detail__c"]
    limits = ms["menu_limits"].fields["Detail__c"]
    assert (
        "Flower: residents 30 g, non-residents 15 g [verilife.com/learn/il-purchase-limits, effective 2020-01-01, checked 2026-11-23]"
        in limits
    )
    assert status(ms["menu_marketing"]) == "Done"


def test_overdue_milestones_task_the_csm_once_per_milestone() -> None:
    out = list(JOB.evaluate(onboarding_store(series={}, last_success={}, records={})))
    tasks = {d.key: d for d in out if d.sobject == "Task"}
    assert set(tasks) == {
        "onboarding:IL-006:pos_integration",  # due day 7
        "onboarding:IL-006:menu_potency",  # due day 14
        "onboarding:IL-006:menu_limits",
        "onboarding:IL-006:menu_marketing",
    }
    t = tasks["onboarding:IL-006:pos_integration"]
    assert t.create_only["OwnerId"] == "005CSM"
    assert t.create_only["WhatId"] == "001A"
    assert t.fields["Priority"] == "High"
    assert t.create_only["Subject"] == "Onboarding overdue: POS integration (Copper Leaf)"
    assert "was due on 2026-11-10 (13 days ago)" in t.create_only["Description"]
    assert any(g.field == "IsClosed" for g in t.guards)


def test_overdue_task_falls_back_to_the_account_owner_without_a_csm() -> None:
    out = JOB.evaluate(onboarding_store(series={}, last_success={}, records={}, account={"CSM__c": None}))
    assert {d.create_only["OwnerId"] for d in out if d.sobject == "Task"} == {"005AM"}


def test_a_manual_status_is_kept_and_counts() -> None:
    current = {"pos_integration": {"Status__c": "Blocked", "Status_Source__c": "Manual"}}
    data = onboarding_store(series={}, last_success={}, attrs={"onboarding_current": current})
    ms = milestones(list(JOB.evaluate(data)))
    pos = ms["pos_integration"]
    assert status(pos) == "Blocked"
    key = ("Onboarding_Milestone__c", pos.key)
    plan = diff(
        [pos], {key: {"Status__c": "Blocked", "Status_Source__c": "Manual", "Due_Date__c": "2020-01-01"}}
    )
    assert plan.changes == () and [k.key for k in plan.kept] == [pos.key]


def test_done_stays_done_with_its_recorded_date() -> None:
    current = {
        "go_live": {"Status__c": "Done", "Status_Source__c": "Auto", "Completed_Date__c": "2026-11-08"}
    }
    ms = milestones(list(JOB.evaluate(onboarding_store(series={}, attrs={"onboarding_current": current}))))
    assert (status(ms["go_live"]), ms["go_live"].fields["Completed_Date__c"]) == ("Done", "2026-11-08")
    assert ms["go_live"].fields["Detail__c"].endswith("Status: done (as recorded)")
    # while the data still says done, the reason stays the data's, so a recorded milestone is not rewritten
    ms = milestones(list(JOB.evaluate(onboarding_store(attrs={"onboarding_current": current}))))
    assert (
        ms["go_live"]
        .fields["Detail__c"]
        .endswith(f"Status: first online order on {START + timedelta(days=4)}")
    )


def test_the_roll_up_and_on_time_fields_are_read_with_the_accounts() -> None:
    assert {"Onboarding_Progress__c", "Locations_Live__c", "Locations_Total__c"} <= JOB.account_fields
    assert set(JOB.cfg.target.fields) <= JOB.account_fields  # else every run rewrites them


def test_milestones_and_tasks_are_idempotent() -> None:
    data = onboarding_store(series={}, last_success={}, records={})
    first, second = list(JOB.evaluate(data)), list(JOB.evaluate(data))
    assert first == second
    assert rerun_is_noop(first, JOB.managed(NOW))


def test_overdue_task_closes_when_the_milestone_is_done() -> None:
    before = diff(JOB.evaluate(onboarding_store(series={}, last_success={}, records={})), {})
    sf = written(before)
    for v in sf.values():
        v["_account_key"] = "IL-006"
    after = diff(JOB.evaluate(onboarding_store(records={})), sf, JOB.managed(NOW))
    closed = [c.key for c in after.changes if c.op == "close"]
    assert closed == ["onboarding:IL-006:pos_integration"]
    assert any(isinstance(c, Update) and c.key == "IL-006:pos_integration" for c in after.changes)


def test_prepare_reads_the_current_milestones_of_the_run_accounts() -> None:
    org = FakeOrg({"Onboarding_Milestone__c": [
        {"Account__c": "001A", "Code__c": "go_live", "Status__c": "Done", "Status_Source__c": "Manual"},
        {"Account__c": "001Z", "Code__c": "go_live", "Status__c": "Done"},
    ]})  # fmt: skip
    job = OnboardingJob.build(MAPPINGS)
    out = job.prepare(org, {"IL-006": {"Id": "001A"}}, NOW)
    assert out == {"IL-006": {"onboarding_current": {"go_live": {
        "Account__c": "001A", "Code__c": "go_live", "Status__c": "Done", "Status_Source__c": "Manual"}}}}  # fmt: skip
    assert "WHERE Account__c IN ('001A')" in org.queries[0]


def _mso_run(job: OnboardingJob) -> list[Desired]:
    accounts = {
        "MSO-2": {"Id": "001P", "Store_Id__c": "MSO-2"},
        "IL-006": {"Id": "001A", "ParentId": "001P"},
        "MI-006": {"Id": "001B", "ParentId": "001P"},
        "MA-005": {"Id": "001C", "ParentId": "001P"},
        "NV-001": {"Id": "001D"},
    }
    job.prepare(FakeOrg({}), accounts, NOW)
    desired: list[Desired] = []
    desired += job.evaluate(onboarding_store("IL-006", account={"Id": "001A"}))
    desired += job.evaluate(onboarding_store("MI-006", account={"Id": "001B"}))
    desired += job.evaluate(
        onboarding_store("MA-005", account={"Id": "001C"}, series={}, last_success={}, records={})
    )
    return list(job.finalize(accounts, desired, NOW))


def test_the_mso_parent_rolls_up_its_locations() -> None:
    (parent,) = _mso_run(OnboardingJob.build(MAPPINGS))
    assert (parent.sobject, parent.key_field, parent.key) == ("Account", "Store_Id__c", "MSO-2")
    assert parent.fields["Locations_Live__c"] == 2
    assert parent.fields["Locations_Total__c"] == 3
    # IL-006 and MI-006: 6 of 9 done (kickoff, POS, potency, marketing, MSRP, go-live); MA-005: kickoff only
    assert parent.fields["Onboarding_Progress__c"] == round(100 * (6 / 9 + 6 / 9 + 1 / 9) / 3, 2)


def test_a_shard_without_the_mso_locations_leaves_their_parent_alone() -> None:
    # Shards read the same Accounts; the shard holding NV-001 only must not write MSO-2 as all done,
    # or the two shards' values for the parent alternate and every cycle rewrites it (#23).
    job = OnboardingJob.build(MAPPINGS)
    accounts = {
        "MSO-2": {"Id": "001P", "Store_Id__c": "MSO-2"},
        "IL-006": {"Id": "001A", "ParentId": "001P"},
        "MI-006": {"Id": "001B", "ParentId": "001P"},
        "NV-001": {"Id": "001D"},
    }
    job.prepare(FakeOrg({}), accounts, NOW)
    desired = list(job.evaluate(onboarding_store("NV-001", account={"Id": "001D"})))
    assert list(job.finalize(accounts, desired, NOW)) == []


def test_the_on_time_share_is_shown_on_the_parent_when_a_field_is_configured() -> None:
    job = OnboardingJob.build(MAPPINGS)
    job.cfg = job.cfg.model_copy(
        update={"rollup": job.cfg.rollup.model_copy(update={"on_time_field": "On_Time__c"})}
    )
    (parent,) = _mso_run(job)
    assert parent.fields["On_Time__c"] is None  # 20 days in: none complete, none past 30 days yet
    summary = job.summary([])["onboarding"]
    assert summary["tracked"] == 3 and summary["target_share"] == 0.9 and summary["on_time_share"] is None


def test_on_time_share_counts_onboardings_complete_within_30_days_of_those_judged() -> None:
    job = OnboardingJob.build(MAPPINGS)
    late_start = TODAY - timedelta(days=45)

    def done_store(store: str, start: date, done: dict[str, str]) -> Any:
        current = {
            c: {"Status__c": "Done", "Status_Source__c": "Manual", "Completed_Date__c": d}
            for c, d in done.items()
        }
        return job.assess(onboarding_store(store, account={"Onboarding_Start__c": start.isoformat()},
                                           attrs={"onboarding_current": current}))  # fmt: skip

    manual_done = {
        code: (late_start + timedelta(days=10)).isoformat()
        for code in ("menu_potency", "menu_limits", "menu_marketing", "brand_msrp")
    }
    manual_done["staff_training"] = (late_start + timedelta(days=20)).isoformat()
    on_time = done_store("IL-006", late_start, manual_done)
    late = done_store(
        "MI-006", late_start, {**manual_done, "staff_training": (late_start + timedelta(days=40)).isoformat()}
    )
    open_past = done_store("MA-005", late_start, {})
    too_early = done_store("NV-001", TODAY - timedelta(days=10), {})
    assert [o.on_time(job.cfg.target, TODAY) for o in (on_time, late, open_past, too_early)] == [
        True,
        False,
        False,
        None,
    ]
    assert on_time_share([on_time, late, open_past, too_early], job.cfg.target, TODAY) == (1, 3)


def test_explain_lists_each_milestone_with_its_reason() -> None:
    out = JOB.explain(onboarding_store(series={}, last_success={}, records={}))
    pos = next(m for m in out["milestones"] if m["code"] == "pos_integration")
    assert pos == {"code": "pos_integration", "due": "2026-11-10", "status": "Not Started", "completed": None,
                   "why": "no POS data pulled yet", "manual": False, "overdue": True}  # fmt: skip
    assert out["start"] == START.isoformat()


def test_untracked_old_onboardings_write_nothing() -> None:
    old = (TODAY - timedelta(days=400)).isoformat()
    assert JOB.evaluate(onboarding_store(account={"Onboarding_Start__c": old})) == []


def test_now_is_only_used_through_the_data() -> None:
    later = onboarding_store(today=TODAY + timedelta(days=1))
    assert isinstance(later.now, datetime) and JOB.evaluate(later)


def test_a_pos_key_that_answers_with_no_data_is_not_an_integration() -> None:
    data = onboarding_store(series={}, freshness={"platform": NOW}, last_success={"dutchie": NOW})
    assert status(milestones(list(JOB.evaluate(data)))["pos_integration"]) == "Not Started"
    data = onboarding_store(
        series={}, freshness={"treez": NOW - timedelta(days=2)}, last_success={"treez": NOW}
    )
    pos = milestones(list(JOB.evaluate(data)))["pos_integration"]
    assert (status(pos), pos.fields["Completed_Date__c"]) == ("Done", (TODAY - timedelta(days=2)).isoformat())


def test_progress_for_the_health_score_comes_from_the_milestones_in_salesforce() -> None:
    org = FakeOrg({"Onboarding_Milestone__c": [
        {"Account__c": "001A", "Status__c": "Done"}, {"Account__c": "001A", "Status__c": "Not Started"},
        {"Account__c": "001A", "Status__c": "Done"}, {"Account__c": "001A", "Status__c": "In Progress"},
    ]})  # fmt: skip
    assert read_progress(org, {"IL-006": {"Id": "001A"}, "NV-001": {"Id": "001B"}}) == {
        "IL-006": {"onboarding_progress": 0.5}
    }


COUNTED = ("kickoff", "pos_integration", "menu_potency", "menu_limits", "menu_marketing", "brand_msrp",
           "staff_training", "go_live")  # fmt: skip


def onboarded(days_in: int, done_on_day: int | None) -> Any:
    """A store `days_in` days into its onboarding, every counted milestone done on `done_on_day`."""
    start = TODAY - timedelta(days=days_in)
    account = {"Onboarding_Start__c": start.isoformat(), "Id": "001A"}
    if done_on_day is None:  # no data at all: nothing completes by itself
        return onboarding_store(account=account, series={}, last_success={}, records={})
    day = (start + timedelta(days=done_on_day)).isoformat()
    current = {c: {"Status__c": "Done", "Status_Source__c": "Manual", "Completed_Date__c": day}
               for c in COUNTED}  # fmt: skip
    return onboarding_store(account=account, attrs={"onboarding_current": current})


def on_time_fields(data: Any) -> dict[str, Any]:
    (account,) = [d for d in JOB.evaluate(data) if d.sobject == "Account"]
    assert (account.key_field, account.key) == ("Store_Id__c", "IL-006")
    assert account.routine == frozenset(account.fields)
    return dict(account.fields)


def test_complete_on_day_30_is_on_time_and_day_31_is_late() -> None:
    completed = (TODAY - timedelta(days=15)).isoformat()
    assert on_time_fields(onboarded(45, 30)) == {
        "Onboarding_Completed__c": completed,
        "Onboarding_Days__c": 30,
        "Onboarding_On_Time__c": "On time",
        "Onboarding_On_Time_Pct__c": 100.0,
    }
    late = on_time_fields(onboarded(45, 31))
    assert (late["Onboarding_Days__c"], late["Onboarding_On_Time__c"]) == (31, "Late")
    assert late["Onboarding_On_Time_Pct__c"] == 0.0


def test_an_open_onboarding_counts_only_once_past_30_days() -> None:
    # day 20, not complete: in progress, left out of the share (an empty percent is not averaged)
    assert on_time_fields(onboarded(20, None)) == {
        "Onboarding_Completed__c": None,
        "Onboarding_Days__c": None,
        "Onboarding_On_Time__c": "In progress",
        "Onboarding_On_Time_Pct__c": None,
    }
    # day 30 itself can still finish on time; day 40 not complete is already late
    assert on_time_fields(onboarded(30, None))["Onboarding_On_Time__c"] == "In progress"
    overdue = on_time_fields(onboarded(40, None))
    assert (overdue["Onboarding_On_Time__c"], overdue["Onboarding_On_Time_Pct__c"]) == ("Overdue", 0.0)


def test_the_on_time_fields_are_rewritten_only_when_they_change() -> None:
    first = list(JOB.evaluate(onboarded(45, 30)))
    assert rerun_is_noop(first, JOB.managed(NOW))


def test_an_empty_field_name_leaves_that_fact_unwritten() -> None:
    job = OnboardingJob.build(MAPPINGS)
    job.cfg = job.cfg.model_copy(
        update={"target": job.cfg.target.model_copy(update={"days_field": "", "share_field": ""})}
    )
    (account,) = [d for d in job.evaluate(onboarded(45, 30)) if d.sobject == "Account"]
    assert set(account.fields) == {"Onboarding_Completed__c", "Onboarding_On_Time__c"}
    job.cfg = job.cfg.model_copy(
        update={"target": job.cfg.target.model_copy(update={"completed_field": "", "status_field": ""})}
    )
    assert [d for d in job.evaluate(onboarded(45, 30)) if d.sobject == "Account"] == []
