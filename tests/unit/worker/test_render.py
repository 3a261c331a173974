"""Plans for people: long text cut to one line by default, whole with --full; the safety verdict."""

from __future__ import annotations

import io

from jobs.plan import Plan, Update
from jobs.sync import JobOptions, safety_refusal
from worker.output import Output
from worker.render import print_plan

EVIDENCE_BEFORE = "Online orders 12 vs 40 same weekday.\nTop sellers out of stock: Blue Dream 3.5g"
EVIDENCE_AFTER = "Online orders 9 vs 41 same weekday.\nTop sellers out of stock: Blue Dream 3.5g, " + "x" * 90


def plan_of(n: int, changed: int) -> Plan:
    changes = tuple(
        Update(
            "Risk_Flag__c",
            "Sync_Key__c",
            f"risk:NV-{i:03d}:menu",
            {"Evidence__c": EVIDENCE_AFTER},
            {"Evidence__c": EVIDENCE_BEFORE},
        )  # fmt: skip
        for i in range(changed)
    )
    return Plan(changes, considered=n)


def rendered(plan: Plan, full: bool) -> str:
    stream = io.StringIO()
    print_plan(Output("plan", False, stream).console, plan, "risk_alerts", full=full)
    return stream.getvalue()


def test_long_text_is_one_cut_line_by_default_and_whole_with_full() -> None:
    plan = plan_of(10, 1)
    short = rendered(plan, full=False)
    assert "Online orders 9 vs 41 same weekday. ⏎ Top sellers" in short and "…" in short
    assert "x" * 90 not in short
    whole = rendered(plan, full=True)
    assert "x" * 90 in whole and "…" not in whole
    assert (
        "Online orders 12 vs 40 same weekday." in whole
        and "Top sellers out of stock: Blue Dream 3.5g" in whole
    )


def test_the_safety_verdict_names_the_share_once_and_not_the_job() -> None:
    opts = JobOptions(safety_max_change_share=0.5, safety_min_records=20)
    assert safety_refusal(plan_of(10, 10), opts) == ""  # below safety_min_records the check is off
    assert safety_refusal(plan_of(40, 10), opts) == ""
    reason = safety_refusal(plan_of(40, 30), opts)
    assert reason == "the plan changes 75% of existing records (limit 50%)"
