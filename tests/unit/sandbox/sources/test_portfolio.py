"""The demo portfolio: deterministic, shaped like a real book of business, and cheap to make large."""

from __future__ import annotations

import re
import tracemalloc
from collections import Counter
from datetime import date, timedelta

import pytest

from sandbox.portfolio import Portfolio
from sandbox.portfolio.catalog import CATEGORIES, MG_CATEGORIES
from sandbox.portfolio.seasons import contract_end, reference_day

from .conftest import TODAY


def _fingerprint(p: Portfolio) -> tuple[object, ...]:
    day = p.today - timedelta(days=3)
    return (
        p.stores,
        p.msos,
        p.users,
        p.contracts,
        p.opportunities,
        p.products("NV-001"),
        p.menu("AZ-001"),
        p.promotions("CA-001"),
        tuple(p.orders(sid, day) for sid in ("NV-001", "AZ-001", "IL-002", "MA-004")),
        p.analytics("MI-002")[-10:],
        p.usage("NV-005")[-10:],
        p.tickets("IL-003"),
        p.nps("MA-001"),
        p.invoices("IL-002"),
        p.payments("IL-002"),
    )


def test_same_inputs_give_the_same_portfolio(portfolio: Portfolio) -> None:
    assert _fingerprint(Portfolio(7, TODAY)) == _fingerprint(portfolio)


def test_order_of_reading_does_not_change_the_data() -> None:
    first, second = Portfolio(7, TODAY), Portfolio(7, TODAY)
    day = TODAY - timedelta(days=2)
    later = [second.orders("AZ-001", TODAY - timedelta(days=k)) for k in range(14, 0, -1)]
    assert first.orders("AZ-001", day) == later[-2]


def test_another_seed_gives_another_portfolio(portfolio: Portfolio) -> None:
    other = Portfolio(8, TODAY)
    assert [s.id for s in other.stores] == [s.id for s in portfolio.stores]  # the roster's ids are fixed
    assert [s.name for s in other.stores] != [s.name for s in portfolio.stores]
    day = TODAY - timedelta(days=5)
    assert other.orders("NV-004", day) != portfolio.orders("NV-004", day)


def test_roster_covers_six_states_with_msos_and_people(portfolio: Portfolio) -> None:
    states = Counter(s.state for s in portfolio.stores)
    assert states == {"NV": 8, "AZ": 7, "IL": 6, "CA": 8, "MI": 6, "MA": 5}
    assert all(re.fullmatch(r"(NV|AZ|IL|CA|MI|MA)-\d{3}", s.id) for s in portfolio.stores)
    assert len({s.id for s in portfolio.stores}) == 40
    assert [m.id for m in portfolio.msos] == ["MSO-1", "MSO-2", "MSO-3"]
    assert {s.parent_id for s in portfolio.stores} - {None} == {"MSO-1", "MSO-2", "MSO-3"}
    assert not any(portfolio.has_store(m.id) for m in portfolio.msos)  # parents have no store feed
    assert len(portfolio.csms) == 6 and len(portfolio.account_managers) == 3
    assert len({u.email for u in portfolio.users}) == 9
    keys = {u.key for u in portfolio.users}
    assert all(s.csm in keys and s.owner in keys for s in portfolio.stores)
    assert {s.timezone for s in portfolio.stores} >= {
        "America/Los_Angeles",
        "America/Phoenix",
        "America/New_York",
    }
    assert {s.pos_kind for s in portfolio.stores} == {"dutchie_pos", "treez_pos", "flowhub", "blaze"}
    assert {s.plan for s in portfolio.stores} == {"Starter", "Growth", "Enterprise"}


