"""The e-commerce platform (`kind = "platform"`): store directory, analytics, orders, menu, promotions.

With `portfolio_feeds`, analytics, usage and orders of every store come from three portfolio-wide
feeds read once a pull (`PlatformFeedsConnector`); each store's connector then reads its snapshots.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import Field

from connectors.base import (
    ALL_STORES,
    STORES_PULLED_APART,
    Fact,
    Item,
    Record,
    Rejected,
    Runtime,
    Signal,
    SourceError,
    StoreRef,
    register,
)
from connectors.bounds import text_problem
from connectors.config import SourceConfig
from connectors.http import HttpClient, HttpStatusError, OAuth2ClientCredentials
from connectors.paging import PaginationConfig, make_paginator
from connectors.source import BaseConnector, HttpSource, Options, parse_safely
from connectors.values import (
    Invalid,
    category_slug,
    flag,
    ident,
    iso_utc,
    items_list,
    mapping,
    number,
    optional_number,
    parse_day,
    parse_time,
    slug,
    text,
    zone,
)

PAGING = PaginationConfig(kind="cursor", cursor_param="cursor", cursor_path="next_cursor")
MENU_SYNC = "menu_sync"
PAGE_LIMIT = {"limit": "500"}  # the API's largest page: fewest calls
FEED_STREAMS = ("analytics_daily", "usage_daily", "orders")
FEED_STORES = "stores"  # the feeds ref's attr: the store directory, store id → StoreRef


IMAGE_CHECK_CONCURRENCY = 32  # image links are cheap HEADs on a CDN, not the platform API
IMAGE_MAX_AGE_HOURS = 24.0  # an image link's status is trusted this long before a (conditional) recheck


class PlatformOptions(Options):
    brand_msrp: bool = True  # fetch MSRP lists of the brands on each store's menu
    # Menu health's image link checks in flight at once; bounded, as the image host is a shared CDN.
    image_check_concurrency: Annotated[int, Field(ge=1, le=128)] = IMAGE_CHECK_CONCURRENCY
    # Hours a link's status is reused before it is rechecked (If-None-Match / If-Modified-Since, so an
    # unchanged image costs a 304); from an hour, as links change rarely, to 30 days.
    image_max_age_hours: Annotated[float, Field(ge=1, le=720)] = IMAGE_MAX_AGE_HOURS
    # Read analytics, usage and orders of all stores from the portfolio-wide feeds, once a pull,
    # instead of three calls a store; each store's pull then reads its menu, promotions and MSRP.
    portfolio_feeds: bool = False


def parse_store(raw: Any) -> StoreRef:
    """A directory entry; the POS kind and location id tell the POS sources which stores are theirs."""
    item = mapping(raw, what="store")
    store_id = ident(item.get("id"), what="id")
    tz_name = text(item.get("timezone"), what="timezone") or "UTC"
    zone(tz_name)
    state = text(item.get("state"), what="state").strip().upper()
    if state and (len(state) != 2 or not state.isalpha()):
        raise Invalid(f"state: expected a two-letter US state, got {state!r}")
    pos = mapping(item.get("pos") or {}, what="pos")
    limits = mapping(item.get("plan_limits") or {}, what="plan_limits")
    onboarding = item.get("onboarding_started_on")
    location = pos.get("location_id")
    attrs = {
        "parent_id": ident(item["parent_id"], what="parent_id")
        if item.get("parent_id") is not None
        else None,
        "license_number": text(item.get("license_number"), what="license_number"),
        "pos_kind": text(pos.get("kind"), what="pos.kind"),
        "pos_location_id": ident(location, what="pos.location_id") if location not in (None, "") else "",
        "plan": text(item.get("plan"), what="plan"),
        "onboarding_started_on": parse_day(onboarding, what="onboarding_started_on").isoformat()
        if onboarding not in (None, "")
        else None,
        "plan_limits": {str(k): number(v, what=f"plan_limits.{k}") for k, v in limits.items()},
        "updated_at": text(item.get("updated_at"), what="updated_at"),
    }
    return StoreRef(store_id, text(item.get("name"), what="name"), state, tz_name, attrs)


def _daily(
    stream: str, raw: Any, store: StoreRef, tz: tzinfo, fields: Mapping[str, str], extra: Sequence[str] = ()
) -> Record:
    item = mapping(raw, what=stream)
    day = parse_day(item.get("date"), what="date")
    updated = parse_time(item.get("updated_at"), tz, what="updated_at")
    facts = tuple(Fact(metric, number(item.get(name), what=name)) for name, metric in fields.items())
    attrs: dict[str, Any] = {"date": day.isoformat()}
    for name in extra:
        attrs[name] = optional_number(item.get(name), what=name)
    return Record(
        stream,
        f"{store.store_id}:{day.isoformat()}",
        store.store_id,
        parse_time(day, tz),
        iso_utc(updated),
        facts,
        attrs,
    )


ANALYTICS_FIELDS = {
    "sessions": "sessions",
    "carts_created": "carts",
    "checkouts_started": "checkouts",
    "orders": "online_orders",
    "revenue": "online_revenue",
}
USAGE_FIELDS = {"logins": "logins", "active_users": "active_users"}


def parse_analytics(raw: Any, store: StoreRef, tz: tzinfo) -> Record:
    return _daily("analytics_daily", raw, store, tz, ANALYTICS_FIELDS)


def parse_usage(raw: Any, store: StoreRef, tz: tzinfo) -> Record:
    return _daily("usage_daily", raw, store, tz, USAGE_FIELDS, extra=("menu_edits",))


def parse_order(raw: Any, store: StoreRef, tz: tzinfo) -> Record:
    """An online order, kept as state (AOV, fulfilment); the daily counts come from analytics."""
    item = mapping(raw, what="order")
    oid = ident(item.get("id"), what="id")
    placed = parse_time(item.get("placed_at"), tz, what="placed_at")
    updated = parse_time(item.get("updated_at"), tz, what="updated_at")
    lines = []
    for i, raw_line in enumerate(items_list(item.get("items"), what="items")):
        line = mapping(raw_line, what=f"items[{i}]")
        lines.append(
            {
                "product_id": ident(line.get("product_id"), what=f"items[{i}].product_id"),
                "category": category_slug(line.get("category")),
                "quantity": number(line.get("quantity"), what=f"items[{i}].quantity"),
                "price": number(line.get("price"), what=f"items[{i}].price"),
                # per unit, for the purchase-limit check: net weight and THC content (absent: unmeasured)
                "weight_grams": optional_number(line.get("weight_grams"), what=f"items[{i}].weight_grams"),
                "thc_mg": optional_number(line.get("thc_mg"), what=f"items[{i}].thc_mg"),
            }
        )
    attrs = {
        "order_id": oid,
        "status": text(item.get("status"), what="status"),
        "fulfillment": text(item.get("fulfillment"), what="fulfillment"),
        "total": number(item.get("total"), what="total"),
        "placed_at": iso_utc(placed),
        "items": lines,
    }
    return Record("orders", f"{store.store_id}:{oid}", store.store_id, placed, iso_utc(updated), (), attrs)


def parse_menu_item(raw: Any, store: StoreRef, tz: tzinfo, now: datetime) -> Record:
    """A menu item as shoppers see it: stock, visibility, image, potency, and the POS product it mirrors."""
    item = mapping(raw, what="menu item")
    mid = ident(item.get("id"), what="id")
    pos_id = item.get("pos_product_id")
    potency = mapping(item.get("potency") or {}, what="potency")
    updated_raw = item.get("updated_at")
    updated = parse_time(updated_raw, tz, what="updated_at") if updated_raw not in (None, "") else None
    unit = text(potency.get("unit"), what="potency.unit")
    attrs = {
        "id": mid,
        "pos_product_id": ident(pos_id, what="pos_product_id") if pos_id not in (None, "") else "",
        "name": text(item.get("name"), what="name"),
        "brand": text(item.get("brand"), what="brand"),
        "category": category_slug(item.get("category")),
        "category_raw": text(item.get("category"), what="category"),
        "price": optional_number(item.get("price"), what="price"),
        "stock": number(item.get("stock"), what="stock", minimum=None),
        "visible": flag(item.get("visible"), what="visible", default=True),
        "image_url": text(item.get("image_url"), what="image_url"),
        "potency": {"thc": optional_number(potency.get("thc"), what="potency.thc"), "unit": unit},
        "package_thc_mg": optional_number(item.get("package_thc_mg"), what="package_thc_mg"),
        "servings": optional_number(item.get("servings"), what="servings"),
        "updated_at": iso_utc(updated) if updated else "",
    }
    return Record("menu_items", f"{store.store_id}:{mid}", store.store_id, updated or now, "", (), attrs)


def parse_promotion(raw: Any, store: StoreRef, tz: tzinfo, now: datetime) -> Record:
    item = mapping(raw, what="promotion")
    pid = ident(item.get("id"), what="id")
    starts, ends = item.get("starts_on"), item.get("ends_on")
    channels = [text(c, what="channels[]") for c in items_list(item.get("channels"), what="channels")]
    updated_raw = item.get("updated_at")
    updated = parse_time(updated_raw, tz, what="updated_at") if updated_raw not in (None, "") else None
    attrs = {
        "id": pid,
        "title": text(item.get("title"), what="title"),
        "description": text(item.get("description"), what="description"),
        "discount_percent": optional_number(item.get("discount_percent"), what="discount_percent"),
        "starts_on": parse_day(starts, what="starts_on").isoformat() if starts not in (None, "") else None,
        "ends_on": parse_day(ends, what="ends_on").isoformat() if ends not in (None, "") else None,
        "channels": channels,
    }
    if attrs["discount_percent"] is not None:
        number(attrs["discount_percent"], what="discount_percent", maximum=100)
    return Record("promotions", f"{store.store_id}:{pid}", store.store_id, updated or now, "", (), attrs)


def parse_msrp(raw: Any, store: StoreRef, now: datetime) -> Record:
    body = mapping(raw, what="msrp list")
    brand = text(body.get("brand"), what="brand", default=None)
    if not brand:
        raise Invalid("brand: required")
    items = []
    for i, raw_item in enumerate(items_list(body.get("items"), what="items")):
        entry = mapping(raw_item, what=f"items[{i}]")
        items.append(
            {
                "name": text(entry.get("name"), what=f"items[{i}].name"),
                "msrp": number(entry.get("msrp"), what=f"items[{i}].msrp"),
                "tolerance_percent": optional_number(
                    entry.get("tolerance_percent"), what=f"items[{i}].tolerance_percent"
                )
                or 0.0,
            }
        )
    return Record(
        "brand_msrp",
        f"{store.store_id}:{slug(brand)}",
        store.store_id,
        now,
        "",
        (),
        {"brand": brand, "items": items},
    )


def _raw_brand(raw: Any) -> str:
    """A menu item's brand as `parse_menu_item` reads it, or "" (for MSRP lists of an unparsed menu)."""
    try:
        return text(raw.get("brand"), what="brand") if isinstance(raw, Mapping) else ""
    except Invalid:
        return ""


