"""Each planted scenario is measurably in the data, as the worker will measure it."""

from __future__ import annotations

import re
import statistics
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

import mappings
from jobs import onboarding
from sandbox.portfolio import SCENARIOS, Portfolio, catalog, scenarios
from sandbox.portfolio.scenarios import TOUCHPOINTS
from sandbox.portfolio.seasons import demand_factor, reference_day
from worker.demo import DEMO_ORDERS_PER_DAY

from .conftest import TODAY


def _online(p: Portfolio, sid: str, day: date) -> int:
    return p.day_summary(sid, day).online_orders


def _same_weekday_median(p: Portfolio, sid: str, day: date, metric: str) -> float:
    values = [getattr(p.day_summary(sid, day - timedelta(weeks=k)), metric) for k in range(1, 5)]
    return statistics.median(values)


def _category_revenue(
    p: Portfolio, sid: str, days: list[date], category: str, *, other: bool = False
) -> float:
    return sum(
        line.total_price
        for day in days
        for o in p.orders(sid, day)
        if o.channel == "online" and o.status == "completed"
        for line in o.lines
        if (line.category != category) == other
    )


@pytest.fixture(scope="module", params=[7, 11, 2026])
def seeded(request: pytest.FixtureRequest) -> Portfolio:
    return Portfolio(request.param, TODAY)


def test_menu_sync_failure_in_nevada(seeded: Portfolio) -> None:
    p, sid = seeded, "NV-001"
    for back in (1, 2):
        day = TODAY - timedelta(days=back)
        assert _online(p, sid, day) <= 0.40 * _same_weekday_median(p, sid, day, "online_orders")
        in_store = p.day_summary(sid, day).in_store_orders
        assert 0.8 <= in_store / _same_weekday_median(p, sid, day, "in_store_orders") <= 1.2
    units: Counter[int] = Counter()
    for back in range(1, 29):
        for o in p.orders(sid, TODAY - timedelta(days=back)):
            for line in o.lines:
                units[line.product_key] += line.quantity
    top = [p.products(sid)[key] for key, _ in units.most_common(5)]
    menu = {m.pos_product_id: m for m in p.menu(sid).items}
    for product in top:
        assert product.pos_stock > 0 and product.pos_online
        assert menu[product.pos_id].stock == 0 or not menu[product.pos_id].visible
    hidden_or_empty = sum(1 for m in menu.values() if m.stock == 0 or not m.visible)
    assert hidden_or_empty <= 12  # the rest of the menu looks normal
    last_sync = p.menu(sid).last_menu_sync_at
    assert last_sync is not None and timedelta(hours=29) <= p.now - last_sync <= timedelta(hours=31)
    top_keys = {product.key for product in top}
    for back in (1, 2):
        for o in p.orders(sid, TODAY - timedelta(days=back)):
            if o.channel == "online":
                assert not top_keys & {line.product_key for line in o.lines}
    analytics = {a.day: a for a in p.analytics(sid)}
    yesterday = TODAY - timedelta(days=1)
    usual = statistics.median(analytics[yesterday - timedelta(weeks=k)].sessions for k in range(1, 5))
    assert analytics[yesterday].sessions >= 0.8 * usual  # traffic is normal, orders are not
    assert any(t.priority == "high" and t.status == "open" for t in p.tickets(sid))


def test_edibles_drop_in_arizona(seeded: Portfolio) -> None:
    p, sid = seeded, "AZ-001"
    last = [TODAY - timedelta(days=k) for k in range(1, 8)]
    previous = [TODAY - timedelta(days=k) for k in range(8, 15)]
    wow = _category_revenue(p, sid, last, "edibles") / _category_revenue(p, sid, previous, "edibles") - 1
    assert -0.25 <= wow <= -0.15
    others = _category_revenue(p, sid, last, "edibles", other=True) / _category_revenue(
        p, sid, previous, "edibles", other=True
    )
    assert 0.88 <= others <= 1.12
    edibles = [m for m in p.menu(sid).items if m.category == "edibles"]
    products = {x.pos_id: x for x in p.products(sid)}
    assert sum(not m.visible for m in edibles) >= 2
    assert sum(m.stock == 0 for m in edibles) >= 2
    assert sum(not products[m.pos_product_id].image_ok for m in edibles) >= 3
    assert all(products[m.pos_product_id].image_ok for m in p.menu(sid).items if m.category != "edibles")


