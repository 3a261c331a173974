"""QBR: quarterly ROI maths, category mix vs the state's stores, the prep Task two weeks before the review."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from jobs.qbr import QbrJob, mix_text, review_date, review_records, roi
from mappings.lifecycle import Quarter

from .builders import MAPPINGS, NOW, TODAY, account_data, daily, rerun_is_noop

JOB = QbrJob.build(MAPPINGS)
Q3 = Quarter(2026, 3)


def store(store_id: str = "IL-001", today: date = TODAY, q3_scale: float = 1.0, edibles: float = 0.2) -> Any:
    """Q2 at 40 orders a day (10 online), Q3 and Q4 at `q3_scale` times that."""
    s: dict[Any, Any] = {}
    for q, f in ((Quarter(2026, 2), 1.0), (Q3, q3_scale), (Quarter(2026, 4), q3_scale)):
        end = min(q.end, today - timedelta(days=1))
        daily(s, "orders", "channel=online", q.start, end, 10 * f)
        daily(s, "revenue", "channel=online", q.start, end, 700 * f)
        daily(s, "orders", "channel=in_store", q.start, end, 30 * f)
        daily(s, "revenue", "channel=in_store", q.start, end, 1620 * f)
        daily(s, "orders", "", q.start, end, 40 * f)
        daily(s, "online_orders", "", q.start, end, 10 * f)
        daily(s, "sessions", "", q.start, end, 250 * f)
        daily(s, "carts", "", q.start, end, 40 * f)
        daily(s, "revenue", "category=edibles", q.start, end, 2320 * f * edibles)
        daily(s, "revenue", "category=flower", q.start, end, 2320 * f * (1 - edibles))
    return account_data(store_id, today=today, series=s)


def test_roi_maths_over_a_quarter() -> None:
    r = roi(store(), Q3.start, Q3.end)
    assert (r.days, r.online_orders, r.in_store_orders) == (92, 920, 2760)
    assert (r.aov_online, r.aov_in_store) == (70.0, 54.0)
    assert r.aov_lift == pytest.approx(70 / 54 - 1)
    assert r.conversion == pytest.approx(0.04)
    assert r.abandonment == pytest.approx(0.75)
    assert r.online_share == pytest.approx(0.25)


def test_the_running_quarter_counts_complete_days_only() -> None:
    r = roi(store(), Quarter(2026, 4).start, Quarter(2026, 4).end)
    assert (r.days, r.end) == ((TODAY - date(2026, 10, 1)).days, TODAY - timedelta(days=1))


def test_review_records_for_the_last_and_the_running_quarter() -> None:
    job = QbrJob.build(MAPPINGS)
    job.prepare(None, {}, NOW)
    job.evaluate(store(q3_scale=1.25))
    recs = {d.key: d for d in job.finalize({}, [], NOW)}
    assert set(recs) == {"IL-001:2026-Q3", "IL-001:2026-Q4"}
    q3 = recs["IL-001:2026-Q3"]
    assert (q3.sobject, q3.key_field) == ("Quarterly_Review__c", "Review_Key__c")
    assert q3.create_only == {"Account__c": "001A"}
    f = q3.fields
    assert f["Quarter__c"] == "2026-Q3" and f["Review_Date__c"] == "2026-10-15"
    assert (f["Online_Orders__c"], f["In_Store_Orders__c"]) == (1150, 3450)
    assert (f["AOV_Online__c"], f["AOV_In_Store__c"], f["AOV_Lift__c"]) == (70.0, 54.0, 29.63)
    assert (f["Conversion__c"], f["Cart_Abandonment__c"], f["Online_Share__c"]) == (4.0, 75.0, 25.0)
    assert f["Order_Trend__c"] == 25.0  # orders per day vs Q2
    assert f["Category_Mix__c"] == "Revenue by category:\n- flower 80%\n- edibles 20%"


def test_category_mix_is_compared_with_the_same_states_stores() -> None:
    job = QbrJob.build(MAPPINGS)
    job.prepare(None, {}, NOW)
    job.evaluate(store("IL-001", edibles=0.3))
    job.evaluate(store("IL-002", edibles=0.1))
    job.evaluate(store("NV-001", edibles=0.9))
    mix = {d.key: d.fields["Category_Mix__c"] for d in job.finalize({}, [], NOW)}
    assert mix["IL-001:2026-Q3"] == (
        "Revenue by category vs IL stores:\n- flower 70% (IL stores 80%, -10 pts)\n- edibles 30% (IL stores 20%, +10 pts)"
    )
    assert mix["NV-001:2026-Q3"].startswith("Revenue by category:")  # alone in its state: no comparison


def test_mix_text_without_sales() -> None:
    assert mix_text({}, None, "IL", 5) == "No category sales in this quarter."


def test_the_prep_task_appears_two_weeks_before_the_review_and_not_after() -> None:
    # Q3's review is on 15 Oct (quarter end + 15 days): the Task exists from 1 Oct to 15 Oct
    def tasks(day: date) -> list[str]:
        return [d.key for d in JOB.evaluate(store(today=day)) if d.sobject == "Task"]

    assert tasks(date(2026, 9, 30)) == []
    assert tasks(date(2026, 10, 1)) == ["qbr:IL-001:2026-Q3"]
    assert tasks(date(2026, 10, 15)) == ["qbr:IL-001:2026-Q3"]
    assert tasks(date(2026, 10, 16)) == []


def test_the_prep_task_carries_the_figures() -> None:
    (t,) = JOB.evaluate(store(today=date(2026, 10, 5)))
    assert t.create_only["Subject"] == "Prepare the 2026-Q3 QBR for Copper Leaf (review 2026-10-15)"
    assert "AOV online $70.00 vs in-store $54.00 (+30%)" in t.create_only["Description"]
    assert t.create_only["OwnerId"] == "005CSM"


def test_an_account_field_can_schedule_the_review() -> None:
    cfg = JOB.cfg.model_copy(update={"review_date_field": "Next_QBR__c"})
    assert review_date(cfg, {"Next_QBR__c": "2026-10-28"}, Q3) == date(2026, 10, 28)
    assert review_date(cfg, {"Next_QBR__c": "2026-09-01"}, Q3) == date(
        2026, 10, 15
    )  # before the quarter ends
    assert "Next_QBR__c" in QbrJob(cfg).account_fields


def test_qbr_is_idempotent() -> None:
    job = QbrJob.build(MAPPINGS)
    data = store(today=date(2026, 10, 5))
    job.prepare(None, {}, NOW)
    first = [*job.evaluate(data), *job.finalize({}, [], NOW)]
    job.prepare(None, {}, NOW)
    second = [*job.evaluate(data), *job.finalize({}, [], NOW)]
    assert first == second
    assert rerun_is_noop(first)


def test_a_quarter_without_data_has_no_record() -> None:
    rv = review_records([], JOB.cfg)
    assert rv == []
    job = QbrJob.build(MAPPINGS)
    job.prepare(None, {}, NOW)
    assert job.evaluate(account_data("IL-001")) == [] and job.finalize({}, [], NOW) == []


def test_explain_lists_the_quarters() -> None:
    out = JOB.explain(store())
    assert [q["quarter"] for q in out["quarters"]] == ["2026-Q3", "2026-Q4"]
    assert out["quarters"][0]["online_share"] == pytest.approx(0.25)
