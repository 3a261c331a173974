"""Specs v2: declared fields (paths, lists, units, time formats, value maps, computed) and their errors."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.base import SourceError
from connectors.fields import FieldSpec, compile_fields, format_time, read_fields, read_time, read_value
from connectors.rest import load_spec
from connectors.values import Invalid
from jobs.field_expressions import install

install()  # computed fields are written in the mapping language, which jobs supplies

LA = ZoneInfo("America/Los_Angeles")


def read(
    item: dict[str, object], **fields: dict[str, object]
) -> tuple[dict[str, object], dict[str, list[str]]]:
    specs = {name: FieldSpec.model_validate(spec) for name, spec in fields.items()}
    assert compile_fields(specs) == []
    unmapped: dict[str, list[str]] = {}
    return read_fields(item, specs, LA, unmapped), unmapped


def test_nested_paths_cents_in_strings_and_epoch_milliseconds() -> None:
    item = {
        "ts": {"soldMs": 1781700000000},
        "amounts": {"netCents": "1250"},
        "store": {"ref": {"id": "NV-1"}},
    }
    out, _ = read(
        item,
        sold={"path": "ts.soldMs", "type": "time", "format": "epoch_ms"},
        net={"path": "amounts.netCents", "type": "number", "convert": "cents_to_dollars"},
        store={"path": "store.ref.id", "type": "text"},
    )
    assert out == {"sold": datetime(2026, 6, 17, 12, 40, tzinfo=UTC), "net": 12.5, "store": "NV-1"}


@pytest.mark.parametrize(
    ("fmt", "raw", "expected"),
    [
        ("iso", "2026-06-17T06:20:00-07:00", datetime(2026, 6, 17, 13, 20, tzinfo=UTC)),
        ("iso", "2026-06-17T06:20:00", datetime(2026, 6, 17, 13, 20, tzinfo=UTC)),  # naive: store zone
        ("epoch_s", 1781702400, datetime(2026, 6, 17, 13, 20, tzinfo=UTC)),
        ("epoch_s", "1781702400", datetime(2026, 6, 17, 13, 20, tzinfo=UTC)),
        ("epoch_ms", 1781702400500, datetime(2026, 6, 17, 13, 20, 0, 500000, tzinfo=UTC)),
        ("%m/%d/%Y %I:%M %p", "06/17/2026 06:20 AM", datetime(2026, 6, 17, 13, 20, tzinfo=UTC)),
    ],
)
def test_time_formats_read_naive_times_in_the_store_zone(fmt: str, raw: object, expected: datetime) -> None:
    assert read_time(raw, fmt, LA, what="t") == expected


def test_a_naive_time_declared_utc_is_read_in_utc() -> None:
    out, _ = read({"t": "2026-06-17 06:20"}, t={"type": "time", "format": "%Y-%m-%d %H:%M", "zone": "utc"})
    assert out["t"] == datetime(2026, 6, 17, 6, 20, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fmt", "raw", "reason"),
    [
        ("iso", 1790744400000, "expected an ISO 8601 time"),
        ("epoch_ms", "soon", "expected a number"),
        ("epoch_ms", -5, "must be ≥ 0"),
        ("epoch_s", 1790744400000, "beyond year 9999"),
        ("%Y-%m-%d", "17/06/2026", "does not match"),
    ],
)
def test_bad_times_are_invalid_with_the_reason(fmt: str, raw: object, reason: str) -> None:
    with pytest.raises(Invalid, match=reason):
        read_time(raw, fmt, LA, what="t")


def test_unit_conversions() -> None:
    out, _ = read(
        {"g": 28.349523125, "oz": "1", "mg": 2500, "x": "3"},
        g={"type": "number", "convert": "grams_to_ounces"},
        oz={"type": "number", "convert": "ounces_to_grams"},
        mg={"type": "number", "convert": "milligrams_to_grams"},
        x={"type": "number", "scale": 0.5},
    )
    assert out == {"g": pytest.approx(1.0), "oz": pytest.approx(28.349523125), "mg": 2.5, "x": 1.5}


def test_value_maps_match_case_blind_and_report_what_they_lack() -> None:
    spec = {"map": {"BEVERAGE": "beverages", "Pre-Roll": "pre_rolls"}, "unmapped": "other"}
    out, unmapped = read({"a": "beverage", "b": "pre roll", "c": "KIEF"}, a=spec, b=spec, c=spec)
    assert out == {"a": "beverages", "b": "pre_rolls", "c": "other"}
    assert unmapped == {"c": ["KIEF"]}
    strict = {"map": {"BEVERAGE": "beverages"}}
    with pytest.raises(Invalid, match=r"'KIEF' is not in the map; add it under fields.c.map"):
        read({"c": "KIEF"}, c=strict)


def test_lists_read_each_element_and_name_the_bad_one() -> None:
    each = {"product_id": {"path": "sku", "type": "text", "required": True}, "qty": {"type": "number"}}
    out, _ = read({"lines": [{"sku": "a", "qty": "2"}, {"sku": "b"}]}, lines={"type": "list", "each": each})
    assert out["lines"] == [{"product_id": "a", "qty": 2.0}, {"product_id": "b", "qty": None}]
    with pytest.raises(Invalid, match=r"lines\[1\]: expected an object"):
        read({"lines": [{"sku": "a"}, 7]}, lines={"type": "list", "each": each})
    with pytest.raises(Invalid, match=r"lines\[0\].product_id: required"):
        read({"lines": [{"qty": 1}]}, lines={"type": "list", "each": each})


def test_computed_fields_use_the_safe_expression_language() -> None:
    out, _ = read(
        {"sub": "10.5", "disc": 1.5, "status": "sold"},
        sub={"type": "number"},
        disc={"type": "number"},
        status={"type": "text"},
        net={"expr": "sub - coalesce(disc, 0)", "type": "number"},
        done={"expr": 'status == "sold"', "type": "bool"},
    )
    assert out["net"] == 9.0 and out["done"] is True


def test_computed_field_errors_are_reported_with_their_path() -> None:
    specs = {
        "a": FieldSpec(type="number"),
        "b": FieldSpec(expr="a + nope"),
        "c": FieldSpec(expr='total("revenue", 7)'),
        "d": FieldSpec(expr="__import__('os')"),
    }
    problems = compile_fields(specs)
    assert any(p.startswith('fields.b.expr: unknown name "nope"') for p in problems)
    assert any(p.startswith("fields.c.expr: total read(s) an account's metrics") for p in problems)
    assert any(p.startswith("fields.d.expr:") for p in problems)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "time", "format": "millis"}, "not a time format"),
        ({"type": "text", "convert": "cents_to_dollars"}, 'set type = "number"'),
        ({"type": "number", "scale": 0}, "scale must be a finite number other than 0"),
        ({"unmapped": "other"}, "declare map too"),
        ({"each": {"a": {}}}, 'set type = "list"'),
        ({"type": "number", "convert": "cents_to_euros"}, "cents_to_dollars"),
    ],
)
def test_field_spec_errors_say_the_fix(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FieldSpec.model_validate(spec)


def test_since_rendered_in_the_api_format() -> None:
    moment = datetime(2026, 6, 17, 13, 20, 5, tzinfo=UTC)
    assert format_time(moment, "iso", LA) == "2026-06-17T13:20:05Z"
    assert format_time(moment, "date", LA) == "2026-06-17"
    assert format_time(moment, "epoch_s", LA) == "1781702405"
    assert format_time(moment, "epoch_ms", LA) == "1781702405000"
    assert format_time(moment, "%m/%d/%Y %H:%M", LA) == "06/17/2026 06:20"


def test_a_bad_spec_names_the_file_the_key_path_and_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "acme.toml"
    bad.write_text(
        """
