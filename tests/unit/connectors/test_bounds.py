"""Bounds at the connector boundary: lengths per field kind, Unicode, magnitudes, ids, times, sizes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import responses

from connectors.base import Fact, Record, SourceError, StoreRef
from connectors.bounds import (
    Limits,
    PlausibleError,
    bounded_payload,
    field_kind,
    load_plausible,
    record_problem,
    store_problem,
)
from connectors.catalog import SourceConfigError, parse_sources
from connectors.http import HttpClient, NoAuth
from connectors.paging import PaginationConfig, make_paginator
from connectors.values import Invalid, ident
from tests.unit.connectors.helpers import FakeClock

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
LIMITS = Limits()
PLAUSIBLE = load_plausible()


def rec(facts: tuple[Fact, ...] = (), attrs: dict[str, object] | None = None, **kw: object) -> Record:
    fields: dict[str, object] = {
        "stream": "transactions",
        "key": "NV-001:1",
        "store_id": "NV-001",
        "occurred_at": NOW - timedelta(hours=1),
        "cursor": "2026-11-20T17:00:00Z",
        "facts": facts,
        "attrs": attrs or {},
    }
    fields.update(kw)
    return Record(**fields)  # type: ignore[arg-type]


def problem(record: Record, limits: Limits = LIMITS) -> tuple[str, bool] | None:
    found = record_problem(record, limits, PLAUSIBLE, NOW)
    return None if found is None else (found.reason, found.implausible)


def test_a_clean_record_passes() -> None:
    attrs = {"transaction_id": "1", "items": [{"product_id": "p", "amount": 12.5, "category": "flower"}]}
    assert problem(rec((Fact("orders", 1.0), Fact("revenue", 12.5)), attrs)) is None


def test_lengths_are_capped_per_field_kind() -> None:
    assert field_kind("productId") == field_kind("store_id") == field_kind("id") == "id"
    assert field_kind("brand_name") == field_kind("subject") == field_kind("status") == "name"
    assert field_kind("description") == "text"
    limits = Limits(id_chars=16, name_chars=32, text_chars=64)
    assert problem(rec(attrs={"product_id": "x" * 17}), limits) == (
        "attrs.product_id: 17 characters, over the limit of 16",
        False,
    )
    assert problem(rec(attrs={"subject": "x" * 33}), limits) is not None
    assert problem(rec(attrs={"subject": "x" * 32, "notes": "y" * 64}), limits) is None
    reason = problem(rec(attrs={"notes": "y" * 10_000_000}))
    assert reason is not None and "10,000,000 characters, over the limit of 32,768" in reason[0]
    assert problem(rec(store_id="S" * 300)) == ("store_id: 300 characters, over the limit of 256", False)
    assert problem(rec(key="k" * 600)) is not None


def test_invalid_unicode_and_nul_are_refused_wherever_they_are() -> None:
    reason = problem(rec(attrs={"items": [{"name": "Blue \ud800 Dream"}]}))
    assert reason == ("attrs.items[0].name: invalid Unicode: a lone surrogate U+D800 at position 5", False)
    assert problem(rec(key="NV-001:\x00")) == ("key: invalid Unicode: a NUL character at position 7", False)
    assert problem(rec(attrs={"bad\udfffkey": 1})) is not None
    assert problem(rec(facts=(Fact("revenue", 1.0, "category=\ud83d"),))) is not None


def test_magnitudes_are_checked_per_canonical_metric_and_on_attrs() -> None:
    assert problem(rec((Fact("sessions", 1e40),))) == (
        "fact sessions: 1e+40 is implausible (outside [0, 1e+07])",
        True,
    )
    assert problem(rec((Fact("revenue", -250.0),))) is None  # a return
    assert problem(rec((Fact("invoiced", 1e308),))) is not None
    assert problem(rec((Fact("custom_metric", 5e8),))) is None  # the default range
    assert problem(rec((Fact("custom_metric", 5e9),))) is not None
    reason = problem(rec(attrs={"amount": 1e308}))
    assert reason == ("attrs.amount: 1e+308 is implausible (beyond ±1e+12)", True)
    assert problem(rec(attrs={"amount": float("nan")})) == ("attrs.amount: not a finite number (nan)", False)
    assert problem(rec((Fact("revenue", float("inf")),))) == (
        "fact revenue: not a finite number (inf)",
        False,
    )


def test_integer_ids_must_be_in_range() -> None:
    assert ident(2**63 - 1, what="Id") == str(2**63 - 1)
    for bad in (10**40, -1, 2**63):
        with pytest.raises(Invalid, match="out of range"):
            ident(bad, what="Id")
    with pytest.raises(Invalid, match="over 4,096"):
        ident("x" * 5000, what="Id")
    assert problem(rec(attrs={"pos_id": 10**40})) == (f"attrs.pos_id: id {10**40} out of range", True)


def test_times_far_from_now_are_implausible_and_cannot_poison_a_cursor() -> None:
    found = problem(rec(cursor="9999-12-31T00:00:00Z"))
    assert found is not None and found[0].startswith("cursor: 9999-12-31") and found[1]
    assert problem(rec(occurred_at=datetime(1970, 1, 1, tzinfo=UTC))) is not None
    assert problem(rec(occurred_at=NOW + timedelta(days=1))) is None
    assert problem(rec(cursor="ledger-000123")) is None  # not a time: left as it is


def test_nesting_and_total_size_are_bounded() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(20):
        node["x"] = {}
        node = node["x"]  # type: ignore[assignment]
    found = problem(rec(attrs={"tree": deep}))
    assert found is not None and "nested deeper than 8 levels" in found[0]
    many = {"items": [{"name": "n" * 900} for _ in range(400)]}
    found = problem(rec(attrs=many))
    assert found is not None and "over 262,144 bytes" in found[0]


def test_a_listed_store_is_checked_before_it_enters_the_directory() -> None:
    assert (
        store_problem(StoreRef("NV-001", "Green Leaf", "NV", "America/Los_Angeles"), LIMITS, PLAUSIBLE) == ""
    )
    huge = store_problem(StoreRef("S" * 10_000_000), LIMITS, PLAUSIBLE)
    assert huge == "store_id: 10,000,000 characters, over the limit of 256"
    assert "spaces or control" in store_problem(StoreRef("NV 001"), LIMITS, PLAUSIBLE)
    assert "invalid Unicode" in store_problem(StoreRef("NV-1", "\ud800"), LIMITS, PLAUSIBLE)


def test_a_quarantined_payload_is_bounded_and_storable() -> None:
    payload = {"id": "x" * 10_000_000, "name": "a\ud800b", "items": list(range(1_000_000))}
    out = bounded_payload(payload, 8192)
    text = json.dumps(out)
    assert len(text) < 8192 * 2
    assert out["name"] == "a\ufffdb"
    assert out["id"].endswith("more characters)")
    text.encode("utf-8")  # no lone surrogate survives
    assert bounded_payload({"ok": 1}, 8192) == {"ok": 1}


def test_the_plausible_ranges_file_is_validated_with_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text("[metrics]\norders = { min = 10, max = 1 }\n")
    with pytest.raises(PlausibleError, match=r"p.toml: metrics.orders: min 10 is above max 1"):
        load_plausible(str(bad))
    bad.write_text("[metrics]\norders = { min = 0, max = nan }\n")
    with pytest.raises(PlausibleError, match=r"metrics.orders.max: expected a finite number"):
        load_plausible(str(bad))
    bad.write_text("[metric]\n")
    with pytest.raises(PlausibleError, match="unknown table"):
        load_plausible(str(bad))
    with pytest.raises(PlausibleError, match="not found"):
        load_plausible(str(tmp_path / "missing.toml"))
    assert PLAUSIBLE.range_of("orders") == (0.0, 100_000.0)


def test_limits_are_configured_per_source_and_checked_with_file_and_key(tmp_path: Path) -> None:
    entry = {"name": "pos", "kind": "dutchie_pos", "base_url": "https://pos.example.com"}
    (cfg,) = parse_sources([{**entry, "limits": {"id_chars": 64}}], "config.toml", check_secrets=False)
    assert cfg.limits.id_chars == 64 and cfg.limits.text_chars == 32_768
    with pytest.raises(SourceConfigError) as bad:
        parse_sources([{**entry, "limits": {"id_chars": 0, "huge": 1}}], "config.toml", check_secrets=False)
    assert any('source "pos" → limits.id_chars' in p for p in bad.value.problems)
    assert any('source "pos" → limits: unknown key "huge"' in p for p in bad.value.problems)
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(SourceConfigError, match="limits.plausible_file: .*nope.toml: file not found"):
        parse_sources([{**entry, "limits": {"plausible_file": missing}}], "config.toml", check_secrets=False)


BASE = "https://api.example.com"


def client(limits: Limits) -> HttpClient:
    return HttpClient(
        source="src",
        base_url=BASE,
        session=requests.Session(),
        auth=NoAuth(),
        runtime=FakeClock().runtime(),
        limits=limits,
    )


@responses.activate
def test_a_response_over_the_cap_is_refused_while_streaming() -> None:
    body = json.dumps({"data": ["x" * 1000] * 50}).encode()
    responses.get(f"{BASE}/big", body=body, content_type="application/json")
    with pytest.raises(SourceError, match="passed the limit of 4,096 bytes while streaming"):
        client(Limits(response_bytes=4096)).get_json("/big")
    responses.get(f"{BASE}/declared", body=body, headers={"Content-Length": str(len(body))})
    with pytest.raises(SourceError, match=f"declares {len(body):,} bytes"):
        client(Limits(response_bytes=4096)).get_json("/declared")
    body_ok, _ = client(Limits(response_bytes=len(body))).get_json("/big")
    assert len(body_ok["data"]) == 50
    assert len(responses.calls) == 3  # a refused body is not retried


@responses.activate
def test_a_page_over_the_item_cap_is_refused() -> None:
    responses.get(f"{BASE}/list", json={"data": list(range(101))})
    pages = client(Limits(page_items=100)).pages("/list", {}, make_paginator(PaginationConfig()), "data")
    with pytest.raises(SourceError, match="a page of 101 items, over the limit of 100"):
        next(iter(pages))
