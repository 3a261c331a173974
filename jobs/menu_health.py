"""Menu health: top POS sellers unavailable online, hidden/out-of-stock items, broken images (derived)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import groupby
from typing import Any

import structlog

from connectors.base import Fact
from connectors.images import CheckFn, HeadFn, ImageChecker, check_all, plain
from connectors.platform import IMAGE_CHECK_CONCURRENCY, IMAGE_MAX_AGE_HOURS
from connectors.values import Invalid, dimension, json_safe, zone
from state import facts, image_checks
from state import stores as store_directory
from state.engine import Engine, chunks

log = structlog.get_logger(__name__)

SOURCE = "derived"
STREAM = "menu_health"
MENU_SYNC = "menu_sync"  # the freshness row the platform's last_menu_sync_at is kept in
LIST_LIMIT = 50  # evidence lists are capped; the counts are not
STORE_GROUP = 250  # stores whose menus are held at once (a shard's worth at the default shard size)
SALES_BATCH = 2000  # POS sales rows fetched at a time while a group's sales stream past
IMAGE_MAX_AGE = timedelta(hours=IMAGE_MAX_AGE_HOURS)  # a link is rechecked after this age, not each new day
VALIDATORS_KEPT = timedelta(days=7)  # a stale check's ETag / Last-Modified are used this long past the age


@dataclass(frozen=True)
class TopSeller:
    product_id: str
    name: str
    category: str
    units: float  # POS units over the window
    pos_stock: float
    menu_state: str  # ok | missing | out_of_stock | hidden

    @property
    def unavailable(self) -> bool:
        return self.pos_stock > 0 and self.menu_state != "ok"

    def data(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "name": self.name,
            "category": self.category,
            "units": self.units,
            "pos_stock": self.pos_stock,
            "menu_state": self.menu_state,
        }


@dataclass(frozen=True)
class StoreMenuHealth:
    """One store's menu health on one day: counts (the facts) and the evidence behind them (the attrs)."""

    store_id: str
    day: date
    counts: Mapping[tuple[str, str], float]  # (metric, dimension) → value
    top_sellers: tuple[TopSeller, ...]
    broken_images: tuple[Mapping[str, Any], ...]
    hidden: tuple[str, ...]
    out_of_stock: tuple[str, ...]
    last_menu_sync_at: datetime | None
    has_pos_sales: bool
    # category → "Name (hidden, broken image)" per item unavailable online: what evidence names
    unavailable_by_category: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def unavailable(self) -> tuple[TopSeller, ...]:
        return tuple(t for t in self.top_sellers if t.unavailable)

    def facts(self) -> tuple[Fact, ...]:
        return tuple(Fact(m, v, d) for (m, d), v in sorted(self.counts.items()))

    def attrs(self, now: datetime, window_days: int, top_n: int) -> dict[str, Any]:
        sync = self.last_menu_sync_at
        out: dict[str, Any] = json_safe(
            {
                "checked_at": now.astimezone(UTC).isoformat(),
                "window_days": window_days,
                "top_n": top_n,
                "has_pos_sales": self.has_pos_sales,
                "last_menu_sync_at": sync.astimezone(UTC).isoformat() if sync else None,
                "menu_sync_age_hours": round((now - sync).total_seconds() / 3600, 2) if sync else None,
                "top_sellers": [t.data() for t in self.top_sellers],
                "top_sellers_unavailable": [t.data() for t in self.unavailable],
                "broken_images": list(self.broken_images[:LIST_LIMIT]),
                "hidden": list(self.hidden[:LIST_LIMIT]),
                "out_of_stock": list(self.out_of_stock[:LIST_LIMIT]),
                "unavailable_by_category": {
                    c: list(names[:LIST_LIMIT]) for c, names in sorted(self.unavailable_by_category.items())
                },
            }
        )
        return out


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _menu_state(items: Sequence[Mapping[str, Any]]) -> str:
    if not items:
        return "missing"
    states = [
        "hidden" if not i.get("visible", True) else "out_of_stock" if _num(i.get("stock")) <= 0 else "ok"
        for i in items
    ]
    for state in ("ok", "out_of_stock", "hidden"):
        if state in states:
            return state
    return "missing"