class PlatformConnector(BaseConnector):
    streams: tuple[str, ...] = (*FEED_STREAMS, "menu_items", "promotions", "brand_msrp")
    snapshot_streams = ("menu_items", "promotions", "brand_msrp")

    def __init__(self, source: PlatformSource, store: StoreRef, client: HttpClient) -> None:
        super().__init__(store)
        self.source = source
        self.client = client
        self.base = f"/v1/stores/{quote(store.store_id, safe='')}"
        self._brands: set[str] | None = None
        if source.platform_options.portfolio_feeds:
            self.streams = self.snapshot_streams  # the rest comes from the feeds

    def _listing(self, path: str, params: Mapping[str, str], stream: str, parse: Any) -> Iterator[Item]:
        for page in self.client.pages(path, params, make_paginator(PAGING), "data"):
            for raw in page.items:
                yield parse_safely(stream, self.store.store_id, raw, parse)

    def stream_analytics_daily(self, since: str | None) -> Iterator[Item]:
        day = self.source.start(since).astimezone(self.tz).date().isoformat()
        yield from self._listing(
            f"{self.base}/analytics/daily",
            {"since": day},
            "analytics_daily",
            lambda r: parse_analytics(r, self.store, self.tz),
        )

    def stream_usage_daily(self, since: str | None) -> Iterator[Item]:
        day = self.source.start(since).astimezone(self.tz).date().isoformat()
        yield from self._listing(
            f"{self.base}/usage/daily",
            {"since": day},
            "usage_daily",
            lambda r: parse_usage(r, self.store, self.tz),
        )

    def stream_orders(self, since: str | None) -> Iterator[Item]:
        params = {"updated_since": iso_utc(self.source.start(since))}
        yield from self._listing(
            f"{self.base}/orders", params, "orders", lambda r: parse_order(r, self.store, self.tz)
        )

    def stream_menu_items(self, since: str | None) -> Iterator[Item]:
        now = self.source.runtime.now()
        held = self.hold(
            self.client.pages(f"{self.base}/menu", PAGE_LIMIT, make_paginator(PAGING), "data"), "menu_items"
        )
        if held.pages:
            yield from self._menu_sync(held.pages[0].body)
        if held.fingerprint is not None:
            self._brands = {b for raw in held.raw_items() if self._usable_brand(b := _raw_brand(raw))}
            yield held.fingerprint  # the pull stops here when the menu is as last stored
        brands: set[str] = set()
        for page in held.all_pages():
            for raw in page.items:
                out = parse_safely(
                    "menu_items",
                    self.store.store_id,
                    raw,
                    parse_menu_item,
                    self.store,
                    self.tz,
                    now,
                )
                if isinstance(out, Record) and self._usable_brand(brand := str(out.attrs.get("brand") or "")):
                    brands.add(brand)
                yield out
        self._brands = brands

    def _usable_brand(self, brand: str) -> bool:
        """A brand fit to name in a URL: its menu item is quarantined otherwise, so none is fetched."""
        return bool(brand) and not text_problem(brand, self.source.cfg.limits.name_chars, "brand")

    def _menu_sync(self, body: Any) -> Iterator[Item]:
        raw = body.get("last_menu_sync_at") if isinstance(body, Mapping) else None
        if raw is None:
            return
        try:
            yield Signal(MENU_SYNC, self.store.store_id, parse_time(raw, what="last_menu_sync_at"))
        except Invalid as exc:
            yield Rejected(MENU_SYNC, self.store.store_id, raw, str(exc))

    def stream_promotions(self, since: str | None) -> Iterator[Item]:
        now = self.source.runtime.now()
        pages = self.client.pages(f"{self.base}/promotions", PAGE_LIMIT, make_paginator(PAGING), "data")
        held = self.hold(pages, "promotions")
        if held.fingerprint is not None:
            yield held.fingerprint
        for page in held.all_pages():
            for raw in page.items:
                yield parse_safely(
                    "promotions", self.store.store_id, raw, parse_promotion, self.store, self.tz, now
                )

    def stream_brand_msrp(self, since: str | None) -> Iterator[Item]:
        if not self.source.platform_options.brand_msrp:
            return
        if self._brands is None:
            for _ in self.stream_menu_items(None):
                pass
        now = self.source.runtime.now()
        for brand in sorted(self._brands or ()):
            body = self.source.msrp(self.client, brand)
            if body is not None:
                yield parse_safely("brand_msrp", self.store.store_id, body, parse_msrp, self.store, now)


