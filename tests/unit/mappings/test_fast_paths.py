"""The shortcuts evaluation takes for speed give exactly what the plain definitions give."""

from __future__ import annotations

import math
import random
import re
from array import array
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from statistics import median

from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.context import AccountData
from mappings.events import excluded_days, excluded_ordinals, is_excluded
from mappings.functions import (
    MAD_TO_SIGMA,
    MEANAD_TO_SIGMA,
    MIN_BASELINE_WEEKS,
    Metrics,
    weekday_steps,
)
from mappings.series import DaySeries
from mappings.templates import constant_length, render

FIRST_DAY = date(2025, 11, 1)  # the history may start here or up to ~13 months later
STATES = ("NV", "AZ", "CA", "IL", "")


def reference_sample(
    values: list[float], start: date, target: date, state: str, weeks: int
) -> tuple[float | None, list[float]]:
    """The baseline sample by its definition, one date at a time: the same weekday of each prior week,
    holidays and events left out, stopping where history starts; a holiday compares with itself a year
    before."""

    def at(day: date) -> float | None:
        i = (day - start).days
        if i < 0:
            return None
        return values[i] if i < len(values) else 0.0

    x = at(target)
    if x is None:
        return None, []
    if is_excluded(state, target):
        name = is_excluded(state, target)
        for day, other in excluded_days(state, target.year - 1).items():
            if other == name:
                v = at(day)
                return x, [] if v is None else [v]
        return x, []
    sample: list[float] = []
    for k in range(1, weeks + 1):
        day = target - timedelta(weeks=k)
        v = at(day)
        if v is None:
            break
        if not is_excluded(state, day):
            sample.append(v)
    return x, sorted(sample) if len(sample) >= MIN_BASELINE_WEEKS else []


def reference_robust_z(x: float | None, sample: list[float]) -> float:
    if x is None or not sample:
        return math.nan
    med = median(sample)
    deviations = [abs(v - med) for v in sample]
    scale = MAD_TO_SIGMA * median(deviations)
    if scale == 0:
        scale = MEANAD_TO_SIGMA * (sum(sorted(deviations)) / len(deviations))
    if scale == 0:
        return 0.0 if x == med else math.copysign(math.inf, x - med)
    return (x - med) / scale


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


amounts = st.one_of(st.integers(0, 400).map(float), st.floats(0, 5000, allow_nan=False, allow_infinity=False))


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(amounts, max_size=130),
    start_days=st.integers(0, 400),
    today_after=st.integers(-5, 160),
    state=st.sampled_from(STATES),
    weeks=st.integers(1, 10),
    offset=st.integers(0, 9),
)
def test_baseline_and_robust_z_match_their_definitions(
    values: list[float], start_days: int, today_after: int, state: str, weeks: int, offset: int
) -> None:
    start = FIRST_DAY + timedelta(days=start_days)
    today = start + timedelta(days=today_after)
    data = AccountData(
        store_id="NV-001",
        today=today,
        now=datetime.combine(today, datetime.min.time(), UTC),
        series={("orders", ""): DaySeries(start, values)},
        store={"state": state},
    )
    m = Metrics(data, thresholds={})
    target = today - timedelta(days=1 + offset)
    x, sample = reference_sample(values, start, target, state, weeks)

    expected_baseline = median(sample) if sample else math.nan
    assert same(m.baseline("orders", "", weeks, offset), expected_baseline)
    assert same(m.robust_z("orders", "", weeks, offset), reference_robust_z(x, sample))
    expected_vs = math.nan
    if x is not None and sample and median(sample) != 0:
        expected_vs = x / median(sample) - 1.0
    assert same(m.vs_baseline("orders", "", weeks, offset), expected_vs)


@settings(max_examples=200, deadline=None)
@given(
    state=st.sampled_from(STATES),
    target_days=st.integers(0, 800),
    weeks=st.integers(0, 12),
)
def test_weekday_steps_are_the_weeks_whose_day_is_not_excluded(
    state: str, target_days: int, weeks: int
) -> None:
    target = FIRST_DAY + timedelta(days=target_days)
    excluded = excluded_ordinals(state, target - timedelta(weeks=weeks), target)
    on_excluded, steps = weekday_steps(state, target.toordinal(), weeks)
    assert on_excluded == bool(is_excluded(state, target))
    assert steps == tuple(
        k for k in range(1, weeks + 1) if (target - timedelta(weeks=k)).toordinal() not in excluded
    )


_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def reference_render(template: str, values: Mapping[str, str]) -> str:
    """Rendering by regex substitution, one match at a time: what the split-once form must reproduce."""

    def sub(m: re.Match[str]) -> str:
        text = m.group(0)
        if text in ("{{", "}}"):
            return text[0]
        if m.group(1) is None:
            return text
        return values.get(m.group(1).strip(), "n/a")

    return _TOKEN.sub(sub, template)


VALUES = {"a": "A", "store_id": "NV-001", "x": "{x}", "b": "}"}


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab{}_ x\nstore_id", max_size=40))
def test_rendering_from_the_split_template_matches_substitution(template: str) -> None:
    assert render(template, VALUES) == reference_render(template, VALUES)
    assert constant_length(template) == len(reference_render(template, _Blank()))


class _Blank(dict[str, str]):
    def get(self, key: str, default: str | None = None) -> str:  # type: ignore[override]
        return ""


def test_a_template_renders_with_each_call_s_own_values() -> None:
    template = "{account_name}: {{literal}} {missing} {a}}"
    assert render(template, {"account_name": "Store 1", "a": "x"}) == "Store 1: {literal} n/a x}"
    assert render(template, {"account_name": "Store 2"}) == "Store 2: {literal} n/a n/a}"


def reference_densify(days: Mapping[date, float]) -> tuple[date, bytes]:
    """Densifying one day at a time: the start, and the values as raw doubles (so -0.0 and NaN count)."""
    first = min(days)
    values = array("d", bytes(8 * ((max(days) - first).days + 1)))
    for d, v in days.items():
        values[(d - first).days] += float(v)
    return first, values.tobytes()


day_values = st.one_of(
    st.floats(allow_infinity=True, allow_nan=True), st.integers(-(10**6), 10**6), st.just(-0.0)
)


@settings(max_examples=300, deadline=None)
@given(
    start_days=st.integers(0, 400),
    values=st.lists(day_values, min_size=1, max_size=40),
    shape=st.sampled_from(["consecutive", "shuffled", "gaps"]),
    seed=st.randoms(use_true_random=False),
)
def test_densifying_a_mapping_matches_day_by_day(
    start_days: int, values: list[float], shape: str, seed: random.Random
) -> None:
    start = FIRST_DAY + timedelta(days=start_days)
    days = [start + timedelta(days=i) for i in range(len(values))]
    if shape == "gaps":
        days = [start + timedelta(days=3 * i) for i in range(len(values))]
    pairs = list(zip(days, values, strict=True))
    if shape == "shuffled":
        seed.shuffle(pairs)
    mapping = dict(pairs)
    s = DaySeries.from_mapping(mapping)
    first, raw = reference_densify(mapping)
    assert s.start == first
    assert array("d", s.dense).tobytes() == raw
