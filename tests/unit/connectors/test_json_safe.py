"""`json_safe` stores every record's attrs: its fast path for plain dicts and lists must give what the
general rules give, at every depth, for whatever a connector or a payload holds."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.values import JSON_DEPTH, json_safe


def reference(value: object, depth: int = 0) -> Any:
    """The rules, one value at a time."""
    if depth > JSON_DEPTH:
        return repr(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): reference(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [reference(v, depth + 1) for v in value]
    return repr(value)


class Label(str):
    """A str subclass, as an enum's value can be."""


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=5),
    st.builds(Label, st.text(max_size=3)),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(),
    st.datetimes(),
    st.just(object),
)
KEYS = st.one_of(
    st.text(max_size=4), st.integers(), st.booleans(), st.none(), st.builds(Label, st.text(max_size=3))
)
TREES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner, inner), st.dictionaries(KEYS, inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(TREES)
def test_any_value_is_made_safe_as_the_rules_say(value: object) -> None:
    assert repr(json_safe(value)) == repr(reference(value))


def test_values_past_the_depth_limit_are_stored_as_their_repr() -> None:
    for levels in range(JSON_DEPTH - 3, JSON_DEPTH + 4):
        nested: Any = 1.5
        for _ in range(levels):
            nested = {"a": [nested, 2, "x", None]}
        assert json_safe(nested) == reference(nested)
        flat: Any = "leaf"
        for _ in range(levels):
            flat = [flat]
        assert json_safe(flat) == reference(flat)


def test_plain_attrs_come_back_equal_and_odd_ones_converted() -> None:
    attrs = {"sku": "A-1", "qty": 2, "price": 12.5, "lines": [{"sku": "x", "on_sale": True}], "note": None}
    assert json_safe(attrs) == attrs
    odd = {1: Decimal("2.5"), "when": date(2026, 5, 1), "bad": float("nan"), "t": (1, "a")}
    assert json_safe(odd) == {"1": 2.5, "when": "2026-05-01", "bad": "nan", "t": [1, "a"]}
