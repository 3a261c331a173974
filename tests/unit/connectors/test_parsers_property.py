"""Property: whatever JSON a source returns, parsers never raise; what they accept is storable, the rest is quarantined."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import csv_folder, dutchie, metrc, platform, sql, treez
from connectors.base import Record, Rejected, StoreRef
from connectors.rest import load_spec, parse_item, parse_store_entry
from connectors.source import parse_safely
from connectors.values import ISO_FORMAT
from jobs.field_expressions import install
from tests.unit.connectors.helpers import FIXTURES, NOW, fixture

install()  # computed fields are written in the mapping language, which jobs supplies

STORE = StoreRef("NV-001", "Desert Bloom", "NV", "America/Los_Angeles")
TZ = ZoneInfo("America/Los_Angeles")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def near(sample: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A real payload with one field replaced by arbitrary JSON or removed: the likely failures."""
    keys = sorted(sample)

    def mutate(key: str, value: Any, drop: bool) -> dict[str, Any]:
        out = dict(sample)
        if drop:
            out.pop(key, None)
        else:
            out[key] = value
        return out

    return st.builds(mutate, st.sampled_from(keys), json_values, st.booleans())


def payloads(sample: dict[str, Any]) -> st.SearchStrategy[Any]:
    return json_values | near(sample) | st.just(sample)


def assert_storable(result: Record | Rejected) -> None:
    assert isinstance(result, Record | Rejected)
    if isinstance(result, Rejected):
        assert result.reason
        return
    assert result.key and result.store_id
    assert result.occurred_at.tzinfo is not None
    if result.cursor:
        assert result.cursor == result.cursor.strip() and len(result.cursor) == len(NOW.strftime(ISO_FORMAT))
    for fact in result.facts:
        assert isinstance(fact.value, float) and math.isfinite(fact.value), fact
        assert fact.metric
    json.dumps(dict(result.attrs), allow_nan=False)  # attrs go into a JSON column as they are


PARSERS: list[tuple[str, Callable[[Any], Any], dict[str, Any]]] = [
    ("dutchie.product", lambda r: dutchie.parse_product(r, STORE, TZ, NOW), fixture("dutchie_products")[0]),
    (
        "dutchie.transaction",
        lambda r: dutchie.parse_transaction(r, STORE, TZ, {"9": "flower"}),
        fixture("dutchie_transactions")[1],
    ),
    (
        "dutchie.inventory",
        lambda r: dutchie.parse_inventory(r, STORE, TZ, NOW),
        fixture("dutchie_inventory")[0],
    ),
    (
        "treez.ticket",
        lambda r: treez.parse_ticket(r, STORE, TZ),
        fixture("treez_tickets")["data"]["ticketList"][1],
    ),
    (
        "treez.product",
        lambda r: treez.parse_product(r, STORE, TZ, NOW),
        fixture("treez_products")["data"]["product_list"][0],
    ),
    ("metrc.receipt", lambda r: metrc.parse_receipt(r, STORE, TZ), fixture("metrc_receipts")[0]),
    (
        "platform.analytics",
        lambda r: platform.parse_analytics(r, STORE, TZ),
        fixture("platform_analytics")["data"][0],
    ),
    ("platform.usage", lambda r: platform.parse_usage(r, STORE, TZ), fixture("platform_usage")["data"][0]),
    ("platform.order", lambda r: platform.parse_order(r, STORE, TZ), fixture("platform_orders")["data"][0]),
    (
        "platform.menu",
        lambda r: platform.parse_menu_item(r, STORE, TZ, NOW),
        fixture("platform_menu_page1")["data"][0],
    ),
    (
        "platform.promotion",
        lambda r: platform.parse_promotion(r, STORE, TZ, NOW),
        fixture("platform_promotions")["data"][0],
    ),
    ("platform.msrp", lambda r: platform.parse_msrp(r, STORE, NOW), fixture("platform_msrp_kanna")),
]


def _check_parser(name: str, parse: Callable[[Any], Any], payload: Any) -> None:
    result = parse_safely(name, STORE.store_id, payload, parse)
    assert_storable(result)


settings_ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings_
@given(st.data())
def test_vendor_parsers_never_raise_and_quarantine_what_is_invalid(data: st.DataObject) -> None:
    name, parse, sample = data.draw(st.sampled_from(PARSERS))
    _check_parser(name, parse, data.draw(payloads(sample)))