def test_stale_feed_store_keeps_selling_on_the_platform(portfolio: Portfolio) -> None:
    store = portfolio.store("CA-002")
    assert store.pos_feed_end is not None
    assert timedelta(days=3, hours=12) <= portfolio.now - store.pos_feed_end <= timedelta(days=4, hours=12)
    recent = [a for a in portfolio.analytics("CA-002") if a.day >= TODAY - timedelta(days=4)]
    assert len(recent) == 4 and all(a.sessions > 0 and a.orders > 0 for a in recent)
    assert portfolio.receipts("CA-002", TODAY - timedelta(days=1))  # Metrc still records sales
    assert all(p.pos_modified_at < store.pos_feed_end for p in portfolio.products("CA-002"))


def test_mso_onboarding_in_three_states(portfolio: Portfolio) -> None:
    started = TODAY - timedelta(days=20)
    members = portfolio.stores_of("MSO-2")
    assert {s.state for s in members} == {"IL", "MI", "MA"}
    assert all(s.onboarding_started_on == started for s in members)

    def first_day(sid: str, channel: str | None = None) -> date | None:
        for day in portfolio.history:
            if any(channel in (None, o.channel) for o in portfolio.orders(sid, day)):
                return day
        return None

    assert first_day("IL-006") == started + timedelta(days=1)  # POS data from day 2
    assert first_day("MI-006", "online") == started + timedelta(days=11)  # go-live on day 12
    assert first_day("MA-005") is None and portfolio.products("MA-005") == ()
    assert portfolio.menu("MA-005").items == () and portfolio.analytics("MA-005") == ()
    assert portfolio.usage("MA-005")  # the team logs in to set things up


def test_renewals_at_30_60_90_days(portfolio: Portfolio) -> None:
    ends = {c.store_id: (c.end_date - TODAY).days for c in portfolio.contracts}
    assert (ends["MI-003"], ends["NV-003"], ends["MA-002"]) == (30, 60, 90)
    assert portfolio.store("MI-003").health == "red"
    opportunities = {o.store_id: o for o in portfolio.opportunities}
    for sid in ("MI-003", "NV-003", "MA-002"):
        assert opportunities[sid].close_date == portfolio.contract(sid).end_date
    others = [d for sid, d in ends.items() if sid not in ("MI-003", "NV-003", "MA-002")]
    assert all(d >= 100 for d in others)


def test_history_supports_a_quarterly_review(portfolio: Portfolio) -> None:
    established = [s for s in portfolio.stores if s.onboarding_started_on is None]
    first = portfolio.history[0]
    for store in established:
        channels = {o.channel for o in portfolio.orders(store.id, first)}
        assert channels == {"online", "in_store"}, store.id
    previous_quarter_start = date(2026, 4, 1) if TODAY.month > 6 else date(2026, 1, 1)
    assert first <= previous_quarter_start + timedelta(days=91)


def test_compliance_violations_are_planted_and_only_there(portfolio: Portfolio) -> None:
    heavy = [
        (s.id, m.name)
        for s in portfolio.stores
        for m in portfolio.menu(s.id).items
        if m.package_thc_mg is not None and m.package_thc_mg > 100
    ]
    assert len(heavy) == 1 and heavy[0][0] == "NV-002" and heavy[0][1].endswith("200mg")
    banned = re.compile(r"\b(free|bogo)\b", re.IGNORECASE)
    flagged = [
        (s.id, p.title)
        for s in portfolio.stores
        for p in portfolio.promotions(s.id)
        if banned.search(f"{p.title} {p.description}")
    ]
    assert {sid for sid, _ in flagged} == {"CA-001"} and len(flagged) == 2
    msrp = {(brand, i.name): i for brand in portfolio.brands() for i in portfolio.msrp(brand) or ()}
    under = [
        (s.id, m.name)
        for s in portfolio.stores
        for m in portfolio.menu(s.id).items
        if (item := msrp.get((m.brand, m.name))) and m.price < item.msrp * (1 - item.tolerance_percent / 100)
    ]
    assert len(under) == 1 and under[0][0] == "AZ-003"


def test_receivables_trouble_at_one_store(portfolio: Portfolio) -> None:
    overdue = sorted(
        (TODAY - i.due_on).days
        for i in portfolio.invoices("IL-002")
        if i.status == "open" and i.due_on < TODAY
    )
    assert [d for d in overdue if d >= 25] == pytest.approx([32, 62, 92], abs=3)
    payments = portfolio.payments("IL-002")
    assert any(p.status == "returned" and p.return_code == "R01" and p.method == "ach" for p in payments)
    assert any(p.status == "failed" and p.method == "ach" for p in payments)
    recent_changes = [
        p for p in payments if p.payment_method_changed and (TODAY - p.created_at.date()).days <= 100
    ]
    assert len(recent_changes) >= 3
    for store in portfolio.stores:
        if store.health == "green":
            assert not [i for i in portfolio.invoices(store.id) if i.status == "open" and i.due_on < TODAY], (
                store.id
            )