def assess(
    store_id: str,
    day: date,
    menu: Sequence[Mapping[str, Any]],
    sales: Iterable[Mapping[str, Any]],
    stock: Iterable[Mapping[str, Any]],
    image_status: Mapping[str, int],
    last_menu_sync_at: datetime | None = None,
    top_n: int = 10,
) -> StoreMenuHealth:
    """Pure: a store's menu items, POS sales lines (transaction attrs), POS stock rows and image statuses."""
    counts: dict[tuple[str, str], float] = {}

    def add(metric: str, category: str, value: float = 1.0) -> None:
        for dim in ("", dimension(category=category)):
            counts[(metric, dim)] = counts.get((metric, dim), 0.0) + value

    for metric in ("menu_items", "menu_items_hidden", "menu_items_out_of_stock", "menu_broken_images"):
        counts[(metric, "")] = 0.0
    broken: list[Mapping[str, Any]] = []
    hidden: list[str] = []
    out_of_stock: list[str] = []
    by_pos_id: dict[str, list[Mapping[str, Any]]] = {}
    by_category: dict[str, list[str]] = {}
    for item in menu:
        category = str(item.get("category") or "other")
        name = str(item.get("name") or item.get("id") or "")
        add("menu_items", category)
        why: list[str] = []
        if not item.get("visible", True):
            add("menu_items_hidden", category)
            hidden.append(name)
            why.append("hidden")
        if _num(item.get("stock")) <= 0:
            add("menu_items_out_of_stock", category)
            out_of_stock.append(name)
            why.append("out of stock")
        url = str(item.get("image_url") or "")
        status = image_status.get(url, 0) if url else None
        if status != 200:
            why.append("broken image")
            add("menu_broken_images", category)
            broken.append(
                {
                    "item_id": item.get("id"),
                    "name": name,
                    "category": category,
                    "image_url": url,
                    "status": status,
                }
            )
        if why:
            by_category.setdefault(category, []).append(f"{name} ({', '.join(why)})")
        pos_id = str(item.get("pos_product_id") or "")
        if pos_id:
            by_pos_id.setdefault(pos_id, []).append(item)

    units: dict[str, float] = {}
    categories: dict[str, str] = {}
    for sale in sales:
        if sale.get("completed") is False or sale.get("is_void") is True:
            continue  # a voided or open sale sold nothing (its record stays, without facts)
        for line in sale.get("items") or ():
            if not isinstance(line, Mapping):
                continue
            pid = str(line.get("product_id") or "")
            if pid:
                units[pid] = units.get(pid, 0.0) + _num(line.get("quantity"))
                categories.setdefault(pid, str(line.get("category") or "other"))
    pos_stock: dict[str, float] = {}
    names: dict[str, str] = {}
    for row in stock:
        pid = str(row.get("product_id") or "")
        if pid:
            pos_stock[pid] = pos_stock.get(pid, 0.0) + _num(row.get("quantity"))
            names.setdefault(pid, str(row.get("name") or ""))
            if row.get("category"):
                categories.setdefault(pid, str(row["category"]))
    ranked = sorted((u, pid) for pid, u in units.items() if u > 0)
    ranked.sort(key=lambda t: (-t[0], t[1]))
    top = tuple(
        TopSeller(
            pid,
            names.get(pid)
            or next((str(i.get("name")) for i in by_pos_id.get(pid, ()) if i.get("name")), pid),
            categories.get(pid, "other"),
            round(u, 3),
            pos_stock.get(pid, 0.0),
            _menu_state(by_pos_id.get(pid, ())),
        )
        for u, pid in ranked[:top_n]
    )
    if units:
        counts[("menu_top_sellers_unavailable", "")] = 0.0
        for seller in top:
            if seller.unavailable:
                add("menu_top_sellers_unavailable", seller.category)
    return StoreMenuHealth(
        store_id,
        day,
        counts,
        top,
        tuple(broken),
        tuple(hidden),
        tuple(out_of_stock),
        last_menu_sync_at,
        bool(units),
        {c: tuple(sorted(names)) for c, names in by_category.items()},
    )


@dataclass(frozen=True)
class MenuHealthReport:
    run_id: str
    stores: tuple[StoreMenuHealth, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)  # store → why no assessment
    images_checked: int = 0
    images_unchanged: int = 0  # of those, conditional rechecks answered 304 (no body sent)
    seconds: float = 0.0


