"""Daily sales: how many orders a store-day gets, the orders themselves, what the platform and Metrc see."""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sandbox.portfolio import catalog
from sandbox.portfolio.model import AnalyticsDay, DaySummary, Line, Order, Product, Receipt, Store
from sandbox.portfolio.scenarios import (
    LIMIT_ORDER_DAYS_AGO,
    LIMIT_ORDERS,
    ONLINE_DROP_SHARE,
    ONLINE_DROPS,
)
from sandbox.portfolio.seasons import HOUR_WEIGHTS, demand_factor, reference_day, rng, utc_midnight

UTC = ZoneInfo("UTC")
EPOCH = date(2020, 1, 1)
MENU_OUTAGE_DAYS = 2
MENU_OUTAGE_SHARE = 0.30  # online orders keep 30% of their same-weekday baseline
CATEGORY_DROP_DAYS = 7
CATEGORY_DROP_SHARE = 0.80  # each day keeps 80% of the same day a week earlier
CANCEL_RATE = 0.025
ITEMS_MEAN_EXTRA = {"online": 1.85, "in_store": 1.2}  # 1 + Poisson(λ) items: online AOV about 1.3x in-store


def _poisson_cum(lam: float, top: int = 10) -> list[float]:
    probs = [math.exp(-lam) * lam**k / math.factorial(k) for k in range(top)]
    return list(itertools.accumulate(probs))


_ITEM_CUM = {channel: _poisson_cum(lam) for channel, lam in ITEMS_MEAN_EXTRA.items()}
_HOUR_CUM = list(itertools.accumulate(w for _h, w in HOUR_WEIGHTS))
_HOURS = [h for h, _w in HOUR_WEIGHTS]


def trend_factor(store: Store, day: date, today: date) -> float:
    """Long-run direction of a store's demand, 1.0 at `today`; the health band shapes it."""
    weeks = (day - today).days / 7
    if store.scenario == "expansion_growth":
        return float((1.3 ** (1 / 8)) ** max(weeks, -8.0))  # flat, then +30% over the last 8 weeks
    if store.health == "red":
        return float(0.97 ** max(weeks, -8.0))  # ~3% a week down for the last 8 weeks
    if store.health == "yellow":
        return float(0.996**weeks)
    return float(1.006**weeks)


def expected_orders(store: Store, day: date, today: date, orders_per_day: float) -> tuple[float, float]:
    """Expected completed (online, in-store) orders before noise and planted incidents."""
    if store.sales_start is None or day < store.sales_start:
        return 0.0, 0.0
    demand = demand_factor(reference_day(day, today))
    base = orders_per_day * store.size * demand * trend_factor(store, day, today)
    since_start = (day - store.sales_start).days
    if store.onboarding_started_on and since_start < 14:
        base *= 0.45 + 0.55 * since_start / 14  # a new location ramps up over two weeks
    share = store.online_share if store.live_on is not None and day >= store.live_on else 0.0
    return base * share, base * (1 - share)


@dataclass(frozen=True, slots=True)
class DayPlan:
    day: date
    online: int  # completed online orders
    in_store: int
    canceled: int  # online orders canceled before pickup
    online_baseline: int  # online orders the day would have had without a planted incident
    excluded: frozenset[int] = frozenset()  # products not orderable online that day
    traffic: float = 1.0  # the site's sessions as a share of a usual day's


def build_plan(
    seed: int,
    store: Store,
    days: Sequence[date],
    today: date,
    orders_per_day: float,
    top_keys: frozenset[int],
) -> dict[date, DayPlan]:
    plans: dict[date, DayPlan] = {}
    for day in days:
        online_e, in_store_e = expected_orders(store, day, today, orders_per_day)
        if online_e == 0 and in_store_e == 0:
            continue
        r = rng(seed, "plan", store.id, reference_day(day, today))
        online = max(0, round(online_e * r.gauss(1, 0.06))) if online_e else 0
        in_store = max(0, round(in_store_e * r.gauss(1, 0.06)))
        if store.live_on == day:
            online = max(online, 1)  # go-live is the day of the first online order
        canceled = max(0, round(online * CANCEL_RATE + r.random() - 0.5)) if online else 0
        plans[day] = DayPlan(day, online, in_store, canceled, online)
    if store.scenario == "menu_sync_failure":
        for back in range(1, MENU_OUTAGE_DAYS + 1):
            day = today - timedelta(days=back)
            plan = plans.get(day)
            if plan is None:
                continue
            same_weekday = [plans[d].online for k in range(1, 5) if (d := day - timedelta(weeks=k)) in plans]
            baseline = statistics.median(same_weekday) if same_weekday else plan.online
            reduced = round(MENU_OUTAGE_SHARE * baseline)
            plans[day] = DayPlan(
                day, reduced, plan.in_store, min(plan.canceled, reduced), plan.online, top_keys
            )
    if store.scenario in ONLINE_DROPS:
        day = today - timedelta(days=1)
        plan = plans.get(day)
        if plan is not None:
            same_weekday = [plans[d].online for k in range(1, 5) if (d := day - timedelta(weeks=k)) in plans]
            reduced = round(
                ONLINE_DROP_SHARE * (statistics.median(same_weekday) if same_weekday else plan.online)
            )
            traffic = reduced / max(plan.online, 1) if ONLINE_DROPS[store.scenario] == "traffic" else 1.0
            plans[day] = DayPlan(
                day, reduced, plan.in_store, min(plan.canceled, reduced), plan.online, traffic=traffic
            )
    return plans