def test_expansion_growth_at_the_order_limit(portfolio: Portfolio) -> None:
    def normalised(weeks_back: int) -> float:
        days = [TODAY - timedelta(days=7 * weeks_back + k) for k in range(1, 8)]
        orders = sum(
            portfolio.day_summary("MI-002", d).online_orders
            + portfolio.day_summary("MI-002", d).in_store_orders
            for d in days
        )
        return orders / sum(demand_factor(reference_day(d, TODAY)) for d in days)

    assert 1.18 <= normalised(0) / normalised(8) <= 1.45
    last_30 = sum(_online(portfolio, "MI-002", TODAY - timedelta(days=k)) for k in range(1, 31))
    assert last_30 >= 0.95 * portfolio.store("MI-002").plan_limits.monthly_orders
    locations = portfolio.stores_of("MSO-1")
    assert len(locations) > locations[0].plan_limits.locations
    added = portfolio.store("NV-006")
    assert added.parent_id == "MSO-1" and added.onboarding_started_on == TODAY - timedelta(days=30)


def test_health_bands_show_in_the_signals(portfolio: Portfolio) -> None:
    bands: dict[str, list[str]] = {}
    for s in portfolio.stores:
        if s.onboarding_started_on is None and not s.scenario:
            bands.setdefault(s.health, []).append(s.id)
    assert set(bands) == {"green", "yellow", "red"}

    def trend(sid: str) -> float:
        recent = [TODAY - timedelta(days=k) for k in range(1, 29)]
        earlier = [TODAY - timedelta(days=k) for k in range(57, 85)]
        total = [
            sum(portfolio.day_summary(sid, d).in_store_orders for d in days) / sum(map(demand_factor, days))
            for days in (recent, earlier)
        ]
        return total[0] / total[1]

    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    logins = {
        band: mean([mean([u.logins for u in portfolio.usage(s)[-28:]]) for s in ids])
        for band, ids in bands.items()
    }
    nps = {band: mean([r.score for s in ids for r in portfolio.nps(s)]) for band, ids in bands.items()}
    tickets = {band: mean([len(portfolio.tickets(s)) for s in ids]) for band, ids in bands.items()}
    assert logins["green"] > logins["yellow"] > logins["red"]
    assert nps["green"] > nps["yellow"] > nps["red"]
    assert tickets["red"] > tickets["green"]
    assert all(trend(s) < 0.92 for s in bands["red"])
    assert all(trend(s) > 0.97 for s in bands["green"][:5])


def test_one_store_has_no_salesforce_account(portfolio: Portfolio) -> None:
    assert [s.id for s in portfolio.stores if not s.has_account] == ["CA-006"]


def test_scenario_table_names_real_stores(portfolio: Portfolio) -> None:
    numbers = [s.number for s in SCENARIOS]
    assert numbers == sorted(set(numbers)) and numbers[:10] == list(range(1, 11))
    mso_ids = {m.id for m in portfolio.msos}
    for scenario in SCENARIOS:
        assert scenario.planted and scenario.conclusion
        for sid in scenario.store_ids:
            assert portfolio.has_store(sid) or sid in mso_ids, (scenario.name, sid)
    planted = {s.scenario for s in portfolio.stores if s.scenario}
    named = {sid for s in SCENARIOS for sid in s.store_ids}
    assert {s.id for s in portfolio.stores if s.scenario} <= named
    assert "menu_sync_failure" in planted


def test_planted_purchase_limit_orders_and_ordinary_sales_within_the_caps(portfolio: Portfolio) -> None:
    day = portfolio.today - timedelta(days=2)
    planted = {}
    for sid in ("IL-004", "IL-005", "AZ-004"):
        first = next(
            o for o in portfolio.orders(sid, day) if o.channel == "online" and o.status == "completed"
        )
        planted[sid] = [
            (line.category, line.quantity, line.weight_grams, line.thc_mg) for line in first.lines
        ]
    assert planted == {
        "IL-004": [("concentrates", 7, 1.0, None)],
        "IL-005": [("concentrates", 5, 1.0, None)],
        "AZ-004": [("edibles", 12, None, 100.0)],
    }
    for sid in ("NV-001", "IL-001", "MA-003"):
        for o in portfolio.orders(sid, day - timedelta(days=1)):
            held: dict[str, float] = {}
            for line in o.lines:
                group = catalog.LIMIT_GROUP[line.category]
                amount = line.thc_mg if group == "infused" else line.weight_grams
                held[group] = held.get(group, 0.0) + line.quantity * (amount or 0.0)
            assert all(v <= catalog.SALE_CAPS[g] for g, v in held.items()), (sid, o.platform_id, held)