def test_contracts_follow_salesforce_end_dates_and_spread_out(portfolio: Portfolio) -> None:
    assert {c.store_id for c in portfolio.contracts} == {s.id for s in portfolio.stores}
    for c in portfolio.contracts:
        assert c.end_date == contract_end(c.start_date, c.term_months)
        assert c.start_date <= TODAY < c.end_date
    days_out = sorted((c.end_date - TODAY).days for c in portfolio.contracts)
    assert {30, 60, 90} <= set(days_out)
    assert days_out[-1] > 300  # spread over the coming years, not bunched


def test_history_is_complete_days_up_to_yesterday(portfolio: Portfolio) -> None:
    assert portfolio.history[0] == TODAY - timedelta(days=120)
    assert portfolio.history[-1] == TODAY - timedelta(days=1)
    assert portfolio.orders("NV-004", TODAY) == ()
    assert portfolio.orders("NV-004", TODAY - timedelta(days=121)) == ()
    for sid in ("NV-004", "MA-003"):
        for day in portfolio.history[-3:]:
            orders = portfolio.orders(sid, day)
            assert orders and all(o.placed_at < o.updated_at <= portfolio.now for o in orders)


def test_friday_is_the_heaviest_day_of_the_reference_calendar(portfolio: Portfolio) -> None:
    """Demand follows the reference calendar's weekdays (the story is the same on every date it runs)."""
    by_weekday: Counter[int] = Counter()
    for store in portfolio.stores[:12]:
        for day in portfolio.history[-56:]:
            s = portfolio.day_summary(store.id, day)
            by_weekday[reference_day(day, portfolio.today).weekday()] += s.online_orders + s.in_store_orders
    share = by_weekday[4] / sum(by_weekday.values())
    assert by_weekday.most_common(1)[0][0] == 4
    assert 0.17 <= share <= 0.22


def test_channels_aov_conversion_and_abandonment_are_realistic(portfolio: Portfolio) -> None:
    online: list[float] = []
    in_store: list[float] = []
    sessions = carts = orders = 0
    for store in portfolio.stores[:10]:
        for day in portfolio.history[-28:]:
            for o in portfolio.orders(store.id, day):
                if o.status == "completed":
                    (online if o.channel == "online" else in_store).append(o.total)
        for a in portfolio.analytics(store.id)[-28:]:
            sessions, carts, orders = sessions + a.sessions, carts + a.carts_created, orders + a.orders
    ratio = (sum(online) / len(online)) / (sum(in_store) / len(in_store))
    assert 1.2 <= ratio <= 1.4
    assert 0.028 <= orders / sessions <= 0.046
    assert 0.62 <= 1 - orders / carts <= 0.78


def test_every_category_sells_and_products_look_like_a_menu(portfolio: Portfolio) -> None:
    sold = {
        line.category
        for day in portfolio.history[-14:]
        for o in portfolio.orders("NV-004", day)
        for line in o.lines
    }
    assert sold == set(CATEGORIES)
    products = portfolio.products("NV-004")
    assert 55 <= len(products) <= 65
    assert len({p.brand for p in products}) >= 10
    for p in products:
        assert p.image_path == f"/images/NV-004/p{p.key:03d}.png"
        assert p.price > 0
        if p.category in MG_CATEGORIES:
            assert p.potency_unit == "mg" and p.package_thc_mg is not None and p.servings
        else:
            assert p.potency_unit == "%" and p.package_thc_mg is None


def test_menu_mirrors_the_pos(portfolio: Portfolio) -> None:
    products = {p.pos_id: p for p in portfolio.products("MA-003")}
    menu = portfolio.menu("MA-003")
    assert len(menu.items) == len(products)
    assert menu.last_menu_sync_at is not None and portfolio.now - menu.last_menu_sync_at < timedelta(hours=1)
    for item in menu.items:
        p = products[item.pos_product_id]
        assert (item.name, item.price, item.stock, item.visible, item.category) == (
            p.name,
            p.price,
            p.pos_stock,
            p.pos_online,
            p.category,
        )