@dataclass
class DrawTable:
    keys: list[int]
    cum: list[float]

    @classmethod
    def of(cls, products: Sequence[Product], excluded: frozenset[int] = frozenset()) -> DrawTable:
        chosen = [p for p in products if p.key not in excluded]
        return cls([p.key for p in chosen], list(itertools.accumulate(p.weight for p in chosen)))

    def draw(self, u: float) -> int:
        return self.keys[min(bisect.bisect_right(self.cum, u * self.cum[-1]), len(self.keys) - 1)]


@dataclass
class SalesBook:
    """Everything needed to materialise a store's orders for any day of its history."""

    seed: int
    store: Store
    products: tuple[Product, ...]
    plan: dict[date, DayPlan]
    today: date
    now: datetime
    first_day: date
    unavailable: frozenset[int]  # hidden or out of stock on the menu (category-drop store)
    broken_images: frozenset[int]
    tables: dict[frozenset[int], DrawTable] = field(default_factory=dict)
    lines: dict[tuple[int, int], Line] = field(default_factory=dict)
    shares: dict[int, tuple[str, float]] = field(default_factory=dict)

    def line(self, key: int, qty: int) -> Line:
        """Lines are immutable, so one object per (product, quantity) serves every order."""
        found = self.lines.get((key, qty))
        if found is None:
            p = self.products[key]
            found = self.lines[(key, qty)] = Line(
                key,
                p.pos_id,
                p.menu_id,
                p.inventory_id,
                p.category,
                p.brand,
                qty,
                p.price,
                round(p.price * qty, 2),
                catalog.net_grams(p.name, p.category),
                p.package_thc_mg if p.category in catalog.MG_CATEGORIES else None,
            )
        return found

    def limit_share(self, key: int) -> tuple[str, float]:
        """What one unit of a product counts against a purchase limit: (group, grams or mg THC)."""
        found = self.shares.get(key)
        if found is None:
            p = self.products[key]
            group = catalog.LIMIT_GROUP.get(p.category, "")
            amount = (
                (p.package_thc_mg or 0.0)
                if group == "infused"
                else (catalog.net_grams(p.name, p.category) or 0.0)
            )
            found = self.shares[key] = (group if amount > 0 else "", amount)
        return found

    def fits(self, lines: dict[int, int], key: int, qty: int = 1) -> bool:
        """Whether `qty` more of a product keeps an order within the sale caps (catalog.SALE_CAPS)."""
        group, amount = self.limit_share(key)
        if not group:
            return True
        held = sum(q * a for k, q in lines.items() for g, a in (self.limit_share(k),) if g == group)
        return held + qty * amount <= catalog.SALE_CAPS[group]

    def table(self, excluded: frozenset[int]) -> DrawTable:
        found = self.tables.get(excluded)
        if found is None:
            found = self.tables[excluded] = DrawTable.of(self.products, excluded)
        return found


