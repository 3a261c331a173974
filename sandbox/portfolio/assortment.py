"""What a store sells: its POS products, the online menu mirroring them, promotions and brand MSRP lists."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from sandbox.portfolio import catalog
from sandbox.portfolio.model import Menu, MenuItem, MsrpItem, Product, Promotion, Store
from sandbox.portfolio.seasons import rng, stable_unit

TOP_SELLERS = 5
TOP_SELLER_BOOST = 2.2  # a store's house favourites outsell the rest clearly
MSRP_TOLERANCE_PERCENT = 10.0
_NAMESPACE = uuid.UUID("3f7a4b52-8a51-4c3e-9d1e-5b2b2d7c9e10")


@dataclass(frozen=True, slots=True)
class CatalogItem:
    brand: str
    name: str
    category: str
    msrp: float
    potency_low: float
    potency_high: float
    serving_mg: float | None  # mg categories: THC per serving
    servings: int | None
    package_mg: float | None


# Categories a state's edible serving cap applies to (as the shipped state rules check them).
SERVING_CAPPED = frozenset({"edibles", "beverages"})


def _msrp(brand: str, name: str, low: float, high: float) -> float:
    value = low + stable_unit("msrp", brand, name) * (high - low)
    return max(0.99, round(value) - 0.01)


@cache
def catalog_items() -> dict[str, tuple[CatalogItem, ...]]:
    """Every brand product in the country, by category (fixed: MSRP lists must not depend on the seed)."""
    items: dict[str, list[CatalogItem]] = {c: [] for c in catalog.CATEGORIES}
    for line in catalog.BRAND_LINES:
        for base in line.names:
            name = line.pattern.format(name=base)
            serving: float | None = None
            package: float | None = None
            servings: int | None = None
            if line.category in catalog.MG_CATEGORIES:
                step = 5.0
                serving = line.potency_low + step * int(stable_unit("mg", line.brand, name) * 2)
                serving = min(serving, line.potency_high)
                servings = line.servings
                package = serving * servings
                name = f"{name} {package:g}mg"
            items[line.category].append(
                CatalogItem(
                    line.brand,
                    name,
                    line.category,
                    _msrp(line.brand, name, line.msrp_low, line.msrp_high),
                    line.potency_low,
                    line.potency_high,
                    serving,
                    servings,
                    package,
                )
            )
    return {c: tuple(v) for c, v in items.items()}


@cache
def msrp_lists() -> dict[str, tuple[MsrpItem, ...]]:
    lists: dict[str, list[MsrpItem]] = {}
    for items in catalog_items().values():
        for item in items:
            lists.setdefault(item.brand, []).append(MsrpItem(item.name, item.msrp, MSRP_TOLERANCE_PERCENT))
    return {brand: tuple(v) for brand, v in lists.items()}


def category_mix(state: str) -> dict[str, float]:
    tilt = catalog.STATE_MIX_TILT.get(state, {})
    raw = {c: share * tilt.get(c, 1.0) for c, share in catalog.CATEGORY_MIX.items()}
    total = sum(raw.values())
    return {c: v / total for c, v in raw.items()}


def build_products(seed: int, store: Store, now: datetime, per_store: int) -> tuple[Product, ...]:
    """The store's POS catalogue now; empty while the POS is not integrated."""
    if store.sales_start is None:
        return ()
    r = rng(seed, "products", store.id)
    mix = category_mix(store.state)
    facts = catalog.STATES[store.state]
    feed_end = store.pos_feed_end
    drafts: list[Product] = []
    for category in catalog.CATEGORIES:
        count = max(1, round(catalog.PRODUCTS_PER_CATEGORY[category] * per_store / 60))
        candidates = catalog_items()[category]
        chosen = r.sample(candidates, min(count, len(candidates)))
        raw = [(1.0 / (rank + 1) ** 1.1) * r.uniform(0.85, 1.15) for rank in range(len(chosen))]
        scale = mix[category] / sum(raw)
        for rank, item in enumerate(chosen):
            key = len(drafts)
            serving, servings, package = item.serving_mg, item.servings, item.package_mg
            name = item.name
            if category in SERVING_CAPPED and serving is not None and facts.edible_serving_mg < serving:
                # A 5 mg state: same package, twice the servings (beverages are edibles to the regulators).
                serving = facts.edible_serving_mg
                servings = round((package or 0) / serving)
            potency = (
                serving if serving is not None else round(r.uniform(item.potency_low, item.potency_high), 1)
            )
            modified = now - timedelta(days=r.uniform(0.2, 30))
            if feed_end is not None and modified >= feed_end:
                modified = feed_end - timedelta(days=r.uniform(0.1, 20))
            stock = 0 if r.random() < 0.04 else r.randint(6, 120)
            pos_id = (
                str(100_000 + store.index * 1000 + key)
                if store.pos_kind == "dutchie_pos"
                else str(uuid.uuid5(_NAMESPACE, f"{seed}/{store.id}/{key}"))
            )
            drafts.append(
                Product(
                    key=key,
                    pos_id=pos_id,
                    inventory_id=500_000_000 + store.index * 1000 + key,
                    menu_id=f"mi-{store.id}-{key:03d}",
                    sku=f"{category[:3].upper()}-{store.index:05d}-{key:03d}",
                    name=name,
                    brand=item.brand,
                    category=category,
                    price=round(item.msrp * r.uniform(0.97, 1.08), 2),
                    msrp=item.msrp,
                    potency=potency,
                    potency_unit="mg" if category in catalog.MG_CATEGORIES else "%",
                    package_thc_mg=package,
                    servings=servings,
                    weight=raw[rank] * scale,
                    pos_stock=stock,
                    allocated=r.randint(0, 3) if stock else 0,
                    pos_online=r.random() >= 0.03,
                    min_visible=r.choice((1, 2)),
                    image_path=f"/images/{store.id}/p{key:03d}.png",
                    image_ok=True,
                    pos_modified_at=modified,
                )
            )
    top = sorted(drafts, key=lambda p: -p.weight)[:TOP_SELLERS]
    for p in top:
        drafts[p.key] = replace(
            p,
            weight=p.weight * TOP_SELLER_BOOST,
            pos_stock=max(p.pos_stock, 25 + p.key % 40),
            pos_online=True,
        )
    return tuple(_plant(seed, store, drafts, now))


