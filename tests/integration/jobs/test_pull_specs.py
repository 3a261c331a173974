"""POS vendors wired in by TOML specs alone (Flowhub, BLAZE) against their sandbox APIs over HTTPS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import responses

from connectors.base import Rejected, Runtime, Source
from connectors.catalog import build_sources, parse_sources
from jobs.menu_health import assess, run_menu_health
from jobs.pull import pull
from sandbox.portfolio import Portfolio
from sandbox.server import RunningServer, serve
from sandbox.sources import SourcesApp, build_app
from sandbox.tls import TLSMaterial
from tests.integration.jobs.test_pull import DIRECTORY, cursor, facts, rows, state
from tests.unit.connectors.helpers import FIXTURES, fixture

pytestmark = pytest.mark.integration

TODAY = date(2026, 6, 17)
FLOWHUB_STORE, BLAZE_STORE = "NV-008", "MI-005"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SourcesApp, RunningServer, Path]]:
    tmp = tmp_path_factory.mktemp("sandbox")
    app = build_app(Portfolio(7, TODAY, days=21, orders_per_day=12))
    with serve(app, TLSMaterial.create(tmp)) as server:
        yield app, server, tmp


def built(app: SourcesApp, server: RunningServer, tmp: Path) -> list[Source]:
    creds = app.credentials
    (tmp / "flowhub.json").write_text(json.dumps(dict(creds.flowhub)))
    (tmp / "blaze.json").write_text(json.dumps(dict(creds.blaze)))
    env = {
        "PLATFORM_SECRET": creds.platform_client_secret,
        "FLOWHUB_CLIENT_ID": creds.flowhub_client_id,
        "BLAZE_PARTNER_KEY": creds.blaze_partner_key,
    }
    common = {"ca_bundle": str(server.ca_path), "retry_max_seconds": 5, "history_days": 21}
    raw: list[dict[str, Any]] = [
        {
            "name": "platform",
            "kind": "platform",
            "base_url": app.url(server.url, "platform"),
            "auth": {
                "kind": "oauth2_client_credentials",
                "client_id": creds.platform_client_id,
                "client_secret_env": "PLATFORM_SECRET",
            },
        },
        {
            "name": "flowhub",
            "kind": "rest",
            "freshness_as": "pos",
            "base_url": app.url(server.url, "flowhub"),
            "auth": {"per_store_file": str(tmp / "flowhub.json"), "partner_key_env": "FLOWHUB_CLIENT_ID"},
            "options": {"spec": "flowhub"},
        },
        {
            "name": "blaze",
            "kind": "rest",
            "freshness_as": "pos",
            "base_url": app.url(server.url, "blaze"),
            "auth": {"per_store_file": str(tmp / "blaze.json"), "partner_key_env": "BLAZE_PARTNER_KEY"},
            "options": {"spec": "blaze"},
        },
    ]
    runtime = Runtime(env=env, now=lambda: app.portfolio.now)
    return build_sources(parse_sources([{**common, **r} for r in raw], "sandbox.toml", env), runtime)


def expected_revenue(app: SourcesApp, store_id: str) -> dict[str, float]:
    """The portfolio's own completed sales by local day: what any POS connector must arrive at."""
    portfolio = app.portfolio
    out: dict[str, float] = {}
    for day in portfolio.history:
        for order in portfolio.orders(store_id, day):
            if order.status == "completed" and order.placed_at <= portfolio.now:
                key = str(order.day)
                out[key] = out.get(key, 0.0) + order.subtotal - order.discount
    return {d: round(v, 2) for d, v in out.items()}


