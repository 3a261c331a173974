"""Properties of the sales checks: any numbers, any order payload; no crash, and the verdicts add up."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors import platform
from connectors.base import Record, Rejected, StoreRef
from connectors.source import parse_safely
from mappings.purchase_limits import EPSILON, GRAMS_PER, LimitCheck, Order, check_orders, measure
from mappings.reconciliation import ReconciliationRule, allowed_gap, reconcile
from mappings.states import load_states

from .builders import MAPPINGS

STATES = load_states(MAPPINGS / "states")
TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 14, tzinfo=UTC)
LIMITS = LimitCheck()
STORE = StoreRef("IL-004", "Prairie Leaf", "IL", "America/Chicago")

any_number = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**12), 10**12)
amounts = st.floats(min_value=0, max_value=1e7, allow_nan=False)
rules = st.builds(
    ReconciliationRule,
    days=st.integers(1, 30),
    settle_days=st.integers(1, 3),
    tolerance_percent=st.floats(0, 50),
    tolerance_amount=st.floats(0, 500),
)


def series(values: list[Any]) -> dict[date, Any]:
    return {TODAY - timedelta(days=len(values) - i): v for i, v in enumerate(values)}


@settings(max_examples=300, deadline=None)
@given(st.lists(any_number, max_size=40), st.lists(any_number, max_size=40), rules)
def test_reconcile_never_crashes_and_each_day_is_checked_or_set_aside(
    pos: list[Any], metrc: list[Any], rule: ReconciliationRule
) -> None:
    p, m = series(pos), series(metrc)
    result = reconcile(p, m, TODAY, rule)
    assert not set(result.checked) & set(result.unreadable)
    assert len(result.checked) + len(result.unreadable) <= rule.days
    assert all(d <= TODAY - timedelta(days=rule.settle_days) for d in result.checked)
    for d in result.unreadable:
        a, b = p.get(d, 0.0), m.get(d, 0.0)
        assert not (math.isfinite(a) and math.isfinite(b) and a >= 0 and b >= 0)
    gap_days = {g.day for g in result.gaps}
    for d in result.checked:
        a, b = p.get(d, 0.0), m.get(d, 0.0)
        assert (d in gap_days) == (abs(a - b) > allowed_gap(a, b, rule))


@settings(max_examples=200, deadline=None)
@given(st.lists(amounts, min_size=3, max_size=30), st.floats(0, 1), rules)
def test_metrc_within_the_percent_tolerance_never_fires_and_swapping_sides_finds_the_same_days(
    pos: list[float], share: float, rule: ReconciliationRule
) -> None:
    p = series(pos)
    within = {d: v * (1 - share * rule.tolerance_percent / 100 * 0.999) for d, v in p.items()}
    assert reconcile(p, within, TODAY, rule).gaps == ()
    other = {d: v * share for d, v in p.items()}
    forward = [g.day for g in reconcile(p, other, TODAY, rule).gaps]
    assert forward == [g.day for g in reconcile(other, p, TODAY, rule).gaps]


json_values = st.recursive(
    st.none() | st.booleans() | any_number | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
line_payloads = st.fixed_dictionaries(
    {"category": st.sampled_from(["flower", "concentrates", "vapes", "edibles", "BEVERAGE", "", None])},
    optional={"quantity": json_values, "weight_grams": json_values, "thc_mg": json_values},
)
order_payloads = st.fixed_dictionaries(
    {"order_id": st.text(min_size=1, max_size=8), "status": st.sampled_from(["completed", "canceled"])},
    optional={
        "items": st.lists(line_payloads, max_size=5) | json_values,
        "placed_at": st.just((NOW - timedelta(hours=5)).isoformat()) | json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(order_payloads, st.sampled_from(sorted(STATES)))
def test_any_stored_order_is_measured_without_crashing(payload: dict[str, Any], state: str) -> None:
    o = Order.of(payload)
    for line in o.lines:
        assert line.quantity >= 0
        assert line.grams is None or (math.isfinite(line.grams) and line.grams >= 0)
    found = check_orders(STATES[state], [o], NOW, LIMITS)
    assert all(v.item_id == "online-orders" and o.id in v.finding for v in found)


limit_rules = [
    r for f in STATES.values() for r in f.rules if r.kind == "purchase_limit" and r.unit in ("g", "oz", "mg")
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(limit_rules), st.integers(1, 40), st.floats(0.01, 2.0))
def test_at_the_limit_never_breaks_and_just_above_always_does(rule: Any, units: int, over: float) -> None:
    assert rule.amount is not None
    category = (rule.categories or LIMITS.counts[rule.item])[0]
    per_unit = rule.amount * (1.0 if rule.unit == "mg" else GRAMS_PER[rule.unit]) / units
    key = "thc_mg" if rule.unit == "mg" else "weight_grams"
    at = Order.of({"order_id": "o", "items": [{"category": category, "quantity": units, key: per_unit}]})
    m = measure(at, rule, [category])
    assert m is not None and m.amount <= rule.amount * (1 + EPSILON)
    more = Order.of({"order_id": "o", "items": [{"category": category, "quantity": units, key: per_unit},
                                                 {"category": category, "quantity": 1, key: per_unit * over}]})  # fmt: skip
    m2 = measure(more, rule, [category])
    assert m2 is not None and m2.amount > rule.amount * (1 + EPSILON)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.fixed_dictionaries({"product_id": st.just("p1"), "category": st.just("flower"),
                                       "quantity": st.just(1), "price": st.just(10)},
                                      optional={"weight_grams": json_values, "thc_mg": json_values}),
                min_size=1, max_size=3))  # fmt: skip
def test_a_malformed_weight_or_thc_quarantines_the_order_with_its_reason(items: list[dict[str, Any]]) -> None:
    raw = {"id": "ord-1", "placed_at": "2026-11-22T10:00:00Z", "updated_at": "2026-11-22T10:05:00Z",
           "status": "completed", "fulfillment": "pickup", "total": 10, "items": items}  # fmt: skip
    result = parse_safely(
        "orders", STORE.store_id, raw, platform.parse_order, STORE, ZoneInfo(STORE.timezone)
    )
    assert isinstance(result, Record | Rejected)
    if isinstance(result, Rejected):
        assert "weight_grams" in result.reason or "thc_mg" in result.reason
        return
    for line in result.attrs["items"]:
        for name in ("weight_grams", "thc_mg"):
            v = line[name]
            assert v is None or (math.isfinite(v) and v >= 0)