def top_sellers(products: tuple[Product, ...]) -> list[Product]:
    return sorted(products, key=lambda p: -p.weight)[:TOP_SELLERS]


def _by_rank(products: list[Product], category: str) -> list[Product]:
    return sorted((p for p in products if p.category == category), key=lambda p: -p.weight)


def _everyday(products: list[Product]) -> None:
    """At most one item of a category unavailable online (hidden or out of stock): everyday noise. More
    is a story (a category drop), and only the stores that plant one may tell it. The item is the
    category's slowest seller: a best seller unavailable online is a story too (a broken menu sync), and
    with a menu sync that reads as stale (the sandbox's world stands still at its `now`, the real clock
    does not) it would tell that story at any store whose online orders fall."""
    for category in catalog.CATEGORIES:
        mine = sorted((p for p in products if p.category == category), key=lambda p: p.weight)
        unavailable = [p for p in mine if not p.pos_online or p.pos_stock == 0]
        if not unavailable:
            continue
        hidden = not unavailable[0].pos_online
        for p in unavailable:
            products[p.key] = replace(p, pos_online=True, pos_stock=p.pos_stock or 6 + p.key % 50)
        slowest = products[mine[0].key]
        products[slowest.key] = (
            replace(slowest, pos_online=False) if hidden else replace(slowest, pos_stock=0, allocated=0)
        )


def _plant(seed: int, store: Store, products: list[Product], now: datetime) -> list[Product]:
    if store.scenario != "category_drop_edibles":
        _everyday(products)
    if store.scenario == "category_drop_edibles":
        edibles = _by_rank(products, "edibles")
        changed = now - timedelta(days=7, hours=8)
        for rank, p in enumerate(edibles):
            # Only the planted items are unavailable: the drop must come from them, not from chance.
            healthy = replace(p, pos_online=True, pos_stock=max(p.pos_stock, 6 + p.key % 50))
            if rank in (0, 2, 4):
                products[p.key] = replace(healthy, image_ok=False, pos_modified_at=changed)
            elif rank in (5, 7):
                products[p.key] = replace(healthy, pos_online=False, pos_modified_at=changed)
            elif rank in (6, 8):
                products[p.key] = replace(healthy, pos_stock=0, allocated=0, pos_modified_at=changed)
            else:
                products[p.key] = healthy
    elif store.scenario == "compliance_edible_potency":
        p = _by_rank(products, "edibles")[1]
        name = p.name.rsplit(" ", 1)[0] + " 200mg"
        products[p.key] = replace(p, name=name, potency=20.0, servings=10, package_thc_mg=200.0)
    elif store.scenario == "compliance_msrp":
        p = _by_rank(products, "vapes")[2]
        products[p.key] = replace(p, price=round(p.msrp * 0.70, 2))
    return products


