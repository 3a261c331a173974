"""Dutchie-style POS (`kind = "dutchie_pos"`): products, transactions by last-modified window, inventory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, tzinfo
from typing import Annotated, Any

import structlog
from pydantic import Field

from connectors.base import Checkpoint, Fingerprint, Item, Record, Rejected, SourceError, StoreRef, register
from connectors.http import Basic, HttpClient
from connectors.paging import PaginationConfig, make_paginator
from connectors.pos import IN_STORE, ONLINE, Line, sale_facts, transaction_record
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
    parse_time,
    text,
)

log = structlog.get_logger(__name__)


class DutchieOptions(Options):
    pos_kind: str = "dutchie_pos"  # serve directory stores whose POS is this kind ("" = every store)
    verify_location: bool = True  # check /whoami against the directory's location id before reading
    page_size: Annotated[int, Field(ge=1, le=5000)] = 500
    window_days: Annotated[int, Field(ge=1, le=31)] = 31  # the API refuses longer windows
    back_buffer_seconds: Annotated[int, Field(ge=0, le=3600)] = 60


def _modified(item: Mapping[str, Any], tz: tzinfo) -> datetime | None:
    raw = item.get("lastModifiedDateUtc", item.get("lastModifiedDateUTC"))
    return None if raw in (None, "") else parse_time(raw, tz, what="lastModifiedDateUtc")


def parse_product(raw: Any, store: StoreRef, tz: tzinfo, now: datetime) -> Record:
    item = mapping(raw, what="product")
    product_id = ident(item.get("productId"), what="productId")
    modified = _modified(item, tz)
    attrs = {
        "product_id": product_id,
        "name": text(item.get("productName"), what="productName"),
        "sku": text(item.get("sku"), what="sku"),
        "category": category_slug(item.get("category")),
        "category_raw": text(item.get("category"), what="category"),
        "brand": text(item.get("brandName"), what="brandName"),
        "price": optional_number(item.get("recPrice"), what="recPrice"),
        "image_url": text(item.get("imageUrl"), what="imageUrl"),
        "online": flag(item.get("onlineProduct"), what="onlineProduct", default=False),
    }
    return Record(
        "products",
        f"{store.store_id}:{product_id}",
        store.store_id,
        modified or now,
        iso_utc(modified) if modified else "",
        (),
        attrs,
    )


def parse_transaction(raw: Any, store: StoreRef, tz: tzinfo, categories: Mapping[str, str]) -> Record:
    """A transaction with its lines; voids and non-retail types are kept without facts."""
    item = mapping(raw, what="transaction")
    tid = ident(item.get("transactionId"), what="transactionId")
    when = parse_time(item.get("transactionDate"), tz, what="transactionDate")
    modified = _modified(item, tz)
    if modified is None:
        raise Invalid("lastModifiedDateUtc: required")
    is_return = flag(item.get("isReturn"), what="isReturn", default=False)
    is_void = flag(item.get("isVoid"), what="isVoid", default=False)
    minimum = None if is_return else 0.0
    total = abs(number(item.get("total"), what="total", minimum=minimum))
    subtotal = optional_number(item.get("subtotal"), what="subtotal", minimum=minimum)
    discount = optional_number(item.get("totalDiscount"), what="totalDiscount", minimum=None) or 0.0
    tax = optional_number(item.get("tax"), what="tax", minimum=minimum)
    revenue = abs(subtotal) - abs(discount) if subtotal is not None else total - abs(tax or 0.0)
    source = text(item.get("orderSource"), what="orderSource").lower()
    pre_ordered = flag(item.get("wasPreOrdered"), what="wasPreOrdered", default=False)
    channel = ONLINE if source == "online" or (not source and pre_ordered) else IN_STORE
    lines: list[Line] = []
    for i, raw_line in enumerate(items_list(item.get("items"), what="items")):
        line = mapping(raw_line, what=f"items[{i}]")
        product_id = ident(line.get("productId"), what=f"items[{i}].productId")
        quantity = abs(number(line.get("quantity"), what=f"items[{i}].quantity", minimum=minimum))
        amount = optional_number(line.get("totalPrice"), what=f"items[{i}].totalPrice", minimum=minimum)
        if amount is None:
            unit = number(line.get("unitPrice"), what=f"items[{i}].unitPrice", minimum=minimum)
            amount = unit * quantity
        lines.append(Line(product_id, categories.get(product_id, "other"), quantity, abs(amount)))
    kind = text(item.get("transactionType"), what="transactionType", default="Retail")
    counted = not is_void and kind.lower() == "retail"
    facts = sale_facts(channel, max(revenue, 0.0), lines, is_return=is_return) if counted else ()
    vendor = {
        "order_type": text(item.get("orderType"), what="orderType"),
        "transaction_type": kind,
        "is_return": is_return,
        "is_void": is_void,
    }
    return transaction_record(
        store.store_id, tid, when, modified, channel, total, revenue, lines, facts, vendor
    )


def parse_inventory(raw: Any, store: StoreRef, tz: tzinfo, now: datetime) -> Record:
    item = mapping(raw, what="inventory")
    inventory_id = ident(item.get("inventoryId"), what="inventoryId")
    modified = _modified(item, tz)
    attrs = {
        "inventory_id": inventory_id,
        "product_id": ident(item.get("productId"), what="productId"),
        "name": text(item.get("productName"), what="productName"),
        "sku": text(item.get("sku"), what="sku"),
        "category": category_slug(item.get("category")),
        "brand": text(item.get("brandName"), what="brandName"),
        # POS stock can dip below zero (sold before received); kept as the POS says.
        "quantity": number(item.get("quantityAvailable"), what="quantityAvailable", minimum=None),
        "allocated": optional_number(item.get("allocatedQuantity"), what="allocatedQuantity", minimum=None),
    }
    return Record(
        "inventory",
        f"{store.store_id}:{inventory_id}",
        store.store_id,
        modified or now,
        iso_utc(modified) if modified else "",
        (),
        attrs,
    )


def _raw_category(raw: Any) -> tuple[str, str] | None:
    """(product id, category) of a raw product as `parse_product` reads them; None if it has no id."""
    try:
        return ident(raw.get("productId"), what="productId"), category_slug(raw.get("category"))
    except (Invalid, AttributeError):
        return None


class DutchieConnector(BaseConnector):
    streams = ("products", "transactions", "inventory")
    snapshot_streams = ("products", "inventory")

    def __init__(self, source: DutchieSource, store: StoreRef, client: HttpClient) -> None:
        super().__init__(store)
        self.source = source
        self.options: DutchieOptions = source.dutchie_options
        self.client = client
        self._categories: dict[str, str] | None = None
        self._verified = False

    def _verify(self) -> None:
        if self._verified or not self.options.verify_location:
            return
        body, _ = self.client.get_json("/whoami")
        expected = self.store.attrs.get("pos_location_id")
        got = body.get("LocationId") if isinstance(body, Mapping) else None
        if expected not in (None, "") and str(got) != str(expected):
            raise SourceError(
                f"{self.source.name}: /whoami says location {got!r}, but store {self.store.store_id} is "
                f"location {expected!r} in the directory; check the store's API key"
            )
        self._verified = True

    def _products(self) -> Iterator[Record | Rejected | Fingerprint]:
        paging = PaginationConfig(kind="offset", size=self.options.page_size)
        now = self.source.runtime.now()
        held = self.hold(self.client.pages("/products", {}, make_paginator(paging)), "products")
        if held.fingerprint is not None:
            # Transactions need the categories even when the pull skips this unchanged list; only a
            # list that parsed cleanly is ever skipped, so reading them off the raw items is exact.
            self._categories = dict(filter(None, map(_raw_category, held.raw_items())))
            yield held.fingerprint
        categories: dict[str, str] = {}
        for page in held.all_pages():
            for raw in page.items:
                out = parse_safely(
                    "products",
                    self.store.store_id,
                    raw,
                    parse_product,
                    self.store,
                    self.tz,
                    now,
                )
                if isinstance(out, Record):
                    categories[str(out.attrs["product_id"])] = str(out.attrs["category"])
                yield out
        self._categories = categories

    def stream_products(self, since: str | None) -> Iterator[Item]:
        self._verify()
        yield from self._products()

    def stream_transactions(self, since: str | None) -> Iterator[Item]:
        self._verify()
        if self._categories is None:
            for _ in self._products():
                pass
        categories = self._categories or {}
        now = self.source.runtime.now()
        start = self.source.start(since) - timedelta(seconds=self.options.back_buffer_seconds)
        window = timedelta(days=self.options.window_days)
        while start < now:
            end = min(start + window, now)
            params = {
                "fromLastModifiedDateUTC": iso_utc(start),
                "toLastModifiedDateUTC": iso_utc(end),
                "IncludeDetail": "true",
            }
            body, _ = self.client.get_json("/reporting/transactions", params)
            items = self.client.items(body, "", "/reporting/transactions")
            parsed = [
                parse_safely(
                    "transactions",
                    self.store.store_id,
                    raw,
                    parse_transaction,
                    self.store,
                    self.tz,
                    categories,
                )
                for raw in items
            ]
            # The API does not promise an order; oldest-modified first makes the checkpoint honest.
            parsed.sort(key=lambda r: r.cursor if isinstance(r, Record) else "")
            yield from parsed
            yield Checkpoint("transactions", iso_utc(end))
            start = end

    def stream_inventory(self, since: str | None) -> Iterator[Item]:
        self._verify()
        paging = PaginationConfig(kind="skip_take", size=self.options.page_size)
        now = self.source.runtime.now()
        held = self.hold(self.client.pages("/reporting/inventory", {}, make_paginator(paging)), "inventory")
        if held.fingerprint is not None:
            yield held.fingerprint
        for page in held.all_pages():
            for raw in page.items:
                yield parse_safely(
                    "inventory",
                    self.store.store_id,
                    raw,
                    parse_inventory,
                    self.store,
                    self.tz,
                    now,
                )


@register("dutchie_pos")
class DutchieSource(HttpSource):
    """Basic auth per location: username = the store's location key (per-store secrets file)."""

    kind = "dutchie_pos"
    options_model = DutchieOptions

    @property
    def dutchie_options(self) -> DutchieOptions:
        assert isinstance(self.options, DutchieOptions)
        return self.options

    def serves(self, store: StoreRef) -> bool:
        wanted = self.dutchie_options.pos_kind
        return not wanted or store.attrs.get("pos_kind") == wanted

    def connector(self, store: StoreRef) -> DutchieConnector:
        auth_cfg = self.cfg.auth
        if auth_cfg.kind != "basic":
            raise SourceError(
                f"{self.name}: auth.kind must be 'basic' for dutchie_pos (got {auth_cfg.kind!r})"
            )
        env = self.runtime.env
        auth = Basic(
            auth_cfg.secret("username", store.store_id, env),
            auth_cfg.optional_secret("password", store.store_id, env),
        )
        return DutchieConnector(self, store, self.http.client(auth))
