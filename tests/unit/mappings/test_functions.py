"""Metric functions on hand-built series: windows, week over week, holiday-free baselines, robust z."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.context import AccountData
from mappings.events import is_excluded
from mappings.functions import Metrics, ratio, robust_z_of, safe_div
from mappings.series import DaySeries

NOW = datetime(2026, 10, 15, 9, 0, tzinfo=UTC)
TODAY = date(2026, 10, 15)  # Thursday; yesterday Wed 14 Oct and its 8 prior Wednesdays are no holidays
HOLIDAY_TODAY = date(2026, 12, 3)  # Thursday; the Wednesdays before include Green Wednesday and Veterans Day


def metrics(
    series: Mapping[tuple[str, str], Mapping[date, float]] | None = None,
    today: date = TODAY,
    state: str = "NV",
    **kw: Any,
) -> Metrics:
    data = AccountData(
        store_id="NV-001",
        today=today,
        now=kw.pop("now", NOW),
        series=series or {},
        store={"state": state},
        **kw,
    )
    return Metrics(data, thresholds={"pos": 36.0, "menu_sync": 6.0}, feed_sources=frozenset({"pos"}))


def by_offset(values: Mapping[int, float], today: date = TODAY) -> dict[date, float]:
    """{1: v} means yesterday = v."""
    return {today - timedelta(days=i): v for i, v in values.items()}


def counting_up(days: int = 60) -> dict[date, float]:
    return by_offset({i: float(i) for i in range(1, days + 1)})  # yesterday 1, the day before 2, ...


def test_windows_count_back_from_yesterday() -> None:
    m = metrics({("orders", ""): counting_up()})
    assert m.total("orders") == sum(range(1, 8))
    assert m.total("orders", 7, "", 7) == sum(range(8, 15))
    assert m.daily("orders") == 1
    assert m.daily("orders", offset=2) == 3
    assert m.avg("orders", 4) == (1 + 2 + 3 + 4) / 4
    assert m.sum("orders", 3) == m.total("orders", 3)


def test_today_is_never_counted_and_gaps_count_as_zero() -> None:
    s = by_offset({0: 1000.0, 1: 5.0, 3: 7.0})  # today's partial day, yesterday, and a gap on day 2
    m = metrics({("orders", "channel=online"): s})
    assert m.total("orders", 3, "channel=online") == 12.0
    assert m.total("orders", 7, "") == 0.0  # an absent series is no activity


def test_a_series_that_stops_early_reads_zero_after_its_end() -> None:
    m = metrics({("orders", ""): by_offset({i: 10.0 for i in range(5, 20)})})
    assert m.total("orders", 7) == 30.0  # days 5, 6, 7 only


@given(st.dictionaries(st.integers(1, 90), st.floats(0, 1000, allow_nan=False), min_size=1))
def test_dense_and_mapping_series_give_the_same_totals(values: dict[int, float]) -> None:
    plain = by_offset(values)
    dense = DaySeries.from_mapping(plain)
    assert dict(dense.items()) == {d: plain.get(d, 0.0) for d in dense}
    a, b = metrics({("orders", ""): plain}), metrics({("orders", ""): dense})
    for days, offset in ((1, 0), (7, 0), (7, 7), (28, 3), (90, 0)):
        assert a.total("orders", days, "", offset) == pytest.approx(b.total("orders", days, "", offset))


def test_week_over_week_and_trailing_changes() -> None:
    s = by_offset({**{i: 10.0 for i in range(1, 8)}, **{i: 20.0 for i in range(8, 36)}})
    m = metrics({("revenue", "channel=online"): s})
    assert m.wow_change("revenue", "channel=online") == pytest.approx(-0.5)
    assert m.vs_trailing("revenue", "channel=online") == pytest.approx(-0.5)
    assert math.isnan(m.wow_change("revenue", "channel=in_store"))  # no prior week: undefined


def test_week_over_week_of_everything_but_one_part() -> None:
    now = by_offset({i: 100.0 for i in range(1, 8)} | {i: 100.0 for i in range(8, 15)})
    part = by_offset({i: 10.0 for i in range(1, 8)} | {i: 50.0 for i in range(8, 15)})
    m = metrics({("revenue", "channel=online"): now, ("revenue", "channel=online,category=edibles"): part})
    assert m.wow_change_excluding(
        "revenue", "channel=online", "channel=online,category=edibles"
    ) == pytest.approx((700 - 70) / (700 - 350) - 1)


def wednesdays(values: Mapping[date, float], default: float = 100.0) -> dict[date, float]:
    """Yesterday (Wed 2 Dec 2026) and the ten Wednesdays before, default unless given."""
    out = {}
    for k in range(0, 11):
        d = HOLIDAY_TODAY - timedelta(days=1 + 7 * k)
        out[d] = values.get(d, default + k % 3)  # 100, 101, 102, ... so the median is not trivial
    return out


def test_baseline_is_the_median_of_the_same_weekday_with_holidays_left_out() -> None:
    green_wednesday, veterans_day = date(2026, 11, 25), date(2026, 11, 11)
    assert is_excluded("NV", green_wednesday) == "Green Wednesday"
    assert is_excluded("NV", veterans_day) == "Veterans Day"
    yesterday = HOLIDAY_TODAY - timedelta(days=1)
    s = wednesdays({green_wednesday: 400.0, veterans_day: 0.0, yesterday: 60.0})
    m = metrics({("orders", "channel=online"): s}, today=HOLIDAY_TODAY)
    prior = [yesterday - timedelta(days=7 * k) for k in range(1, 9)]
    kept = [s[d] for d in prior if d not in (green_wednesday, veterans_day)]
    assert len(kept) == 6
    assert m.baseline("orders", "channel=online") == pytest.approx(sorted(kept)[2] / 2 + sorted(kept)[3] / 2)
    assert m.vs_baseline("orders", "channel=online") == pytest.approx(
        60 / m.baseline("orders", "channel=online") - 1
    )


def test_state_holidays_are_left_out_only_in_their_state() -> None:
    # Nevada Day (Fri 30 Oct 2026) is a holiday in NV, not in AZ
    today = date(2026, 11, 7)  # yesterday Fri 6 Nov
    values = {today - timedelta(days=1 + 7 * k): 100.0 + k for k in range(0, 9)}
    values[date(2026, 10, 30)] = 1000.0
    nv = metrics({("orders", ""): values}, today=today, state="NV")
    az = metrics({("orders", ""): values}, today=today, state="AZ")
    assert nv.baseline("orders") == pytest.approx(105.0)  # 102..108 without Nevada Day
    assert az.baseline("orders") == pytest.approx(105.5)  # 102..108 and the 1000: the median moves up


def test_a_holiday_is_compared_with_last_years_holiday_not_a_normal_day() -> None:
    today = date(2026, 11, 27)  # yesterday: Thanksgiving 2026
    thanksgiving_2025 = date(2025, 11, 27)
    values = {today - timedelta(days=i): 100.0 for i in range(1, 400)}
    values[thanksgiving_2025] = 30.0
    values[today - timedelta(days=1)] = 35.0
    m = metrics({("orders", ""): values}, today=today)
    assert m.baseline("orders") == 30.0
    short = metrics({("orders", ""): {d: v for d, v in values.items() if d > date(2026, 6, 1)}}, today=today)
    assert math.isnan(short.baseline("orders"))  # no holiday to compare with: no baseline, no alert


def test_fewer_than_four_weeks_of_history_is_no_baseline() -> None:
    m = metrics({("orders", ""): by_offset({1: 50.0, 8: 100.0, 15: 100.0, 22: 100.0})})
    assert math.isnan(m.baseline("orders"))
    assert math.isnan(m.robust_z("orders"))
    m4 = metrics({("orders", ""): by_offset({1: 50.0, 8: 100.0, 15: 100.0, 22: 100.0, 29: 100.0})})
    assert m4.baseline("orders") == 100.0


def test_robust_z_is_the_deviation_over_the_scaled_mad() -> None:
    sample = [10.0, 12.0, 11.0, 13.0, 9.0, 10.0, 12.0, 11.0]
    assert robust_z_of(5.0, sorted(sample)) == pytest.approx((5 - 11) / 1.4826)
    s = by_offset({1: 5.0, **{1 + 7 * (k + 1): v for k, v in enumerate(sample)}})
    assert metrics({("orders", ""): s}).robust_z("orders") == pytest.approx((5 - 11) / 1.4826)


def test_robust_z_when_most_of_the_sample_is_identical() -> None:
    sample = sorted([10.0, 10.0, 10.0, 10.0, 10.0, 14.0])  # MAD 0: the mean absolute deviation stands in
    assert robust_z_of(8.0, sample) == pytest.approx((8 - 10) / (1.2533 * 4 / 6))
    assert robust_z_of(10.0, [10.0] * 5) == 0.0
    assert robust_z_of(9.0, [10.0] * 5) == -math.inf
    assert math.isnan(robust_z_of(None, [10.0] * 5))


def test_share_ratio_and_safe_division() -> None:
    m = metrics({("orders", "channel=online"): by_offset({1: 30.0}), ("orders", ""): by_offset({1: 120.0})})
    assert m.share("orders", "channel=online", 1) == 0.25
    assert m.share("orders", "channel=in_store", 1) == 0.0
    assert math.isnan(m.share("revenue", "channel=online", 1))  # no total: no share
    assert math.isnan(ratio(1, 0)) and math.isnan(ratio(None, 2)) and ratio(3, 4) == 0.75
    assert safe_div(1, 0) == 0 and safe_div(1, 0, None) is None


def test_days_since_reads_dates_times_and_account_fields() -> None:
    m = metrics(account={"Onboarding_Start__c": "2026-09-15", "Empty__c": None})
    assert m.days_since("2026-10-13") == 2
    assert m.days_since(datetime(2026, 10, 12, 23, 0, tzinfo=UTC)) == 3
    assert m.days_since("Onboarding_Start__c") == 30
    assert m.days_since(None) == math.inf
    assert m.days_since("Empty__c") == math.inf


def test_freshness_staleness_and_feeds() -> None:
    m = metrics(
        freshness={"pos": NOW - timedelta(hours=40), "menu_sync": NOW - timedelta(hours=2), "nps": None},
        last_success={"pos": NOW - timedelta(hours=1)},
    )
    assert m.freshness("pos") == pytest.approx(40.0)
    assert m.freshness("nps") == math.inf
    assert m.freshness("never_configured") == math.inf
    assert m.stale("pos") is True  # 40 h > 36 h
    assert m.stale("menu_sync") is False  # 2 h < 6 h
    assert m.stale_after("billing") == 36.0  # the default for an unlisted source
    assert m.last_success("pos") == NOW - timedelta(hours=1)
    assert m.sources() == ["menu_sync", "nps", "pos"]
    assert m.feeds() == ["pos"]  # menu_sync is a signal, nps not a feed in this configuration


def test_count_and_sum_over_records_with_filters() -> None:
    invoices = [
        {"status": "open", "due_on": "2026-08-01", "amount": 500.0},
        {"status": "open", "due_on": "2026-10-30", "amount": 200.0},
        {"status": "paid", "due_on": "2026-07-01", "amount": 900.0},
        {"status": "open", "due_on": None, "amount": "n/a"},
    ]
    m = metrics(records={"invoices": invoices})
    assert m.count("invoices", status="open") == 3
    assert m.count("invoices", status="open", due_on__lt=m.date_ago(30)) == 1
    assert m.count("invoices", status__in=["open", "paid"], amount__ge=300) == 2
    assert m.count("invoices", status__ne="paid", due_on__contains="-10-") == 1
    assert m.sum_of("invoices", "amount", status="open") == 700.0
    assert m.count("payments") == 0


def test_attrs_latest_snapshot_and_categories() -> None:
    m = metrics(
        {
            ("menu_items_hidden", "category=edibles"): by_offset({0: 3.0, 1: 1.0}),
            ("revenue", "channel=online,category=flower"): by_offset({1: 10.0}),
            ("revenue", "category=edibles"): by_offset({1: 10.0}),
        },
        attrs={"menu.top_sellers_unavailable": ["Blue Dream"]},
    )
    assert m.latest("menu_items_hidden", "category=edibles") == 3.0  # today's snapshot counts
    assert m.latest("menu_items_hidden", "category=flower") == 0.0
    assert m.attr("menu.top_sellers_unavailable") == ["Blue Dream"]
    assert m.attr("missing", 7) == 7
    assert m.categories() == ["edibles", "flower"]


class CountingSeries(Mapping[tuple[str, str], Mapping[date, float]]):
    def __init__(self, inner: Mapping[tuple[str, str], Mapping[date, float]]) -> None:
        self.inner = inner
        self.reads = 0

    def __getitem__(self, key: tuple[str, str]) -> Mapping[date, float]:
        self.reads += 1
        return self.inner[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.inner)

    def __len__(self) -> int:
        return len(self.inner)


def test_answers_are_memoized_within_one_account() -> None:
    series = CountingSeries({("orders", ""): counting_up()})
    m = metrics(series)
    first = [m.total("orders"), m.wow_change("orders"), m.baseline("orders"), m.robust_z("orders")]
    reads = series.reads
    again = [m.total("orders"), m.wow_change("orders"), m.baseline("orders"), m.robust_z("orders")]
    assert again == first
    assert reads == 1 and series.reads == 1  # the series was densified once, every answer reused