def test_platform_funnel_matches_the_orders(portfolio: Portfolio) -> None:
    for a in portfolio.analytics("IL-001")[-20:]:
        orders = [
            o for o in portfolio.orders("IL-001", a.day) if o.channel == "online" and o.status == "completed"
        ]
        assert a.orders == len(orders)
        assert a.revenue == pytest.approx(sum(o.total for o in orders), abs=0.01)
        assert a.sessions >= a.carts_created >= a.checkouts_started >= a.orders


def test_metrc_mirrors_completed_pos_sales(portfolio: Portfolio) -> None:
    day = TODAY - timedelta(days=4)
    completed = [o for o in portfolio.orders("NV-004", day) if o.status == "completed"]
    receipts = portfolio.receipts("NV-004", day)
    assert [r.id for r in receipts] == [o.number for o in completed]
    assert sum(r.total_price for r in receipts) == pytest.approx(
        sum(o.subtotal - o.discount for o in completed)
    )


def test_billing_is_monthly_and_mostly_ach(portfolio: Portfolio) -> None:
    payments = [p for s in portfolio.stores for p in portfolio.payments(s.id)]
    assert Counter(p.method for p in payments).most_common(1)[0][0] == "ach"
    for store in ("NV-004", "MA-003"):
        invoices = portfolio.invoices(store)
        assert 4 <= len(invoices) <= 6
        gaps = {(b.issued_on - a.issued_on).days for a, b in zip(invoices, invoices[1:], strict=False)}
        assert gaps <= {28, 29, 30, 31}


def test_volume_knob_scales_orders() -> None:
    day = TODAY - timedelta(days=3)
    small = Portfolio(7, TODAY, orders_per_day=20)
    large = Portfolio(7, TODAY, orders_per_day=80)
    count_small = sum(len(small.orders(s.id, day)) for s in small.stores[:10])
    count_large = sum(len(large.orders(s.id, day)) for s in large.stores[:10])
    assert 3.2 <= count_large / count_small <= 4.8


def test_ten_thousand_stores_are_cheap_until_read() -> None:
    """Memory, not seconds (a timing would fail on a busy machine): the stores are made, their days are not
    (about 11 MB here; two weeks of orders generated up front would take gigabytes)."""
    tracemalloc.start()
    try:
        big = Portfolio(7, TODAY, stores=10_000, days=14)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20
    assert len({s.id for s in big.stores}) == 10_000
    generic = big.store("NV-1500")
    assert generic.parent_id is None or generic.parent_id.startswith("MSO-")
    assert big.orders(generic.id, TODAY - timedelta(days=1))
    assert big.history == tuple(TODAY - timedelta(days=d) for d in range(14, 0, -1))


def test_too_few_stores_for_the_scenarios_is_refused() -> None:
    with pytest.raises(ValueError, match="planted scenario"):
        Portfolio(7, TODAY, stores=20)


def test_today_defaults_now_to_noon_utc() -> None:
    p = Portfolio(7, date(2026, 1, 5))
    assert p.now.isoformat() == "2026-01-05T12:00:00+00:00"


def test_edibles_and_beverages_respect_the_states_serving_cap(portfolio: Portfolio) -> None:
    # The shipped state rules cap an edible serving (beverages included); the portfolio plants its
    # violations on purpose (NV-002's 200 mg gummies), so every other product must be within the cap.
    from sandbox.portfolio.catalog import STATES  # noqa: PLC0415

    checked = 0
    for store in portfolio.stores:
        if store.id == "NV-002":
            continue
        cap = STATES[store.state].edible_serving_mg
        for p in portfolio.products(store.id):
            if p.category in ("edibles", "beverages") and p.potency_unit == "mg":
                assert p.potency <= cap, (store.id, p.name, p.potency, cap)
                checked += 1
    ma = [p for p in portfolio.products("MA-001") if p.category == "beverages"]
    assert checked > 100 and ma and all(p.potency == 5.0 for p in ma)