def _image_statuses(
    engine: Engine,
    urls: Collection[str],
    day: date,
    now: datetime,
    check: CheckFn,
    concurrency: int,
    max_age: timedelta,
) -> tuple[dict[str, int], int, int]:
    """Each URL's status, reused while younger than `max_age`, else checked again (conditionally when
    the last check kept validators); also the checks made and how many were answered 304."""
    stale_at = now - max_age
    cached = image_checks.latest(engine, urls, stale_at)
    older = [u for u in urls if u not in cached]
    if older:  # a second, wider read only for the links not checked within the age's days
        cached.update(image_checks.latest(engine, older, stale_at - VALIDATORS_KEPT))
    statuses = {u: c.status for u, (at, c) in cached.items() if at > stale_at}
    due = {u: cached[u][1] if u in cached else None for u in urls if u not in statuses}
    checked = check_all(due, check, concurrency)
    image_checks.record(engine, checked, day, now)
    statuses.update({u: c.status for u, c in checked.items()})
    return statuses, len(checked), sum(c.unchanged for c in checked.values())


def run_menu_health(
    engine: Engine,
    now: datetime,
    *,
    head: HeadFn | None = None,
    concurrency: int = IMAGE_CHECK_CONCURRENCY,
    top_n: int = 10,
    window_days: int = 14,
    menu_source: str = "platform",
    pos_sources: Collection[str] | None = None,
    stores: Collection[str] | None = None,
    run_id: str = "",
    ca_bundle: str = "",
    image_timeout: float = 10.0,
    image_max_age: timedelta = IMAGE_MAX_AGE,
    clock: Callable[[], float] = time.perf_counter,
) -> MenuHealthReport:
    """Assess every store with menu data; write one `derived`/`menu_health` record and its facts per store.

    `head(url) -> status` is injectable; by default one session checks links, `concurrency` at a time,
    verifying TLS (with `ca_bundle` when the image host uses a private CA, as the sandbox does).
    A link checked less than `image_max_age` ago is not checked again; an older one is rechecked with
    If-None-Match / If-Modified-Since when its last 200 carried validators; a changed link is a new URL.
    """
    started = clock()
    run_id = run_id or f"menu-health-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    image_checks.ensure_table(engine)
    directory: dict[str, str | None] = dict(store_directory.timezones(engine))
    wanted = [s for s in sorted(directory) if stores is None or s in stores]
    checker = None
    check: CheckFn
    if head is None:
        checker = ImageChecker(timeout=image_timeout, ca_bundle=ca_bundle, concurrency=concurrency)
        check = checker.check
    else:
        check = plain(head)
    results: list[StoreMenuHealth] = []
    skipped: dict[str, str] = {}
    checked = unchanged = 0
    day = now.astimezone(UTC).date()
    try:
        # A group of stores at a time, so memory follows the group, not the portfolio or the shard.
        for group in chunks(wanted, STORE_GROUP):
            menus, syncs = _menus(engine, group, menu_source)
            skipped.update({s: "no menu items pulled" for s in group if s not in menus})
            urls = {str(i.get("image_url")) for items in menus.values() for i in items if i.get("image_url")}
            statuses, made, not_modified = _image_statuses(
                engine, urls, day, now, check, concurrency, image_max_age
            )
            checked += made
            unchanged += not_modified
            results.extend(
                _assess_group(
                    engine, [s for s in group if s in menus], directory, menus, syncs, statuses,
                    now=now, window_days=window_days, top_n=top_n,
                    menu_source=menu_source, pos_sources=pos_sources,
                )
            )  # fmt: skip
    finally:
        if checker is not None:
            checker.close()
    report = MenuHealthReport(run_id, tuple(results), skipped, checked, unchanged, clock() - started)
    log.info(
        "menu_health_done",
        run_id=run_id,
        stores=len(results),
        skipped=len(skipped),
        images_checked=checked,
        images_unchanged=unchanged,
    )
    return report


