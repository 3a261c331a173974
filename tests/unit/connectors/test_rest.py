"""The declarative REST source with the shipped billing, support and NPS specs."""

from __future__ import annotations

from datetime import datetime

import pytest
import responses
from responses import matchers

from connectors.base import Fact, Record, Rejected, SourceError, StoreRef
from connectors.catalog import build_source
from connectors.rest import RestSource, StreamSpec, load_spec, parse_item, render
from tests.unit.connectors.helpers import FakeClock, config, fixture

NV = StoreRef("NV-001", "Desert Bloom", "NV", "America/Los_Angeles", {"pos_location_id": "1201"})


def source(spec: str, auth: dict[str, str], env: dict[str, str], base: str) -> RestSource:
    cfg = config(name=spec, base_url=base, auth=auth, options={"spec": spec})
    built = build_source(cfg, FakeClock().runtime(env))
    assert isinstance(built, RestSource)
    return built


def facts(records: list[object]) -> dict[tuple[str, str, str], float]:
    out: dict[tuple[str, str, str], float] = {}
    for r in records:
        if isinstance(r, Record):
            for f in r.facts:
                out[(r.key, f.metric, f.dimension)] = f.value
    return out


@responses.activate
def test_billing_invoices_and_payments() -> None:
    base = "https://billing.example.com"
    responses.get(
        f"{base}/v1/invoices",
        json=fixture("billing_invoices")[:1],
        headers={"Link": f'<{base}/v1/invoices?store_id=NV-001&page=2>; rel="next"'},
        match=[matchers.query_param_matcher({"store_id": "NV-001", "updated_since": "2026-11-01T00:00:00Z"})],
    )
    responses.get(
        f"{base}/v1/invoices",
        json=fixture("billing_invoices")[1:],
        match=[matchers.query_param_matcher({"store_id": "NV-001", "page": "2"})],
    )
    responses.get(f"{base}/v1/payments", json=fixture("billing_payments"))
    src = source("billing", {"key_env": "BILLING_KEY"}, {"BILLING_KEY": "bk"}, base)
    conn = src.connector(NV)
    assert conn.streams == ("invoices", "payments")
    invoices = list(conn.iter_records("invoices", "2026-11-01T00:00:00Z"))
    assert responses.calls[0].request.headers["X-Api-Key"] == "bk"
    assert [r.key for r in invoices if isinstance(r, Record)] == ["NV-001:inv-1", "NV-001:inv-2"]
    inv = invoices[0]
    assert isinstance(inv, Record)
    assert inv.facts == (Fact("invoiced", 1200.0),)
    assert inv.occurred_at.date().isoformat() == "2026-11-01"
    assert inv.cursor == "2026-11-01T09:00:00Z"
    assert inv.attrs["due_on"] == "2026-12-01" and inv.attrs["status"] == "open"
    assert isinstance(invoices[1], Record) and invoices[1].facts == ()  # void
    payments = list(conn.iter_records("payments", None))
    assert facts(payments) == {
        ("NV-001:pay-1", "paid", ""): 1200.0,
        ("NV-001:pay-2", "payments_returned", ""): 1.0,
        ("NV-001:pay-3", "payments_failed", ""): 1.0,
    }
    assert payments[1].attrs["return_code"] == "R01"  # type: ignore[union-attr]


@responses.activate
def test_support_tickets_count_closes_on_the_close_day() -> None:
    base = "https://support.example.com"
    responses.get(
        f"{base}/api/tickets",
        json=fixture("support_tickets"),
        match=[
            matchers.query_param_matcher(
                {"store_id": "NV-001", "updated_since": "2026-11-18T00:00:00Z", "offset": "0", "limit": "100"}
            )
        ],
    )
    src = source("support", {"token_env": "TOK"}, {"TOK": "st"}, base)
    out = list(src.connector(NV).iter_records("tickets", "2026-11-18T00:00:00Z"))
    assert responses.calls[0].request.headers["Authorization"] == "Bearer st"
    assert all(isinstance(r, Record) for r in out)
    by_key = {r.key: r for r in out if isinstance(r, Record)}
    assert by_key["NV-001:71"].facts == (Fact("tickets_opened", 1.0), Fact("tickets_high_priority", 1.0))
    assert by_key["NV-001:71#closed_at"].facts == ()  # still open: the close record holds nothing
    assert by_key["NV-001:70"].facts == (Fact("tickets_opened", 1.0),)
    closed = by_key["NV-001:70#closed_at"]
    assert closed.stream == "tickets.closed_at"
    assert closed.facts == (Fact("tickets_closed", 1.0),)
    assert closed.occurred_at == datetime.fromisoformat("2026-11-19T16:00:00+00:00")