def test_flowhub_and_blaze_pull_by_spec_alone_into_health_and_menu_health(
    sandbox: tuple[SourcesApp, RunningServer, Path], tmp_path: Path
) -> None:
    app, server, tmp = sandbox
    assert app.portfolio.store(FLOWHUB_STORE).pos_kind == "flowhub"
    assert app.portfolio.store(BLAZE_STORE).pos_kind == "blaze"
    engine = state(tmp_path)
    now = app.portfolio.now
    stores = {FLOWHUB_STORE, BLAZE_STORE}
    report = pull(engine, built(app, server, tmp), now, stores=stores)
    assert report.ok, report.summary()
    assert report.rejected == 0, rows(engine, "quarantine")[:3]
    # Each spec serves only its own POS's stores.
    pulled = {(o.source, o.store_id) for o in report.outcomes if o.source in ("flowhub", "blaze")}
    assert pulled == {("flowhub", FLOWHUB_STORE), ("blaze", BLAZE_STORE)}
    got = facts(engine)
    for source, store_id in (("flowhub", FLOWHUB_STORE), ("blaze", BLAZE_STORE)):
        revenue = {
            day: round(v, 2)
            for (src, sid, metric, dim, day), v in got.items()
            if (src, sid, metric, dim) == (source, store_id, "revenue", "")
        }
        assert revenue == pytest.approx(expected_revenue(app, store_id), abs=0.05)
        dims = {k[3] for k in got if k[0] == source and k[2] == "units"}
        # Every vendor category landed on the vocabulary: nothing fell through to "other".
        assert any(d.startswith("channel=online,category=") for d in dims)
        assert not any(d.endswith("category=other") for d in dims), dims
        assert {"channel=online", "channel=in_store"} <= {
            k[3] for k in got if k[:3] == (source, store_id, "orders")
        }
    stock = rows(engine, "source_record", "WHERE source='blaze' AND stream='inventory'")
    assert stock and all(r["store_id"] == BLAZE_STORE for r in stock)
    # POS freshness is what the health score and POS risk rules require.
    fresh = {(r["source"], r["store_id"]) for r in rows(engine, "freshness") if r["newest_data_at"]}
    assert {("flowhub", FLOWHUB_STORE), ("blaze", BLAZE_STORE)} <= fresh
    # Menu health reads the spec's transactions and inventory: top sellers with POS stock.
    health = run_menu_health(engine, now, head=lambda url: 200, stores=stores)
    by_store = {h.store_id: h for h in health.stores}
    for store_id in stores:
        sellers = by_store[store_id].top_sellers
        assert by_store[store_id].has_pos_sales
        assert sellers and sum(s.pos_stock for s in sellers) > 0
        assert {s.category for s in sellers} <= {
            "flower",
            "pre_rolls",
            "vapes",
            "concentrates",
            "edibles",
            "beverages",
            "tinctures",
            "topicals",
        }
    # A second pull of the same window changes nothing.
    before = facts(engine)
    again = pull(engine, built(app, server, tmp), now, stores=stores)
    assert again.ok and facts(engine) == before


GREENLEAF = "https://api.greenleaf.example"


@responses.activate
def test_a_vendor_of_epoch_ms_cents_in_strings_and_nested_store_keys_pulls_by_configuration_alone(
    tmp_path: Path,
) -> None:
    """The issue's vendor: its facts are in dollars on the vocabulary's categories, ready for health and
    the risk rules, and menu health reads its sales and stock."""
    responses.get(f"{GREENLEAF}/v3/sales", json=fixture("greenleaf_sales"))
    responses.get(f"{GREENLEAF}/v3/stock", json=fixture("greenleaf_stock"))
    cfg = {
        "name": "greenleaf",
        "kind": "rest",
        "freshness_as": "pos",
        "base_url": GREENLEAF,
        "history_days": 10,
        "retry_max_attempts": 1,
        "auth": {"token_env": "GREENLEAF_TOKEN"},
        "options": {"spec": str(FIXTURES / "greenleaf.toml")},
    }
    env = {"GREENLEAF_TOKEN": "gl-token"}
    now = datetime(2026, 6, 17, 18, 0, tzinfo=UTC)
    sources = build_sources(parse_sources([cfg], "config.toml", env), Runtime(env=env, now=lambda: now))
    engine = state(tmp_path)
    report = pull(engine, [DIRECTORY, *sources], now)
    assert report.ok, report.summary()
    assert report.rejected == 0, rows(engine, "quarantine")
    got = {(k[1], k[2], k[3]): v for k, v in facts(engine, "greenleaf").items()}
    # $320.00 online (cents as strings, in dollars), $19.99 in store; the void counts nothing.
    assert got[("NV-001", "revenue", "")] == pytest.approx(339.99)
    assert got[("NV-001", "orders", "channel=online")] == 1
    assert got[("NV-001", "revenue", "channel=online,category=beverages")] == pytest.approx(240.0)
    assert got[("NV-001", "units", "channel=online,category=beverages")] == 4
    assert got[("NV-001", "revenue", "channel=in_store,category=edibles")] == pytest.approx(19.99)
    # The sale counts on its local day (13:20 UTC is 06:20 in Las Vegas), its cursor is the edit time.
    assert {k[4] for k in facts(engine, "greenleaf")} == {"2026-06-17"}
    assert cursor(engine, "greenleaf", "transactions", "*") == "2026-06-17T14:41:00Z"
    sales = [json.loads(r["attrs"]) for r in rows(engine, "source_record", "WHERE stream='transactions'")]
    stock = [json.loads(r["attrs"]) for r in rows(engine, "source_record", "WHERE stream='inventory'")]
    assert {s["product_id"]: s["quantity"] for s in stock} == {"g-1": 24, "g-2": 12, "g-3": 0}
    assert next(s for s in stock if s["product_id"] == "g-1")["weight_oz"] == pytest.approx(12.519, abs=1e-3)
    # Menu health over the spec's records: the beverage top seller hidden online is unavailable.
    menu = [
        {"id": "m-1", "pos_product_id": "g-1", "name": "Sparkling Lime", "category": "beverages", "stock": 24,
         "visible": False, "image_url": "https://img/1.png"},
        {"id": "m-2", "pos_product_id": "g-2", "name": "Blue Dream", "category": "flower", "stock": 12,
         "visible": True, "image_url": "https://img/2.png"},
    ]  # fmt: skip
    statuses = {"https://img/1.png": 200, "https://img/2.png": 200}
    health = assess("NV-001", date(2026, 6, 17), menu, sales, stock, statuses)
    unavailable = [s for s in health.top_sellers if s.unavailable]
    assert [(s.product_id, s.category, s.units) for s in unavailable] == [("g-1", "beverages", 4.0)]
    # A second pull with nothing new changes nothing.
    before = facts(engine)
    again = pull(engine, [DIRECTORY, *sources], now)
    assert again.ok and facts(engine) == before
    # {since} went out as epoch milliseconds: 10 days back, then the stored cursor less the lookback hour.
    sent = [c.request.params["edited_after_ms"] for c in responses.calls if "/v3/sales" in c.request.url]
    assert sent == ["1780855200000", "1781703660000"]