FeedParse = Callable[[Any, StoreRef, tzinfo], Record]


class PlatformFeedsConnector(BaseConnector):
    """Analytics, usage and orders of every store, one paged read a stream instead of one a store.

    Rows name their store; the directory gives its time zone, as a daily row counts on the store's
    local day. A row of a store the directory lacks is quarantined; one of a store outside the
    source's `stores` is skipped.
    """

    streams = FEED_STREAMS

    def __init__(self, source: PlatformSource, store: StoreRef, client: HttpClient) -> None:
        super().__init__(store)
        self.source = source
        self.client = client
        self.stores: Mapping[str, StoreRef] = store.attrs.get(FEED_STORES) or {}
        self.wanted = frozenset(source.cfg.stores)
        self._zones: dict[str, tzinfo] = {}

    def _zone(self, name: str) -> tzinfo:
        tz = self._zones.get(name)
        if tz is None:
            tz = self._zones[name] = zone(name)
        return tz

    def _first_day(self, since: str | None) -> str:
        """The start's earliest local day among the stores' zones, so no store misses its first day."""
        start = self.source.start(since)
        days = []
        for name in {ref.timezone for ref in self.stores.values()}:
            try:
                days.append(start.astimezone(self._zone(name)).date())
            except Invalid:
                continue  # its rows are quarantined for the zone anyway
        return min(days, default=start.date()).isoformat()

    def _parse_row(self, raw: Any, parse: FeedParse, ref: StoreRef) -> Record:
        return parse(raw, ref, self._zone(ref.timezone))

    def _row(self, stream: str, raw: Any, parse: FeedParse) -> Record | Rejected | None:
        """A feed row parsed for its store; None when the store is not one of the source's `stores`."""
        found = raw.get("store_id") if isinstance(raw, Mapping) else None
        try:
            store_id = ident(found, what="store_id")
        except Invalid as exc:
            return Rejected(stream, "", raw, str(exc))
        if self.wanted and store_id not in self.wanted:
            return None
        ref = self.stores.get(store_id)
        if ref is None:
            return Rejected(stream, store_id, raw, f"store_id: {store_id!r} is not in the store directory")
        return parse_safely(stream, store_id, raw, self._parse_row, parse, ref)

    def _feed(self, path: str, params: Mapping[str, str], stream: str, parse: FeedParse) -> Iterator[Item]:
        for page in self.client.pages(path, {**params, **PAGE_LIMIT}, make_paginator(PAGING), "data"):
            for raw in page.items:
                out = self._row(stream, raw, parse)
                if out is not None:
                    yield out

    def stream_analytics_daily(self, since: str | None) -> Iterator[Item]:
        params = {"since": self._first_day(since)}
        yield from self._feed("/v1/analytics/daily", params, "analytics_daily", parse_analytics)

    def stream_usage_daily(self, since: str | None) -> Iterator[Item]:
        params = {"since": self._first_day(since)}
        yield from self._feed("/v1/usage/daily", params, "usage_daily", parse_usage)

    def stream_orders(self, since: str | None) -> Iterator[Item]:
        params = {"updated_since": iso_utc(self.source.start(since))}
        yield from self._feed("/v1/orders", params, "orders", parse_order)