def unavailable_online(products: tuple[Product, ...]) -> frozenset[int]:
    """Products a shopper cannot buy online: hidden from the menu or out of stock."""
    return frozenset(p.key for p in products if not p.pos_online or p.pos_stock == 0)


def build_menu(seed: int, store: Store, products: tuple[Product, ...], today: date, now: datetime) -> Menu:
    """The online menu as the platform shows it: a mirror of the POS as of the last menu sync."""
    if store.live_on is None or not products:
        return Menu((), None)
    r = rng(seed, "menu", store.id)
    broken_sync = store.scenario == "menu_sync_failure"
    last_sync = now - (
        timedelta(hours=30, minutes=r.uniform(0, 20)) if broken_sync else timedelta(minutes=r.uniform(3, 25))
    )
    zeroed: set[int] = set()
    hidden: set[int] = set()
    went_wrong = now
    if broken_sync:
        for i, p in enumerate(top_sellers(products)):
            (zeroed if i % 2 == 0 else hidden).add(p.key)
        local = ZoneInfo(store.timezone)
        went_wrong = datetime.combine(today - timedelta(days=2), time(8, 40), local).astimezone(
            ZoneInfo("UTC")
        )
    items = []
    for p in products:
        stock = p.pos_stock
        visible = p.pos_online
        updated = min(p.pos_modified_at, last_sync)
        if broken_sync:
            if p.key in zeroed:
                stock, updated = 0, went_wrong
            elif p.key in hidden:
                visible, updated = False, went_wrong
            elif stock:
                stock += r.randint(0, 3)  # the menu still shows stock from before the last day's sales
        items.append(
            MenuItem(
                id=p.menu_id,
                pos_product_id=p.pos_id,
                name=p.name,
                brand=p.brand,
                category=p.category,
                price=p.price,
                stock=stock,
                visible=visible,
                image_path=p.image_path,
                potency=p.potency,
                potency_unit=p.potency_unit,
                package_thc_mg=p.package_thc_mg,
                servings=p.servings,
                updated_at=updated,
            )
        )
    return Menu(tuple(items), last_sync)


PLANTED_PROMOTIONS: dict[str, tuple[tuple[str, str, float, tuple[str, ...]], ...]] = {
    "compliance_promotion": (
        (
            "BOGO Pre-Roll Fridays",
            "Buy one pre-roll, get one for a penny every Friday.",
            50.0,
            ("menu", "sms"),
        ),
        ("Free Lighter With Purchase", "A free lighter with any order over $50.", 0.0, ("menu", "email")),
    ),
}


def build_promotions(seed: int, store: Store, today: date) -> tuple[Promotion, ...]:
    if store.live_on is None:
        return ()
    r = rng(seed, "promotions", store.id)
    chosen = r.sample(catalog.PROMOTION_TEMPLATES, r.randint(1, 3))
    out: list[Promotion] = []
    for i, (title, text, pct, channels) in enumerate(chosen):
        start = today - timedelta(days=r.randint(3, 40))
        end = today + timedelta(days=r.randint(3, 40))
        if i == 0 and r.random() < 0.5:
            start, end = today - timedelta(days=r.randint(40, 70)), today - timedelta(days=r.randint(8, 30))
        out.append(_promotion(store, len(out), title, text, pct, channels, start, end))
    for title, text, pct, channels in PLANTED_PROMOTIONS.get(store.scenario, ()):
        start = today - timedelta(days=6)
        out.append(_promotion(store, len(out), title, text, pct, channels, start, today + timedelta(days=24)))
    return tuple(out)


def _promotion(
    store: Store, n: int, title: str, text: str, pct: float, channels: tuple[str, ...], start: date, end: date
) -> Promotion:
    updated = datetime.combine(start - timedelta(days=2), time(16, 0), ZoneInfo("UTC"))
    return Promotion(f"promo-{store.id}-{n}", title, text, pct, start, end, channels, updated)
