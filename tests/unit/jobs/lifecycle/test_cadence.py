"""Touchpoint cadence: intervals by journey stage then tier; a Task once a touchpoint is overdue beyond the
grace days, completed when one is logged; the Account's cadence fields."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.cadence import (
    DUE,
    ON_SCHEDULE,
    OVERDUE,
    CadenceJob,
    Touchpoint,
    assess,
    load,
    read_touchpoints,
    stage_of,
    touchpoint_of,
)
from jobs.plan import diff
from mappings.lifecycle import FileError

from .builders import MAPPINGS, NOW, TODAY, account_data, rerun_is_noop, written

JOB = CadenceJob.build(MAPPINGS)
CFG = JOB.cfg


def call(days_ago: int, **kw: Any) -> tuple[str, dict[str, Any]]:
    day = TODAY - timedelta(days=days_ago)
    return "Task", {"Subject": "Weekly check-in", "Type": "Call", "IsClosed": True,
                    "ActivityDate": day.isoformat(), "Sync_Key__c": None, **kw}  # fmt: skip


def event(days_ago: int, hours: int = 1, **kw: Any) -> tuple[str, dict[str, Any]]:
    end = NOW - timedelta(days=days_ago) + timedelta(hours=hours)
    return "Event", {"Subject": "On-site visit", "Type": "Meeting", "EndDateTime": end.isoformat(),
                     "Sync_Key__c": None, **kw}  # fmt: skip


def store(*activity: tuple[str, dict[str, Any]], started_days_ago: int | None = None, plan: str = "Growth",
          **kw: Any) -> Any:  # fmt: skip
    start = (TODAY - timedelta(days=started_days_ago)).isoformat() if started_days_ago is not None else None
    account = {"Onboarding_Start__c": start, "Plan__c": plan, **kw.pop("account", {})}
    return account_data("IL-006", account=account, attrs={"activity": list(activity)}, **kw)


def tasks(out: Any) -> dict[str, Any]:
    return {d.key: d for d in out if d.sobject == "Task"}


def fields(out: Any) -> dict[str, Any]:
    (acct,) = [d for d in out if d.sobject == "Account"]
    return dict(acct.fields)


@pytest.mark.parametrize(
    ("day", "stage", "interval"),
    [
        (0, "Onboarding: weekly", 7),
        (30, "Onboarding: weekly", 7),
        (31, "Adoption: every two weeks", 14),
        (60, "Adoption: every two weeks", 14),
        (61, "Ramp: monthly", 30),
        (90, "Ramp: monthly", 30),
        (91, "Starter: every 90 days", 90),
    ],
)
def test_the_stage_changes_on_days_31_61_and_91(day: int, stage: str, interval: int) -> None:
    start = date(2026, 6, 1)
    assert stage_of(CFG, start, start + timedelta(days=day), "Starter") == (stage, interval)


def test_after_the_stages_or_without_a_start_the_tier_sets_the_interval() -> None:
    assert stage_of(CFG, None, TODAY, "Enterprise")[1] == 30
    assert stage_of(CFG, None, TODAY, "Starter")[1] == 90
    assert stage_of(CFG, None, TODAY, "Unknown plan")[1] == CFG.default_interval_days == 90


def test_exactly_on_the_due_day_is_due_not_overdue_and_opens_no_task() -> None:
    # Established Growth account (30 days): a call 30 days ago is due today.
    out = JOB.evaluate(store(call(30)))
    assert fields(out) == {"Last_Touchpoint__c": TODAY - timedelta(days=30), "Next_Touchpoint_Due__c": TODAY,
                           "Touchpoint_Status__c": DUE}  # fmt: skip
    assert tasks(out) == {}
    # Within the grace days still no Task; one day past them, the Task.
    assert tasks(JOB.evaluate(store(call(30 + CFG.grace_days)))) == {}
    late = JOB.evaluate(store(call(31 + CFG.grace_days)))
    (t,) = tasks(late).values()
    due = TODAY - timedelta(days=1 + CFG.grace_days)
    assert t.key == f"cadence:IL-006:{due.isoformat()}"
    assert fields(late)["Touchpoint_Status__c"] == OVERDUE
    assert t.create_only["OwnerId"] == "005CSM" and t.create_only["WhatId"] == "001A"
    assert f"due {due.isoformat()}" in t.create_only["Subject"]


def test_on_schedule_before_the_due_day() -> None:
    out = JOB.evaluate(store(call(29)))
    assert fields(out)["Touchpoint_Status__c"] == ON_SCHEDULE and tasks(out) == {}


def test_a_task_csm_sync_made_does_not_count() -> None:
    mine = call(2, Subject="Call: touchpoint overdue", Sync_Key__c="cadence:IL-006:2026-11-01")
    out = JOB.evaluate(store(mine, call(40)))
    assert fields(out)["Last_Touchpoint__c"] == TODAY - timedelta(days=40)
    assert fields(out)["Touchpoint_Status__c"] == OVERDUE


def test_an_event_in_the_future_does_not_count_an_ended_one_does() -> None:
    assert touchpoint_of(CFG, *event(-2), TODAY) is None
    tp = touchpoint_of(CFG, *event(3), TODAY)
    assert tp == Touchpoint(TODAY - timedelta(days=3), "Meeting: On-site visit")
    out = JOB.evaluate(store(event(-2), call(50)))
    assert fields(out)["Last_Touchpoint__c"] == TODAY - timedelta(days=50)


def test_which_tasks_count() -> None:
    assert touchpoint_of(CFG, *call(1, Type="Email", Subject="Invoice copy"), TODAY) is None
    assert touchpoint_of(CFG, *call(1, Type="", Subject="check-in with GM"), TODAY) is not None
    assert touchpoint_of(CFG, *call(-1), TODAY) is None  # dated after today
    assert touchpoint_of(CFG, *call(1, IsClosed=False), TODAY) is None


def test_the_interval_is_the_stage_of_the_last_touchpoint() -> None:
    # Started 33 days ago; last call on day 25 (weekly stage) → due on day 32, a day ago: Due.
    c = assess(CFG, {"Onboarding_Start__c": (TODAY - timedelta(days=33)).isoformat()},
               [Touchpoint(TODAY - timedelta(days=8), "Call")], TODAY)  # fmt: skip
    assert (c.interval_days, c.due, c.status) == (7, TODAY - timedelta(days=1), DUE)
    # Before any touchpoint, the first is due one interval after the start.
    c = assess(CFG, {"Onboarding_Start__c": (TODAY - timedelta(days=5)).isoformat()}, [], TODAY)
    assert (c.due, c.status, c.last) == (TODAY + timedelta(days=2), ON_SCHEDULE, None)


def test_no_start_and_nothing_logged_is_overdue_with_a_stable_key() -> None:
    out = JOB.evaluate(store())
    assert list(tasks(out)) == ["cadence:IL-006:none"]
    assert fields(out) == {"Last_Touchpoint__c": None, "Next_Touchpoint_Due__c": None,
                           "Touchpoint_Status__c": OVERDUE}  # fmt: skip
    tomorrow = JOB.evaluate(store(today=TODAY + timedelta(days=1)))
    assert list(tasks(tomorrow)) == ["cadence:IL-006:none"]


def test_rerun_writes_nothing_and_a_logged_call_completes_the_task() -> None:
    managed = JOB.managed(NOW)
    first = JOB.evaluate(store(call(40)))
    assert rerun_is_noop(first, managed)
    held = written(diff(first, {}, managed))
    (key,) = tasks(first)
    held[("Task", key)].update({"IsClosed": False, "WhatId": "001A"})
    later = JOB.evaluate(store(call(40), call(0)))
    plan = diff(later, held, managed)
    assert {(c.op, c.sobject) for c in plan.changes} == {("close", "Task"), ("update", "Account")}
    after = written(plan, held)
    assert after[("Task", key)]["Status"] == "Completed"
    assert after[("Account", "IL-006")]["Touchpoint_Status__c"] == ON_SCHEDULE


def test_summary_counts_tasks_and_on_schedule_accounts_per_csm() -> None:
    job = CadenceJob.build(MAPPINGS)
    job.evaluate(store(call(40)))
    job.evaluate(store(call(3)))
    job.evaluate(store(call(3), account={"CSM__c": "005OTHER"}))
    cadence = job.summary([])["cadence"]
    assert cadence == {"tasks": 1, "by_csm": {"005CSM": {"accounts": 2, "on_schedule": 1},
                                              "005OTHER": {"accounts": 1, "on_schedule": 1}}}  # fmt: skip


class Recorder:
    def __init__(self) -> None:
        self.soql: list[str] = []

    def query(self, soql: str) -> Any:
        self.soql.append(soql)
        if "FROM Task" in soql:
            yield {"AccountId": "001A", "ActivityDate": "2026-11-20", "Type": "Call", "Subject": "x"}
        else:
            yield {"AccountId": "001Z", "EndDateTime": "2026-11-20T10:00:00Z"}
            yield {"AccountId": "001B", "EndDateTime": "2026-11-23T13:59:00.000+0000"}  # ended: counts
            yield {"AccountId": "001B", "EndDateTime": "2026-11-23T16:00:00.000+0000"}  # later today
            yield {"AccountId": "001B", "EndDateTime": "2026-05-27T09:00:00.000+0000"}  # before the window


def test_activity_is_read_with_one_escaped_query_per_object_over_every_account() -> None:
    org = Recorder()
    accounts = {f"S-{i}": {"Id": f"001{i:03d}"} for i in range(50)} | {"IL-006": {"Id": "001A"}}
    accounts |= {"O'Brien": {"Id": "001'x"}, "NV-005": {"Id": "001B"}}
    found = read_touchpoints(org, accounts, datetime(2026, 11, 23, 14, tzinfo=UTC), CFG)
    assert len(org.soql) == 2
    task_q, event_q = org.soql
    assert "FROM Task WHERE AccountId IN (" in task_q and "'001\\'x'" in task_q
    assert "Sync_Key__c = null" in task_q and "ActivityDate >= 2026-05-27" in task_q
    # Whole days, so every shard and firing of the day asks the same: the exact window is applied here.
    assert "FROM Event" in event_q and "EndDateTime >= 2026-05-27T00:00:00+00:00" in event_q
    assert "EndDateTime < 2026-11-24T00:00:00+00:00" in event_q
    assert sorted(found) == ["IL-006", "NV-005"]  # a row of an account outside the shard is dropped
    assert [r["EndDateTime"] for _, r in found["NV-005"]] == ["2026-11-23T13:59:00.000+0000"]


CASES = [
    (("until_day = 60", "until_day = 20"),
     ["mappings/cadence.toml: stages: until_day must increase from one stage to the next"]),
    (("Starter = 90", "Starter = 0"),
     ['mappings/cadence.toml: tiers: tier "Starter": interval must be between 1 and 365 days, got 0']),
    (('tier_field = "Plan__c"', 'tier_field = "Plan; DROP"'),
     ["mappings/cadence.toml: tier_field: must be an Account field's API name (letters, digits, _), got "
      "'Plan; DROP'"]),
    (("({late_days} days ago)", "({late} days ago)"),
     ["mappings/cadence.toml: task → description: unknown placeholder {late} (known: account, due, "
      "grace_days, interval_days, last, late_days, stage, store)"]),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "expected"), CASES)
def test_invalid_file(tmp_path: Path, edit: tuple[str, str], expected: list[str]) -> None:
    text = (MAPPINGS / "cadence.toml").read_text(encoding="utf-8")
    assert edit[0] in text
    (tmp_path / "mappings").mkdir()
    path = tmp_path / "mappings" / "cadence.toml"
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(FileError) as err:
        load(path)
    assert [str(i) for i in err.value.issues] == expected


def test_explain_tells_the_touchpoints_and_the_decision() -> None:
    out = JOB.explain(store(call(40), event(-2), call(1, Type="Email", Subject="Invoice copy")))
    assert out["touchpoints"] == [
        {"day": (TODAY - timedelta(days=40)).isoformat(), "what": "Call: Weekly check-in"}
    ]
    assert (out["status"], out["interval_days"], out["due"]) == (
        OVERDUE,
        30,
        (TODAY - timedelta(days=10)).isoformat(),
    )