def make_orders(
    book: SalesBook, day: date, week_before: Callable[[date], tuple[Order, ...]]
) -> tuple[Order, ...]:
    """The store-day's orders, deterministic from (seed, store, day); `week_before` reads day - 7."""
    plan = book.plan.get(day)
    if plan is None or not book.products:
        return ()
    store = book.store
    r = rng(book.seed, "orders", store.id, reference_day(day, book.today))
    rand = r.random
    tz = ZoneInfo(store.timezone)
    offset = datetime.combine(day, time(12), tz).utcoffset() or timedelta(0)
    midnight = utc_midnight(day) - offset
    hour_total = _HOUR_CUM[-1]
    kinds: list[tuple[int, bool, bool]] = []  # (second of day, online, canceled)
    for online, count, canceled in (
        (True, plan.online, False),
        (True, plan.canceled, True),
        (False, plan.in_store, False),
    ):
        for _ in range(count):
            hour = _HOURS[bisect.bisect_right(_HOUR_CUM, rand() * hour_total)]
            kinds.append((hour * 3600 + int(rand() * 3600), online, canceled))
    kinds.sort(key=lambda k: k[0])
    all_table = book.table(frozenset())
    online_table = book.table(plan.excluded)
    limit_share = book.limit_share
    drafts: list[tuple[int, bool, bool, dict[int, int]]] = []
    for second, online, canceled in kinds:
        cum = _ITEM_CUM["online" if online else "in_store"]
        count = 1 + min(bisect.bisect_right(cum, rand() * cum[-1]), len(cum) - 1)
        table = online_table if online else all_table
        keys, weights = table.keys, table.cum
        top, last = weights[-1], len(keys) - 1
        lines: dict[int, int] = {}
        used: dict[str, float] = {}
        for _ in range(count):
            key = keys[min(bisect.bisect_right(weights, rand() * top), last)]
            qty = 2 if rand() < 0.08 else 1
            group, amount = limit_share(key)
            if group:  # the POS refuses what would take the sale past a purchase limit
                if used.get(group, 0.0) + qty * amount > catalog.SALE_CAPS[group]:
                    continue
                used[group] = used.get(group, 0.0) + qty * amount
            lines[key] = lines.get(key, 0) + qty
        drafts.append((second, online, canceled, lines))
    if store.scenario == "category_drop_edibles" and 0 < (book.today - day).days <= 2 * CATEGORY_DROP_DAYS:
        _steer_categories(book, drafts, day, week_before, rand)
    planted = LIMIT_ORDERS.get(store.id)
    if planted is not None and (book.today - day).days == LIMIT_ORDER_DAYS_AGO:
        _plant_limit_order(book, drafts, *planted)

    rate = catalog.STATES[store.state].tax_rate
    base_number = store.index * 1_000_000_000 + (day - EPOCH).days * 10_000
    customers = store.index * 100_000
    line_of = book.line
    now = book.now
    orders: list[Order] = []
    for second, online, canceled, lines in drafts:
        if not lines:
            continue  # every item it wanted was unavailable: the order was never placed
        if online:
            delay = (900 + int(rand() * 2700)) if canceled else (1200 + int(rand() * 4800))
        else:
            delay = 60 + int(rand() * 120)
        placed = midnight + timedelta(seconds=second)
        updated = midnight + timedelta(seconds=second + delay)
        if updated > now:
            continue
        order_lines = tuple([line_of(key, qty) for key, qty in lines.items()])
        subtotal = round(sum([line.total_price for line in order_lines]), 2)
        discount = round(subtotal * 0.10, 2) if rand() < 0.12 else 0.0
        tax = round((subtotal - discount) * rate, 2)
        orders.append(
            Order(  # positional: this is the hot loop of the portfolio
                base_number + len(orders),
                store.id,
                day,
                placed,
                updated,
                "online" if online else "in_store",
                "in_store" if not online else "delivery" if rand() < 0.18 else "pickup",
                "canceled" if canceled else "completed",
                order_lines,
                subtotal,
                discount,
                tax,
                round(subtotal - discount + tax, 2),
                customers + int(rand() * 4_000),
            )
        )
    return tuple(orders)


def _plant_limit_order(
    book: SalesBook, drafts: list[tuple[int, bool, bool, dict[int, int]]], category: str, quantity: int
) -> None:
    """The day's first completed online order becomes `quantity` of the store's first `category` product."""
    product = next((p for p in book.products if p.category == category), None)
    target = next((lines for _s, online, canceled, lines in drafts if online and not canceled), None)
    if product is None or target is None:
        return
    target.clear()
    target[product.key] = quantity


def _online_revenue_by_category(orders: Sequence[Order]) -> dict[str, float]:
    out: dict[str, float] = {}
    for order in orders:
        if order.channel == "online" and order.status == "completed":
            for line in order.lines:
                out[line.category] = out.get(line.category, 0.0) + line.total_price
    return out


