"""A vendor wired in by its spec alone drives the health score and the risk rules, not only the facts.

Greenleaf (tests/unit/connectors/fixtures/greenleaf.toml) sends epoch-millisecond times, cents as strings,
the store key nested in each record and its own category names (`BEV`). Its sales are pulled over HTTP,
menu health runs on its stock, and account_health / risk_alerts evaluate the stores from the state DB.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from connectors.base import Record, Runtime, Signal, StoreRef
from connectors.catalog import build_sources, parse_sources
from connectors.memory import MemorySource
from jobs.accounts import build_account_data
from jobs.health import HealthJob
from jobs.mapping_set import RECORD_STREAMS
from jobs.menu_health import run_menu_health
from jobs.pull import pull
from jobs.risk import RiskJob
from mappings.evaluate import AccountOutcome
from mappings.load import load_mapping_set
from state import stores
from tests.integration.jobs.test_pull import rows, state
from tests.unit.connectors.helpers import FIXTURES

pytestmark = pytest.mark.integration

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
GREENLEAF = "https://api.greenleaf.example"
NOW = datetime(2026, 6, 17, 18, 0, tzinfo=UTC)
DROP, STEADY = "NV-001", "NV-002"  # beverages fall 80% at DROP; STEADY sells the same every day
DAYS = 40
PRICE_CENTS = 2000  # one can, $20.00


def _sale(ref: str, store: str, when: datetime, kind: str, sku: str, dept: str, qty: int) -> dict[str, Any]:
    ms = int(when.timestamp() * 1000)
    cents = str(qty * PRICE_CENTS)
    return {
        "saleRef": ref,
        "location": {"ref": {"code": store}},
        "ts": {"soldMs": ms, "editedMs": ms + 60_000},
        "kind": kind,
        "state": "CLOSED",
        "amounts": {"netCents": cents, "grossCents": cents},
        "lines": [{"sku": sku, "qty": str(qty), "lineCents": cents, "dept": dept}],
    }


def vendor_sales() -> dict[str, Any]:
    """40 days at 10:00 in Las Vegas: per store a beverage order and a flower order online each day.

    At DROP the beverage order is 5 cans ($100) until the last 7 full days, then 1 can ($20); flower stays
    at 4 × $20. At STEADY both stay the same every day."""
    sales = []
    for d in range(DAYS):
        when = NOW - timedelta(days=d, hours=1)
        for store in (DROP, STEADY):
            cans = 1 if store == DROP and d < 8 else 5  # today and the last 7 full days
            sales.append(_sale(f"{store}-b{d}", store, when, "WEB", "bev-1", "BEV", cans))
            sales.append(_sale(f"{store}-f{d}", store, when, "WEB", "flw-1", "FLWR", 4))
    return {"data": {"sales": sales}}


def vendor_stock() -> dict[str, Any]:
    items = [
        {"sku": sku, "location": {"ref": {"code": store}}, "title": sku, "onHand": "30", "dept": dept}
        for store in (DROP, STEADY)
        for sku, dept in (("bev-1", "BEV"), ("bev-2", "BEV"), ("bev-3", "BEV"), ("flw-1", "FLWR"))
    ]
    return {"items": items}


def platform() -> MemorySource:
    """The store directory and the online menus: at both stores two of the three beverages are hidden."""

    def menu(store: str) -> list[Record | Signal]:
        items: list[Record | Signal] = [
            Signal("menu_sync", store, NOW - timedelta(hours=2)),
            Signal("platform", store, NOW - timedelta(hours=1)),
        ]
        for mid, sku, category, visible in (
            ("m1", "bev-1", "beverages", False),
            ("m2", "bev-2", "beverages", False),
            ("m3", "bev-3", "beverages", True),
            ("m4", "flw-1", "flower", True),
        ):
            attrs = {"id": mid, "pos_product_id": sku, "name": sku, "category": category, "stock": 30,
                     "visible": visible, "image_url": f"https://img.example/{sku}.png"}  # fmt: skip
            items.append(Record("menu_items", f"{store}:{mid}", store, NOW, "", (), attrs))
        return items

    directory = [
        StoreRef(s, s, "NV", "America/Los_Angeles", {"pos_kind": "greenleaf"}) for s in (DROP, STEADY)
    ]
    data = {s: {"menu_items": menu(s)} for s in (DROP, STEADY)}
    return MemorySource("platform", data, directory=directory, snapshot_streams=("menu_items",))


def evaluated(tmp_path: Path) -> dict[str, tuple[AccountOutcome, AccountOutcome]]:
    responses.get(f"{GREENLEAF}/v3/sales", json=vendor_sales())
    responses.get(f"{GREENLEAF}/v3/stock", json=vendor_stock())
    cfg = {
        "name": "greenleaf",
        "kind": "rest",
        "freshness_as": "pos",
        "base_url": GREENLEAF,
        "history_days": 60,
        "retry_max_attempts": 1,
        "auth": {"token_env": "GREENLEAF_TOKEN"},
        "options": {"spec": str(FIXTURES / "greenleaf.toml")},
    }
    env = {"GREENLEAF_TOKEN": "gl-token"}
    sources = build_sources(parse_sources([cfg], "config.toml", env), Runtime(env=env, now=lambda: NOW))
    engine = state(tmp_path)
    report = pull(engine, [platform(), *sources], NOW)
    assert report.ok, report.summary()
    assert report.rejected == 0, rows(engine, "quarantine")
    run_menu_health(engine, NOW, head=lambda url: 200)
    ms = load_mapping_set(MAPPINGS)
    health, risk = HealthJob(ms), RiskJob(ms)
    ids = [DROP, STEADY]
    accounts = {s: {"Id": f"001{s}", "Store_Id__c": s, "CSM__c": "005CSM", "OwnerId": "005CSM"} for s in ids}
    data = build_account_data(
        engine,
        ids,
        accounts,
        stores.rows(engine, ids),
        NOW,
        history_days=60,
        streams=RECORD_STREAMS,
        freshness_aliases={"greenleaf": "pos"},  # the source's `freshness_as`, as the worker passes it
    )
    return {d.store_id: (health.outcome(d), risk.outcome(d)) for d in data}


def fired(outcome: AccountOutcome) -> set[str]:
    return {r.instance for r in outcome.rules if r.status == "fired"}


@responses.activate
def test_the_vendors_beverage_drop_fires_category_drop_and_its_steady_store_does_not(tmp_path: Path) -> None:
    got = evaluated(tmp_path)
    drop, steady = got[DROP][1], got[STEADY][1]
    # `BEV` reached the vocabulary's `beverages`: the rule iterates it as one of the store's categories.
    assert "category_drop/beverages" in fired(drop)
    assert not any(r.rule == "category_drop" and r.status in ("fired", "held") for r in steady.rules)
    assert "category_drop/flower" not in fired(drop)  # flower held steady: "others normal"
    flag = next(d for d in drop.desired if d.sobject == "Risk_Flag__c" and "category_drop" in d.key)
    assert "beverages" in d_text(flag.fields)
    # Dollars, not cents: $700 the week before, $140 in the last 7 days.
    evidence = d_text(flag.fields)
    assert '"revenue_7d": 140.0' in evidence and '"revenue_prior_7d": 700.0' in evidence, evidence
    assert not any(d.sobject == "Risk_Flag__c" and "category_drop" in d.key for d in steady.desired)


@responses.activate
def test_the_vendors_sales_drive_the_health_score_and_kpi_fields(tmp_path: Path) -> None:
    got = evaluated(tmp_path)
    for store, (health, _) in got.items():
        h = health.health
        assert h is not None and not h.stale, (store, h)
        assert h.score is not None and 0 <= h.score <= 100
        trend = next(c for c in h.components if c.name == "orders_trend")
        assert trend.raw == pytest.approx(0.0, abs=1e-9)  # two orders a day, every day
        assert trend.points is not None
    # KPI fields from the vendor's cents: 7 full days of ($20 + $80) at DROP, ($100 + $80) at STEADY.
    assert got[DROP][0].fields["Online_Revenue_7d__c"] == pytest.approx(700.0)
    assert got[STEADY][0].fields["Online_Revenue_7d__c"] == pytest.approx(1260.0)
    assert got[DROP][0].fields["Online_Orders_7d__c"] == 14


def d_text(fields: dict[str, Any]) -> str:
    return " ".join(str(v) for v in fields.values())