@responses.activate
def test_nps_scores_split_into_promoters_and_detractors() -> None:
    base = "https://nps.example.com"
    responses.get(f"{base}/v2/responses", json=fixture("nps_responses"))
    src = source("nps", {"key_env": "NPS"}, {"NPS": "nk"}, base)
    out = list(src.connector(NV).iter_records("responses", None))
    assert responses.calls[0].request.headers["X-Api-Key"] == "nk"
    assert "nk" not in responses.calls[0].request.url  # a key in the URL would be in every logged URL
    assert facts(out) == {
        ("NV-001:r-1", "nps_responses", ""): 1.0,
        ("NV-001:r-1", "nps_promoters", ""): 1.0,
        ("NV-001:r-2", "nps_responses", ""): 1.0,
        ("NV-001:r-2", "nps_detractors", ""): 1.0,
        ("NV-001:r-3", "nps_responses", ""): 1.0,
    }


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"store_id": "NV-001", "score": 5, "responded_at": "2026-11-20T01:00:00Z"}, "id: required"),
        (
            {"id": "r", "store_id": "NV-001", "score": "high", "responded_at": "2026-11-20T01:00:00Z"},
            "score: expected a number, got 'high'",
        ),
        (
            {"id": "r", "store_id": "NV-001", "score": 11, "responded_at": "2026-11-20T01:00:00Z"},
            "score: must be ≤ 10, got 11",
        ),
        (
            {"id": "r", "store_id": "NV-001", "score": 5, "responded_at": "yesterday"},
            "responded_at: not an ISO 8601 time: 'yesterday'",
        ),
        (
            {"id": {"x": 1}, "store_id": "NV-001", "score": 5, "responded_at": "2026-11-20T01:00:00Z"},
            "id: expected an id, got {'x': 1}",
        ),
        ([1, 2], "responses: expected an object, got [1, 2]"),
    ],
)
def test_invalid_items_are_rejected_with_reasons(item: object, reason: str) -> None:
    spec = next(s for s in load_spec("nps").streams if s.name == "responses")
    out = parse_item(spec, item, NV)
    assert out == [Rejected("responses", "NV-001", item, reason)]


def test_negative_invoice_amount_is_rejected() -> None:
    spec = next(s for s in load_spec("billing").streams if s.name == "invoices")
    item = dict(fixture("billing_invoices")[0], amount=-5)
    out = parse_item(spec, item, NV)
    assert isinstance(out[0], Rejected) and out[0].reason == "amount: must be ≥ 0, got -5"


def test_dimension_templates_and_constant_values() -> None:
    spec = StreamSpec.model_validate(
        {
            "name": "orders",
            "path": "/orders",
            "key": "id",
            "time": "at",
            "facts": [
                {"metric": "online_orders", "dimension": "channel={fulfillment}"},
                {"metric": "online_revenue", "field": "total"},
                {"metric": "weird", "value": 2.5, "when": [{"field": "vip", "in": [True]}]},
            ],
        }
    )
    [rec] = parse_item(
        spec, {"id": 1, "at": "2026-11-20", "fulfillment": "Curbside Pickup", "total": "12.5", "vip": 1}, NV
    )
    assert isinstance(rec, Record)
    assert rec.facts == (Fact("online_orders", 1.0, "channel=curbside_pickup"), Fact("online_revenue", 12.5))
    assert (
        rec.occurred_at.isoformat() == "2026-11-20T12:00:00-08:00"
    )  # a bare date counts at noon, store time


@responses.activate
def test_inline_streams_and_scope_all() -> None:
    base = "https://crm.example.com"
    responses.get(
        f"{base}/export", json={"rows": [{"id": 1, "store": "NV-001", "at": "2026-11-20T10:00:00Z", "n": 3}]}
    )
    cfg = config(
        name="crm",
        base_url=base,
        options={
            "scope": "all",
            "streams": [
                {
                    "name": "rows",
                    "path": "/export",
                    "records": "rows",
                    "key": "id",
                    "store": "store",
                    "time": "at",
                    "facts": [{"metric": "logins", "field": "n"}],
                }
            ],
        },
    )
    src = build_source(cfg, FakeClock().runtime())
    [store] = src.stores([NV])
    assert isinstance(store, StoreRef) and store.store_id == "*"
    [rec] = list(src.connector(store).iter_records("rows", None))
    assert isinstance(rec, Record) and rec.store_id == "NV-001" and rec.facts == (Fact("logins", 3.0),)


@responses.activate
def test_a_shipped_per_store_spec_pulled_for_all_stores_drops_the_store_filter() -> None:
    base = "https://billing.example.com"
    responses.get(
        f"{base}/v1/invoices",
        match=[matchers.query_param_matcher({"updated_since": "2026-11-13T00:00:00Z"})],
        json=[],
    )
    auth = {"key_env": "BILLING_KEY"}
    cfg = config(name="billing", base_url=base, auth=auth, options={"spec": "billing", "scope": "all"})
    src = build_source(cfg, FakeClock().runtime({"BILLING_KEY": "bk"}))
    [store] = src.stores([NV])
    assert list(src.connector(store).iter_records("invoices", "2026-11-13T00:00:00Z")) == []
    assert len(responses.calls) == 1


def test_a_template_naming_a_missing_store_attr_fails_clearly() -> None:
    with pytest.raises(SourceError, match=r"needs \{license_number\}"):
        render("/x/{license_number}", {"store_id": "NV-001"})
