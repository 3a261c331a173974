"""The demo portfolio: a deterministic book of business, built eagerly where small and lazily where large."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Generic, TypeVar

from sandbox.portfolio import assortment, backoffice, sales
from sandbox.portfolio.model import (
    AnalyticsDay,
    Contract,
    DaySummary,
    Invoice,
    Menu,
    Mso,
    MsrpItem,
    NpsResponse,
    Opportunity,
    Order,
    Payment,
    Product,
    Promotion,
    Receipt,
    Store,
    Ticket,
    UsageDay,
    User,
)
from sandbox.portfolio.roster import build_roster
from sandbox.portfolio.scenarios import METRC_GAPS, Touch, touchpoints

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Lru(Generic[K, V]):
    """A bounded, thread-safe memo: values are deterministic, so a rare double computation is harmless."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, make: Callable[[], V]) -> V:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
        value = make()
        with self._lock:
            self._data[key] = value
            if len(self._data) > self._size:
                self._data.popitem(last=False)
        return value


@dataclass(frozen=True, slots=True)
class StoreBook:
    """One store's derived detail (everything but the orders, which are made per day)."""

    products: tuple[Product, ...]
    menu: Menu
    promotions: tuple[Promotion, ...]
    sales: sales.SalesBook


class Portfolio:
    """~40 dispensaries in NV, AZ, IL, CA, MI and MA, `days` of history up to yesterday, scenarios planted.

    Deterministic from (seed, today, stores, days, volume knobs): the roster (stores, MSOs, users,
    contracts) is built at once; per-store detail and per-day orders are derived on demand from seeded
    generators and memoised in bounded caches, so 10,000 stores cost little until they are read.
    History covers the stores' local days `today - days` … `today - 1`; `now` defaults to noon UTC today.
    """

    def __init__(
        self,
        seed: int = 7,
        today: date | None = None,
        stores: int = 40,
        days: int = 120,
        *,
        orders_per_day: float = 50.0,
        products_per_store: int = 60,
        now: datetime | None = None,
        cache_stores: int = 512,
        cache_days: int = 4_096,
    ) -> None:
        if days < 1:
            raise ValueError("days must be at least 1 (35+ for the planted baselines to be measurable)")
        self.seed = seed
        self.today = today or datetime.now(UTC).date()
        self.now = now or datetime.combine(self.today, time(12, 0), UTC)
        self.days = days
        self.orders_per_day = orders_per_day
        self.products_per_store = products_per_store
        self.history: tuple[date, ...] = tuple(self.today - timedelta(days=d) for d in range(days, 0, -1))
        roster = build_roster(seed, self.today, stores, orders_per_day)
        self.users: tuple[User, ...] = roster.users
        self.msos: tuple[Mso, ...] = roster.msos
        self.stores: tuple[Store, ...] = roster.stores
        self.contracts: tuple[Contract, ...] = roster.contracts
        self.opportunities: tuple[Opportunity, ...] = roster.opportunities
        self._stores = {s.id: s for s in self.stores}
        self._contracts = {c.store_id: c for c in self.contracts}
        self._books: _Lru[str, StoreBook] = _Lru(cache_stores)
        self._orders: _Lru[tuple[str, date], tuple[Order, ...]] = _Lru(cache_days)
        # A paged API asks for the same window once a page: it is cut and sorted once.
        self._between: _Lru[tuple[str, str, str, str], tuple[Order, ...]] = _Lru(64)
        self._summaries: _Lru[tuple[str, date], DaySummary] = _Lru(max(cache_days, 200_000))
        self._usage: _Lru[str, tuple[UsageDay, ...]] = _Lru(cache_stores)
        self._tickets: _Lru[str, tuple[Ticket, ...]] = _Lru(cache_stores)
        self._nps: _Lru[str, tuple[NpsResponse, ...]] = _Lru(cache_stores)
        self._bills: _Lru[str, backoffice.Billing] = _Lru(cache_stores)

    # --- roster -------------------------------------------------------------------------------
    def store(self, store_id: str) -> Store:
        try:
            return self._stores[store_id]
        except KeyError:
            raise KeyError(f"no store {store_id!r} in the portfolio") from None

    def has_store(self, store_id: str) -> bool:
        return store_id in self._stores

    def contract(self, store_id: str) -> Contract:
        return self._contracts[store_id]

    def user(self, key: str) -> User:
        return next(u for u in self.users if u.key == key)

    @property
    def csms(self) -> tuple[User, ...]:
        return tuple(u for u in self.users if u.role == "csm")

    @property
    def account_managers(self) -> tuple[User, ...]:
        return tuple(u for u in self.users if u.role == "account_manager")

    def stores_of(self, parent_id: str) -> tuple[Store, ...]:
        return tuple(s for s in self.stores if s.parent_id == parent_id)

    # --- per store ----------------------------------------------------------------------------
    def _book(self, store_id: str) -> StoreBook:
        return self._books.get(store_id, lambda: self._make_book(self.store(store_id)))

    def _make_book(self, store: Store) -> StoreBook:
        products = assortment.build_products(self.seed, store, self.now, self.products_per_store)
        top = frozenset(p.key for p in assortment.top_sellers(products))
        plan = sales.build_plan(self.seed, store, self.history, self.today, self.orders_per_day, top)
        drop = store.scenario == "category_drop_edibles"
        book = sales.SalesBook(
            seed=self.seed,
            store=store,
            products=products,
            plan=plan,
            today=self.today,
            now=self.now,
            first_day=self.history[0],
            unavailable=assortment.unavailable_online(products) if drop else frozenset(),
            broken_images=frozenset(p.key for p in products if not p.image_ok),
        )
        menu = assortment.build_menu(self.seed, store, products, self.today, self.now)
        return StoreBook(products, menu, assortment.build_promotions(self.seed, store, self.today), book)

    def products(self, store_id: str) -> tuple[Product, ...]:
        return self._book(store_id).products

    def menu(self, store_id: str) -> Menu:
        return self._book(store_id).menu

    def promotions(self, store_id: str) -> tuple[Promotion, ...]:
        return self._book(store_id).promotions

    def orders(self, store_id: str, day: date) -> tuple[Order, ...]:
        """The store's orders of one local day (completed and canceled, both channels)."""
        if day < self.history[0] or day > self.history[-1]:
            return ()
        return self._orders.get(
            (store_id, day),
            lambda: sales.make_orders(self._book(store_id).sales, day, lambda d: self.orders(store_id, d)),
        )

    def orders_between(
        self, store_id: str, start: datetime, end: datetime, attr: str = "updated_at"
    ) -> list[Order]:
        """Orders whose `attr` time lies in [start, end], oldest first."""
        key = (store_id, start.isoformat(), end.isoformat(), attr)  # equal instants in two zones differ
        return list(self._between.get(key, lambda: self._orders_between(store_id, start, end, attr)))

    def _orders_between(self, store_id: str, start: datetime, end: datetime, attr: str) -> tuple[Order, ...]:
        first = max(self.history[0], start.date() - timedelta(days=2))
        last = min(self.history[-1], end.date() + timedelta(days=1))
        out: list[Order] = []
        day = first
        while day <= last:
            out.extend(o for o in self.orders(store_id, day) if start <= getattr(o, attr) <= end)
            day += timedelta(days=1)
        out.sort(key=lambda o: (getattr(o, attr), o.number))
        return tuple(out)

    def day_summary(self, store_id: str, day: date) -> DaySummary:
        return self._summaries.get((store_id, day), lambda: sales.summarize(day, self.orders(store_id, day)))

    def analytics(self, store_id: str) -> tuple[AnalyticsDay, ...]:
        store = self.store(store_id)
        if store.live_on is None:
            return ()
        plan = self._book(store_id).sales.plan
        return tuple(
            sales.analytics_day(
                self.seed, store, plan.get(day), self.day_summary(store_id, day), self.now, self.today
            )
            for day in self.history
            if day >= store.live_on
        )

    def receipts(self, store_id: str, day: date) -> tuple[Receipt, ...]:
        """Metrc's receipts for a day's completed sales (whatever the POS feed shows), less the sales a
        store planted with a reporting gap did not report (scenarios.METRC_GAPS)."""
        out = [sales.receipt(o, self.now) for o in self.orders(store_id, day) if o.status == "completed"]
        gap = METRC_GAPS.get(store_id, {}).get((self.today - day).days)
        if gap == "all":
            return ()
        if gap == "every_other":
            return tuple(out[::2])
        if gap == "smallest" and out:
            smallest = min(out, key=lambda r: (r.total_price, r.id))
            return tuple(r for r in out if r is not smallest)
        return tuple(out)

    def usage(self, store_id: str) -> tuple[UsageDay, ...]:
        store = self.store(store_id)
        return self._usage.get(
            store_id, lambda: backoffice.usage_days(self.seed, store, self.history, self.now)
        )

    def tickets(self, store_id: str) -> tuple[Ticket, ...]:
        store = self.store(store_id)
        return self._tickets.get(
            store_id, lambda: backoffice.tickets(self.seed, store, self.history, self.now)
        )

    def nps(self, store_id: str) -> tuple[NpsResponse, ...]:
        store = self.store(store_id)
        return self._nps.get(
            store_id, lambda: backoffice.nps_responses(self.seed, store, self.history, self.now)
        )

    def touchpoints(self, store_id: str) -> tuple[Touch, ...]:
        """The calls, emails and meetings logged on the store's account (scenarios.TOUCHPOINTS)."""
        return touchpoints(store_id, self.store(store_id).index)

    def _billing(self, store_id: str) -> backoffice.Billing:
        store = self.store(store_id)
        return self._bills.get(
            store_id,
            lambda: backoffice.billing(
                self.seed, store, self.contract(store_id), self.today, self.now, self.history[0]
            ),
        )

    def invoices(self, store_id: str) -> tuple[Invoice, ...]:
        return self._billing(store_id).invoices

    def payments(self, store_id: str) -> tuple[Payment, ...]:
        return self._billing(store_id).payments

    # --- catalogue ----------------------------------------------------------------------------
    @staticmethod
    def brands() -> tuple[str, ...]:
        return tuple(sorted(assortment.msrp_lists()))

    @staticmethod
    def msrp(brand: str) -> tuple[MsrpItem, ...] | None:
        return assortment.msrp_lists().get(brand)