def _menus(
    engine: Engine, stores: Sequence[str], menu_source: str
) -> tuple[dict[str, list[Mapping[str, Any]]], dict[str, datetime]]:
    """These stores' menu items and last menu syncs (500 stores to a query)."""
    menus: dict[str, list[Mapping[str, Any]]] = {}
    syncs: dict[str, datetime] = {}
    with facts.reading(engine) as reads:
        for chunk in chunks(stores, 500):
            for store_id, _, _, _, attrs in reads.records(chunk, ("menu_items",), sources=(menu_source,)):
                menus.setdefault(store_id, []).append(attrs)
            for store_id, _, newest, _, _ in reads.freshness(chunk, MENU_SYNC):
                if newest is not None:
                    syncs[store_id] = newest
    return menus, syncs


def _assess_group(
    engine: Engine,
    stores: Sequence[str],
    directory: Mapping[str, str | None],
    menus: Mapping[str, Sequence[Mapping[str, Any]]],
    syncs: Mapping[str, datetime],
    statuses: Mapping[str, int],
    *,
    now: datetime,
    window_days: int,
    top_n: int,
    menu_source: str,
    pos_sources: Collection[str] | None,
) -> list[StoreMenuHealth]:
    """Assess a group of stores with a few queries and one write for the group, not a few per store.

    Stock is held for the group (as its menus are); sales are streamed and assessed a store at a
    time, so the group's POS history is never in memory at once.
    """
    if not stores:
        return []
    zones: dict[str, tzinfo] = {}
    today: dict[str, date] = {}
    for store_id in stores:
        tz_name = directory.get(store_id) or "UTC"
        if tz_name not in zones:
            try:
                zones[tz_name] = zone(tz_name)
            except Invalid:
                zones[tz_name] = UTC
        today[store_id] = now.astimezone(zones[tz_name]).date()
    first_day = {s: d - timedelta(days=window_days - 1) for s, d in today.items()}
    pos: dict[str, Any] = (
        {"not_sources": (menu_source, SOURCE)} if pos_sources is None else {"sources": pos_sources}
    )

    stocks: dict[str, list[Mapping[str, Any]]] = {}  # the current chunk's POS stock rows, by store
    assessed: dict[str, StoreMenuHealth] = {}

    def assess_one(store_id: str, sales: Sequence[Mapping[str, Any]]) -> StoreMenuHealth:
        sync = syncs.get(store_id)
        if sync is not None and sync.tzinfo is None:
            sync = sync.replace(tzinfo=UTC)
        stock = stocks.get(store_id, [])
        return assess(store_id, today[store_id], menus[store_id], sales, stock, statuses, sync, top_n)

    with facts.reading(engine, yield_per=SALES_BATCH) as reads:
        for chunk in chunks(stores, 500):
            stocks.clear()
            for store_id, _, _, _, attrs in reads.records(
                chunk, ("inventory",), by_store_and_day=True, **pos
            ):
                stocks.setdefault(store_id, []).append(attrs)
            # Windows start on different days across time zones: read from the earliest start and
            # drop each store's rows before its own. Ordered by store, so a store's rows are adjacent.
            rows = reads.records(
                chunk,
                ("transactions",),
                since=min(first_day[s] for s in chunk),
                by_store_and_day=True,
                **pos,
            )
            for store_id, store_rows in groupby(rows, key=lambda r: str(r[0])):
                since = first_day[store_id]
                assessed[store_id] = assess_one(store_id, [r[4] for r in store_rows if r[3] >= since])
            for store_id in chunk:
                if store_id not in assessed:  # no sales in the window
                    assessed[store_id] = assess_one(store_id, [])
    healths = [assessed[s] for s in stores]
    _write(engine, healths, now, window_days, top_n)
    for health in healths:
        log.info(
            "menu_health_store_done",
            store=health.store_id,
            top_sellers_unavailable=len(health.unavailable),
            broken_images=int(health.counts.get(("menu_broken_images", ""), 0)),
        )
    return healths


def _write(
    engine: Engine, healths: Sequence[StoreMenuHealth], now: datetime, window_days: int, top_n: int
) -> None:
    """Upsert the stores' derived records for their days and rebuild their facts in one transaction."""
    facts.replace_derived(
        engine,
        SOURCE,
        STREAM,
        {
            f"{health.store_id}:{health.day.isoformat()}": {
                "store_id": health.store_id,
                "day": health.day,
                "occurred_at": now.astimezone(UTC),
                "facts": [[f.metric, f.dimension, f.value] for f in health.facts()],
                "attrs": health.attrs(now, window_days, top_n),
                "pulled_at": now,
            }
            for health in healths
        },
    )