@register("platform")
class PlatformSource(HttpSource):
    """OAuth2 client credentials (one token for all stores); provides the store directory."""

    kind = "platform"
    options_model = PlatformOptions
    provides_directory = True

    def __init__(self, cfg: SourceConfig, runtime: Runtime | None = None) -> None:
        super().__init__(cfg, runtime)
        auth = cfg.auth
        if auth.kind != "oauth2_client_credentials":
            raise SourceError(f"{cfg.name}: auth.kind must be 'oauth2_client_credentials' for platform")
        env = self.runtime.env
        self.auth = OAuth2ClientCredentials(
            auth.token_url or "/oauth/token",
            auth.resolved_client_id(env),
            auth.secret("client_secret", "", env),
            auth.scope,
        )
        self._msrp: dict[str, Any] = {}
        self._msrp_lock = threading.Lock()
        self._msrp_flights: dict[str, threading.Lock] = {}

    @property
    def platform_options(self) -> PlatformOptions:
        assert isinstance(self.options, PlatformOptions)
        return self.options

    def stores(self, directory: Sequence[StoreRef]) -> Sequence[StoreRef | Rejected]:
        client = self.http.client(self.auth)
        wanted = set(self.cfg.stores)
        out: list[StoreRef | Rejected] = []
        for page in client.pages("/v1/stores", {}, make_paginator(PAGING), "data"):
            for raw in page.items:
                ref = parse_safely("stores", "", raw, parse_store)
                if isinstance(ref, Rejected) or not wanted or ref.store_id in wanted:
                    out.append(ref)
        return out

    def feed_ref(self, directory: Mapping[str, StoreRef]) -> StoreRef | None:
        """With `portfolio_feeds`, the ref of the feeds' connector, carrying the directory it reads by.

        The stores' own pulls still run (their snapshots): they, not the feeds, own each store's outcome.
        """
        if not self.platform_options.portfolio_feeds:
            return None
        attrs = {FEED_STORES: directory, STORES_PULLED_APART: True}
        return StoreRef(ALL_STORES, name=f"portfolio feeds of {self.name}", attrs=attrs)

    def connector(self, store: StoreRef) -> PlatformConnector | PlatformFeedsConnector:
        if store.store_id == ALL_STORES:
            return PlatformFeedsConnector(self, store, self.http.client(self.auth))
        return PlatformConnector(self, store, self.http.client(self.auth))

    def msrp(self, client: HttpClient, brand: str) -> Any:
        """A brand's MSRP list, fetched once per source (many stores carry the same brands); None if none.

        Stores' threads reach the same brands at the same moment: one fetches, the others wait for it.
        """
        with self._msrp_lock:
            if brand in self._msrp:
                return self._msrp[brand]
            flight = self._msrp_flights.setdefault(brand, threading.Lock())
        with flight:
            with self._msrp_lock:
                if brand in self._msrp:
                    return self._msrp[brand]
            try:
                body, _ = client.get_json(f"/v1/brands/{quote(brand, safe='')}/msrp")
            except HttpStatusError as exc:
                if exc.status != 404:
                    raise
                body = None
            with self._msrp_lock:
                self._msrp[brand] = body
            return body