@settings_
@given(payloads(fixture("platform_stores")["data"][0]))
def test_directory_parser(payload: Any) -> None:
    result = parse_safely("stores", "", payload, platform.parse_store)
    assert isinstance(result, StoreRef | Rejected)
    if isinstance(result, StoreRef):
        assert result.store_id
        json.dumps(dict(result.attrs), allow_nan=False)


REST = [
    (spec, stream, sample)
    for spec, stream, sample in [
        ("billing", "invoices", fixture("billing_invoices")[0]),
        ("billing", "payments", fixture("billing_payments")[1]),
        ("support", "tickets", fixture("support_tickets")["tickets"][1]),
        ("nps", "responses", fixture("nps_responses")["responses"][0]),
        ("flowhub", "transactions", fixture("flowhub_orders")["orders"][0]),
        ("flowhub", "inventory", fixture("flowhub_inventory")[0]),
        ("blaze", "transactions", fixture("blaze_transactions")["values"][0]),
        ("blaze", "inventory", fixture("blaze_products")["values"][0]),
        (str(FIXTURES / "greenleaf.toml"), "transactions", fixture("greenleaf_sales")["data"]["sales"][0]),
        (str(FIXTURES / "greenleaf.toml"), "inventory", fixture("greenleaf_stock")["items"][0]),
    ]
]


@settings_
@given(st.data())
def test_rest_specs_never_raise(data: st.DataObject) -> None:
    spec_name, stream, sample = data.draw(st.sampled_from(REST))
    spec = next(s for s in load_spec(spec_name).streams if s.name == stream)
    for result in parse_item(spec, data.draw(payloads(sample) | deep_near(sample)), STORE, NOW):
        assert_storable(result)


def deep_near(sample: Any) -> st.SearchStrategy[Any]:
    """A real payload with one value at any depth (a line's price, a nested store key) replaced or removed."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            paths.append((*path, key))
            walk(child, (*path, key))

    walk(sample, ())

    def mutate(path: tuple[Any, ...], value: Any, drop: bool) -> Any:
        out = json.loads(json.dumps(sample))
        node = out
        for key in path[:-1]:
            node = node[key]
        if drop and isinstance(node, dict):
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
        return out

    return st.builds(mutate, st.sampled_from(paths), json_values, st.booleans())


csv_cells = (
    st.none()
    | st.text(max_size=12)
    | st.sampled_from(["NV-001", "2026-11-20", "12", "-3.5", "nan", "inf", "1e309"])
)


@settings_
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["store", "date", "orders", "net_sales", "register", "x"]), csv_cells
        ),
        max_size=5,
    )
)
def test_csv_rows_never_raise(rows: list[dict[str, Any]]) -> None:
    options = csv_folder.CsvOptions.model_validate(
        {
            "folder": "/x",
            "store_column": "store",
            "facts": [{"metric": "orders", "column": "orders"}, {"metric": "revenue", "column": "net_sales"}],
            "attrs": ["register"],
        }
    )
    for result in csv_folder.parse_rows(rows, options, "f.csv"):
        assert_storable(result)


@settings_
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["store_id", "day", "metric", "dimension", "value"]), json_values),
        max_size=5,
    )
)
def test_sql_rows_never_raise(rows: list[dict[str, Any]]) -> None:
    for result in sql.parse_rows(rows, "daily"):
        assert_storable(result)


def test_the_samples_themselves_are_accepted() -> None:
    for name, parse, sample in PARSERS:
        assert isinstance(parse_safely(name, "NV-001", sample, parse), Record), name
    assert NOW.tzinfo is UTC


DIRECTORY_SAMPLE = {
    "externalId": "NV-001",
    "displayName": "Desert Bloom",
    "address": {"region": "NV"},
    "tz": "America/Los_Angeles",
    "compliance": {"license": "RD-1"},
    "pos": {"vendor": "GREENLEAF", "locationRef": "gl-1"},
}


@settings_
@given(payloads(DIRECTORY_SAMPLE) | deep_near(DIRECTORY_SAMPLE))
def test_directory_specs_never_raise(payload: Any) -> None:
    spec = load_spec(str(FIXTURES / "crm_directory.toml")).streams[0]
    result = parse_safely("stores", "", payload, parse_store_entry, spec)
    assert isinstance(result, StoreRef | Rejected)
    if isinstance(result, StoreRef):
        assert result.store_id and len(result.state) in (0, 2)
        json.dumps(dict(result.attrs), allow_nan=False)