def _steer_categories(
    book: SalesBook,
    drafts: list[tuple[int, bool, bool, dict[int, int]]],
    day: date,
    week_before: Callable[[date], tuple[Order, ...]],
    rand: Callable[[], float],
) -> None:
    """Planted category drop, measurable despite small daily volumes.

    Over the two weeks before `today`, each category's online revenue is steered to a target: in the
    first week to its expected value, in the last week to the same day a week earlier — times 80% for
    edibles, so edibles fall ~20% week over week while every other category holds. Hidden and
    out-of-stock edibles sell nothing online in the last week; broken-image edibles lose sales first.
    """
    products = book.products
    online = [lines for _s, is_online, canceled, lines in drafts if is_online and not canceled]
    if not online:
        return
    dropped = (book.today - day).days <= CATEGORY_DROP_DAYS
    previous = day - timedelta(days=7)
    before = (
        _online_revenue_by_category(week_before(previous)) if dropped and previous >= book.first_day else None
    )
    everything = book.table(frozenset())
    per_order = (1 + ITEMS_MEAN_EXTRA["online"]) * 1.08 / everything.cum[-1]
    for category in catalog.CATEGORIES:
        edibles = category == "edibles"
        if before is not None:
            target = before.get(category, 0.0)
        else:
            target = (
                len(online) * per_order * sum(p.weight * p.price for p in products if p.category == category)
            )
        if edibles and dropped:
            target *= CATEGORY_DROP_SHARE
        forced = book.unavailable if edibles and dropped else frozenset()
        first = book.broken_images if edibles else frozenset()
        _steer(book, online, category, target, forced, first, rand)


def _steer(
    book: SalesBook,
    online: list[dict[int, int]],
    category: str,
    target: float,
    forced: frozenset[int],
    first: frozenset[int],
    rand: Callable[[], float],
) -> None:
    """Move one category's online revenue to within half a line of `target`: drop `forced` products'
    lines, then drop lines (`first` products before others) or add lines to random orders."""
    products = book.products
    current = sum(
        products[k].price * q
        for lines in online
        for k, q in lines.items()
        if products[k].category == category
    )

    def rank(key: int) -> int:
        return 0 if key in forced else 1 if key in first else 2

    lines_of_category = sorted(
        (rank(k), i, k) for i, lines in enumerate(online) for k in lines if products[k].category == category
    )
    for priority, i, key in lines_of_category:
        removal = products[key].price * online[i][key]
        if priority > 0 and current - removal / 2 <= target:
            continue  # removing this line would overshoot more than keeping it; a smaller one may fit
        current -= removal
        del online[i][key]
    others = frozenset(p.key for p in products if p.category != category)
    addable = book.table(others | forced | first)
    if not addable.keys:
        return
    for _ in range(10_000):
        key = addable.draw(rand())
        price = products[key].price
        if current + price / 2 > target:
            break
        lines = online[int(rand() * len(online))]
        if not book.fits(lines, key):
            continue  # the POS would refuse it: past a purchase limit
        lines[key] = lines.get(key, 0) + 1
        current += price


def summarize(day: date, orders: Sequence[Order]) -> DaySummary:
    online = [o for o in orders if o.channel == "online" and o.status == "completed"]
    in_store = [o for o in orders if o.channel == "in_store"]
    return DaySummary(
        day,
        len(online),
        round(sum(o.total for o in online), 2),
        len(in_store),
        round(sum(o.total for o in in_store), 2),
        sum(1 for o in orders if o.channel == "online" and o.status == "canceled"),
    )


def analytics_day(
    seed: int, store: Store, plan: DayPlan | None, summary: DaySummary, now: datetime, today: date
) -> AnalyticsDay:
    """The platform's funnel for a day: traffic follows the baseline, orders are the real ones."""
    r = rng(seed, "analytics", store.id, reference_day(summary.day, today))
    baseline = max(plan.online_baseline if plan else 0, summary.online_orders, 1)
    traffic = plan.traffic if plan is not None else 1.0  # fewer visitors: fewer sessions and carts
    sessions = round(baseline * traffic / store.conversion * r.gauss(1, 0.05))
    carts = round(baseline * traffic / (1 - store.abandonment) * r.gauss(1, 0.05))
    if plan is not None and plan.excluded:
        carts = round(carts * 0.75)  # shoppers who cannot find their usual items leave earlier
    orders = summary.online_orders
    checkouts = max(orders, round(orders / 0.62 * r.gauss(1, 0.04)))
    carts = max(carts, checkouts)
    sessions = max(sessions, carts)
    updated = min(
        now, utc_midnight(summary.day + timedelta(days=1)) + timedelta(hours=6, minutes=r.randint(0, 50))
    )
    return AnalyticsDay(summary.day, sessions, carts, checkouts, orders, summary.online_revenue, updated)


def receipt(order: Order, now: datetime) -> Receipt:
    """Metrc's record of a completed sale: pre-tax amount, no channel."""
    modified = order.placed_at + timedelta(minutes=2 + order.number % 13)
    return Receipt(
        id=order.number,
        receipt_number=f"{order.number % 10**10:010d}",
        sales_at=order.placed_at,
        packages=order.items,
        total_price=round(order.subtotal - order.discount, 2),
        is_final=modified < now - timedelta(days=1),
        last_modified=min(modified, now),
    )