@responses.activate
def test_the_store_directory_from_any_source(tmp_path: Path) -> None:
    """A CRM export lists the stores (nested fields, its own POS names); the POS spec serves its own."""
    crm = "https://crm.example"
    responses.get(
        f"{crm}/api/locations",
        json={
            "results": [
                {"externalId": "NV-001", "displayName": "Desert Bloom", "address": {"region": "nv"},
                 "tz": "America/Los_Angeles", "compliance": {"license": "RD-1"},
                 "pos": {"vendor": "GREENLEAF", "locationRef": "gl-1"}},
                {"externalId": "AZ-001", "displayName": "Saguaro", "address": {"region": "AZ"},
                 "tz": "America/Phoenix", "pos": {"vendor": "DUTCHIE", "locationRef": "1201"}},
                {"externalId": "XX-1", "address": {"region": "Nevada"}, "pos": {"vendor": "DUTCHIE"}},
            ]
        },
    )  # fmt: skip
    env = {"CRM_TOKEN": "crm", "GREENLEAF_TOKEN": "gl"}
    raw = [
        {
            "name": "crm",
            "kind": "rest",
            "base_url": crm,
            "auth": {"token_env": "CRM_TOKEN"},
            "options": {"spec": str(FIXTURES / "crm_directory.toml")},
        },
        {
            "name": "greenleaf",
            "kind": "rest",
            "base_url": GREENLEAF,
            "auth": {"token_env": "GREENLEAF_TOKEN"},
            "options": {"spec": str(FIXTURES / "greenleaf.toml"), "scope": "store", "pos_kind": "greenleaf"},
        },
    ]
    now = datetime(2026, 6, 17, 18, 0, tzinfo=UTC)
    sources = build_sources(parse_sources(raw, "config.toml", env), Runtime(env=env, now=lambda: now))
    crm_source, greenleaf = sources
    assert crm_source.provides_directory and not greenleaf.provides_directory
    listed = crm_source.stores([])
    refs = [r for r in listed if not isinstance(r, Rejected)]
    assert [(r.store_id, r.state, r.timezone) for r in refs] == [
        ("NV-001", "NV", "America/Los_Angeles"),
        ("AZ-001", "AZ", "America/Phoenix"),
    ]
    assert refs[0].attrs == {"license_number": "RD-1", "pos_kind": "greenleaf", "pos_location_id": "gl-1"}
    bad = [r for r in listed if isinstance(r, Rejected)]
    assert [r.reason for r in bad] == ["state: expected a two-letter US state, got 'NEVADA'"]
    # The POS spec serves only the stores the directory says are its own.
    assert [s.store_id for s in greenleaf.stores(refs)] == ["NV-001"]
    engine = state(tmp_path)
    report = pull(engine, [crm_source], now)
    assert report.ok, report.summary()
    assert {r["store_id"] for r in rows(engine, "store")} == {"NV-001", "AZ-001"}
    assert [r["reason"] for r in rows(engine, "quarantine")] == [
        "state: expected a two-letter US state, got 'NEVADA'"
    ]
