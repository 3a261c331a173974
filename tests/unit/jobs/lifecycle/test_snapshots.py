"""Health snapshots: one per account per day, stale days recorded, backfill recomputes each past day."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from jobs.snapshots import Score, SnapshotsJob, day_view, read_history
from mappings.context import AccountData
from mappings.load import load_mapping_set
from tests.doubles import FakeOrg

from .builders import MAPPINGS, NOW, TODAY, account_data, daily, rerun_is_noop


def fixed(data: AccountData) -> Score:
    """A scorer that reports the day it saw, to show which day each snapshot was computed for."""
    return Score(50 + data.today.day, "Yellow", {"orders": {"points": 60, "day": data.today.isoformat()}})


def test_one_snapshot_per_account_per_day() -> None:
    (d,) = SnapshotsJob(fixed).evaluate(account_data("NV-001"))
    assert (d.sobject, d.key_field, d.key) == ("Health_Snapshot__c", "Snapshot_Key__c", "NV-001:2026-11-23")
    assert d.fields == {
        "Name": "NV-001 2026-11-23",
        "Snapshot_Date__c": "2026-11-23",
        "Score__c": 73,
        "Band__c": "Yellow",
        "Components__c": '{"orders":{"day":"2026-11-23","points":60}}',
        "Stale__c": False,
    }
    assert d.create_only == {"Account__c": "001A"}


def test_a_stale_day_is_recorded_without_a_score_and_nothing_to_score_writes_nothing() -> None:
    (d,) = SnapshotsJob(lambda _: Score(None, "", {}, stale=True)).evaluate(account_data())
    assert (d.fields["Score__c"], d.fields["Band__c"], d.fields["Stale__c"]) == (None, None, True)
    assert SnapshotsJob(lambda _: Score(None, "", {})).evaluate(account_data()) == []
    assert SnapshotsJob(lambda _: None).evaluate(account_data()) == []


def test_a_csm_override_goes_into_the_components() -> None:
    (d,) = SnapshotsJob(fixed).evaluate(account_data(account={"Health_Override__c": 90}))
    assert json.loads(d.fields["Components__c"])["_override"] == 90
    assert d.fields["Score__c"] == 73


def test_backfill_recomputes_each_past_day_with_today_set_to_it() -> None:
    job = SnapshotsJob(fixed).backfill(TODAY - timedelta(days=2), TODAY + timedelta(days=5))
    out = job.evaluate(account_data("NV-001"))
    assert [d.key for d in out] == ["NV-001:2026-11-21", "NV-001:2026-11-22", "NV-001:2026-11-23"]
    assert [d.fields["Score__c"] for d in out] == [71, 72, 73]
    assert job.history_days_for(TODAY) == 122


def test_day_view_moves_the_clock_back() -> None:
    past = day_view(account_data(), date(2026, 11, 1))
    assert past.today == date(2026, 11, 1) and past.now == NOW - timedelta(days=22)


def test_backfill_ranges_are_checked() -> None:
    with pytest.raises(ValueError, match="ends"):
        SnapshotsJob(fixed).backfill(TODAY, TODAY - timedelta(days=1))
    with pytest.raises(ValueError, match="longer than 400 days"):
        SnapshotsJob(fixed).backfill(TODAY - timedelta(days=500), TODAY)


def healthy_store(today: date = TODAY) -> Any:
    s: dict[Any, Any] = {}
    start, end = today - timedelta(days=120), today - timedelta(days=1)
    for metric, dim, v in (("orders", "channel=online", 20), ("orders", "channel=in_store", 40), ("orders", "", 60),
                           ("revenue", "channel=online", 1400), ("revenue", "channel=in_store", 2160),
                           ("online_orders", "", 20), ("sessions", "", 600), ("carts", "", 70),
                           ("logins", "", 12), ("active_users", "", 4), ("paid", "", 10)):  # fmt: skip
        daily(s, metric, dim, start, end, v)
    fresh = {src: NOW - timedelta(hours=2) for src in ("pos", "platform", "billing", "support", "nps")}
    return account_data("NV-008", today=today, series=s, freshness=fresh, last_success=fresh)


def test_the_account_health_evaluation_scores_the_snapshot() -> None:
    job = SnapshotsJob.build(load_mapping_set(MAPPINGS))
    (d,) = job.evaluate(healthy_store())
    assert 0 <= d.fields["Score__c"] <= 100
    assert d.fields["Band__c"] in ("Green", "Yellow", "Red")
    components = json.loads(d.fields["Components__c"])
    assert components and all({"raw", "points", "weight"} <= set(c) for c in components.values())


def test_snapshots_are_idempotent() -> None:
    job = SnapshotsJob.build(MAPPINGS)
    data = healthy_store()
    assert job.evaluate(data) == job.evaluate(data)
    assert rerun_is_noop(job.evaluate(data))


def test_explain_lists_each_day() -> None:
    out = SnapshotsJob(fixed).backfill(TODAY - timedelta(days=1), TODAY).explain(account_data())
    assert list(out["days"]) == ["2026-11-22", "2026-11-23"] and out["days"]["2026-11-22"]["score"] == 72


def test_history_for_the_health_trend_comes_from_the_snapshots() -> None:
    org = FakeOrg(
        {"Health_Snapshot__c": [{"Account__c": "001A", "Snapshot_Date__c": "2026-11-16", "Score__c": 64}]}
    )
    out = read_history(org, {"NV-001": {"Id": "001A"}}, TODAY)
    assert out == {"NV-001": {"health_history": {"2026-11-16": 64.0}}}
    assert (
        "Account__c IN ('001A') AND (Snapshot_Date__c >= 2026-11-09 AND Score__c != null)" in org.queries[0]
    )