def test_metrc_receipts_mirror_sales_except_the_planted_gaps(portfolio: Portfolio) -> None:
    def totals(sid: str, days_ago: int) -> tuple[float, float]:
        day = portfolio.today - timedelta(days=days_ago)
        pos = sum(o.subtotal - o.discount for o in portfolio.orders(sid, day) if o.status == "completed")
        return round(pos, 2), round(sum(r.total_price for r in portfolio.receipts(sid, day)), 2)

    pos3, metrc3 = totals("MI-001", 3)
    assert pos3 > 0 and metrc3 == 0
    pos2, metrc2 = totals("MI-001", 2)
    assert 0.3 < metrc2 / pos2 < 0.7
    pos5, metrc5 = totals("MI-005", 2)
    assert 0 < pos5 - metrc5 < 0.02 * pos5
    for sid, days_ago in (("MI-001", 1), ("MI-001", 4), ("MI-005", 1), ("IL-004", 2)):
        pos, metrc = totals(sid, days_ago)
        assert pos == metrc


def test_planted_touchpoints(portfolio: Portfolio) -> None:
    def logged(sid: str) -> list[tuple[int, str]]:
        return [(t.days_ago, t.kind) for t in portfolio.touchpoints(sid)]

    assert logged("NV-005") == [(45, "Call"), (-3, "Meeting")]  # the meeting is planned, not held
    assert logged("AZ-005") == [(6, "Email")]
    assert logged("AZ-001") == [(30, "Call")] and portfolio.store("AZ-001").plan == "Growth"
    others = [s for s in portfolio.stores if s.id not in TOUCHPOINTS]
    assert others and all(
        [t.kind for t in portfolio.touchpoints(s.id)] == ["Meeting"]
        and 3 <= portfolio.touchpoints(s.id)[0].days_ago <= 20
        for s in others
    )


def test_past_onboardings_are_seeded_from_the_onboarding_template() -> None:
    cfg = onboarding.load(Path(mappings.__file__).parent / onboarding.FILE)
    assert {m.code: m.title for m in cfg.milestones} == scenarios.ONBOARDING_MILESTONES
    assert {m.code: m.plans for m in cfg.milestones if m.plans} == {
        "staff_training": scenarios.STAFF_TRAINING_PLANS
    }
    assert cfg.target.exclude == (scenarios.REVIEW_MILESTONE,)


@pytest.mark.parametrize("seed", [7, 11])
def test_online_drops_yesterday_one_a_traffic_loss_one_at_usual_traffic(seed: int) -> None:
    # at the demo's volume, where the rule's minimum baseline is the hardest to reach
    p, yesterday = Portfolio(seed, TODAY, orders_per_day=DEMO_ORDERS_PER_DAY), TODAY - timedelta(days=1)
    sessions = {s: {a.day: a.sessions for a in p.analytics(s)} for s in ("AZ-006", "MA-003", "AZ-004")}

    def vs_median(sid: str, metric: str) -> float:
        if metric == "sessions":
            weeks = [sessions[sid][yesterday - timedelta(weeks=k)] for k in range(1, 5)]
            return sessions[sid][yesterday] / statistics.median(weeks)
        return getattr(p.day_summary(sid, yesterday), metric) / _same_weekday_median(
            p, sid, yesterday, metric
        )

    for sid in ("AZ-006", "MA-003"):
        assert vs_median(sid, "online_orders") <= 0.6, sid
        assert _same_weekday_median(p, sid, yesterday, "online_orders") >= 20, sid  # the rule's minimum
        assert abs(vs_median(sid, "in_store_orders") - 1) <= 0.15, sid
    assert vs_median("AZ-006", "sessions") <= 0.65  # traffic loss: fewer shoppers, conversion holds
    assert vs_median("MA-003", "sessions") >= 0.85  # as many shoppers, fewer orders
    assert 0.8 <= vs_median("AZ-004", "online_orders") <= 1.2  # must not drop: an ordinary store


def test_everyday_unavailable_item_is_the_categorys_slowest_seller(seeded: Portfolio) -> None:
    # A best seller hidden or out of stock by chance reads as a broken menu sync wherever online orders
    # fall and the sync looks old (the real clock hours after the sandbox's `now`): only the planted
    # menu sync failure and edibles drop may make best sellers unavailable.
    planted = {"menu_sync_failure", "category_drop_edibles"}
    checked = 0
    for store in (s for s in seeded.stores if s.scenario not in planted and s.live_on is not None):
        products = seeded.products(store.id)
        for category in catalog.CATEGORIES:
            mine = sorted((p for p in products if p.category == category), key=lambda p: p.weight)
            unavailable = [p for p in mine if not p.pos_online or p.pos_stock == 0]
            assert len(unavailable) <= 1, (store.id, category)
            if unavailable:
                assert unavailable[0].key == mine[0].key, (store.id, category)
                checked += 1
    assert checked > 0