[[streams]]
name = "sales"
role = "pos_transactions"
path = "/sales"
key = "id"
time = "sold"
since_format = "millis"
[streams.fields]
sold = { type = "number" }
revenue = { type = "number", convert = "cents" }
channel = { map = { WEB = "web" } }
"""
    )
    with pytest.raises(SourceError) as caught:
        load_spec(str(bad))
    text = str(caught.value)
    assert text.startswith(f'{bad}: stream "sales" → fields.revenue.convert:')
    assert "cents_to_dollars" in text


def test_role_and_stream_problems_are_listed_together(tmp_path: Path) -> None:
    bad = tmp_path / "acme.toml"
    bad.write_text(
        """
[[streams]]
name = "sales"
role = "pos_transactions"
path = "/sales"
key = "id"
time = "sold"
since_format = "millis"
[streams.fields]
sold = { type = "number" }
channel = { map = { WEB = "web" } }
items = { type = "list", each = { product_id = {}, category = { map = { BEV = "drinks" } } } }
"""
    )
    with pytest.raises(SourceError) as caught:
        load_spec(str(bad))
    text = str(caught.value)
    for expected in (
        "since_format: 'millis' is not a format",
        "time: field 'sold' is of type 'number'; declare type = \"time\"",
        "name: a pos_transactions stream is named 'transactions'",
        "fields: a pos_transactions stream needs fields revenue; declare them",
        "missing: quantity, amount",
        "fields.items.each.category.map: 'drinks' not a category",
        'fields.channel: map the vendor\'s values onto "online" or "in_store" (not \'web\')',
    ):
        assert expected in text, (expected, text)


def test_shipped_specs_load() -> None:
    for name in ("flowhub", "blaze", "billing", "support", "nps"):
        assert load_spec(name).streams


# Every transform a field can declare; the property feeds each arbitrary JSON.
TRANSFORMS = [
    FieldSpec(type="number"),
    FieldSpec(type="number", convert="cents_to_dollars", min=0),
    FieldSpec(type="number", convert="grams_to_ounces"),
    FieldSpec(type="number", scale=1e-300),
    FieldSpec(type="time"),
    FieldSpec(type="time", format="epoch_s"),
    FieldSpec(type="time", format="epoch_ms", zone="utc"),
    FieldSpec(type="time", format="%m/%d/%Y %H:%M"),
    FieldSpec(type="text"),
    FieldSpec(type="bool"),
    FieldSpec(map={"BEV": "beverages"}),
    FieldSpec(map={"BEV": "beverages"}, unmapped="other"),
    FieldSpec(type="list", each={"q": FieldSpec(type="number", convert="ounces_to_grams", required=True)}),
    FieldSpec(type="number", required=True),
]
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=24)
    | st.sampled_from(["1781700000000", "06/17/2026 06:20", "2026-06-17T06:20:00Z", "BEV", "1e309", "-0"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.sampled_from(["q", "x"]), children),
    max_leaves=8,
)


def _storable(value: Any) -> None:
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, datetime):
        assert value.tzinfo is not None
    elif isinstance(value, list):
        for v in value:
            _storable(v)
    elif isinstance(value, dict):
        for v in value.values():
            _storable(v)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(TRANSFORMS))), json_values)
def test_every_transform_accepts_a_storable_value_or_gives_a_reason(index: int, raw: Any) -> None:
    spec = TRANSFORMS[index]
    unmapped: dict[str, list[str]] = {}
    try:
        value = read_value("f", raw, spec, LA, unmapped)
    except Invalid as exc:
        assert str(exc).startswith("f"), exc
        return
    _storable(value)
    if spec.map and value is not None:
        assert value in ("beverages", "other")


def test_quoted_numbers_and_booleans_in_a_spec_are_reported_not_coerced(tmp_path: Path) -> None:
    """`size = "100"` reads as text in TOML: the spec says so with the fix instead of guessing."""
    bad = tmp_path / "acme.toml"
    bad.write_text(
        """
[pagination]
kind = "page_number"
size = "100"

[[streams]]
name = "sales"
path = "/sales"
key = "id"
time = "sold"
ordered = "true"
[streams.fields]
sold = { type = "time" }
amount = { type = "number", scale = "0.01", min = 0 }
"""
    )
    with pytest.raises(SourceError) as caught:
        load_spec(str(bad))
    text = str(caught.value)
    for expected in (
        f'{bad}: pagination.size: expected a whole number, got "100" — write a whole number, without quotes',
        'stream "sales" → fields.amount.scale: expected a number, got "0.01"',
        'stream "sales" → ordered: expected true or false, got "true"',
    ):
        assert expected in text, (expected, text)
    # Written as TOML numbers and booleans, the same spec loads.
    good = bad.read_text().replace('"100"', "100").replace('"true"', "true").replace('"0.01"', "0.01")
    bad.write_text(good)
    spec = load_spec(str(bad))
    assert spec.pagination.size == 100 and spec.streams[0].ordered
    assert spec.streams[0].fields["amount"].scale == 0.01
