"""Treez-style POS (`kind = "treez_pos"`): token flow with refresh, paging in the path, tickets, products."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, tzinfo
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import Field

from connectors.base import Item, Record, Rejected, SourceError, StoreRef, register
from connectors.http import HttpClient, TokenAuth
from connectors.paging import PaginationConfig, make_paginator
from connectors.pos import IN_STORE, ONLINE, Line, sale_facts, transaction_record
from connectors.source import BaseConnector, HttpSource, Options, parse_safely
from connectors.values import (
    Invalid,
    category_slug,
    dig,
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


class TreezOptions(Options):
    pos_kind: str = "treez_pos"  # serve directory stores whose POS is this kind ("" = every store)
    dispensary_attr: str = "pos_location_id"  # the store attr naming the Treez dispensary
    page_size: Annotated[int, Field(ge=1, le=50)] = 50  # the API's maximum


class TreezToken(TokenAuth):
    """`gettokens` with client_id + apikey per dispensary; sent as `authorization` and `client_id` headers."""

    def __init__(self, dispensary: str, client_id: str, api_key: str) -> None:
        super().__init__()
        self.dispensary = dispensary
        self.client_id = client_id
        self.api_key = api_key

    def fetch(self, client: HttpClient) -> tuple[str, float]:
        path = f"/v2.0/dispensary/{quote(self.dispensary, safe='')}/config/api/gettokens"
        body = client.request_json(
            "POST", path, data={"client_id": self.client_id, "apikey": self.api_key}, authenticate=False
        )
        token = dig(body, "access_token", None)
        if dig(body, "resultCode", "SUCCESS") != "SUCCESS" or not isinstance(token, str) or not token:
            raise SourceError(
                f"{client.source}: gettokens for {self.dispensary} failed: {dig(body, 'resultCode', '?')}"
            )
        lifetime = dig(body, "expires_in", 7200)
        return token, float(lifetime) if isinstance(lifetime, int | float) else 7200.0

    def present(self, token: str, headers: dict[str, str], params: dict[str, str]) -> None:
        headers["authorization"] = token
        headers["client_id"] = self.client_id


def parse_ticket(raw: Any, store: StoreRef, tz: tzinfo) -> Record:
    """A ticket; only COMPLETED tickets count as sales, the rest are kept without facts."""
    item = mapping(raw, what="ticket")
    tid = ident(item.get("ticket_id"), what="ticket_id")
    when = parse_time(item.get("date_created"), tz, what="date_created")
    modified = parse_time(item.get("last_updated_at"), tz, what="last_updated_at")
    status = text(item.get("order_status"), what="order_status").upper()
    total = number(item.get("total"), what="total")
    subtotal = optional_number(item.get("sub_total"), what="sub_total")
    discount = optional_number(item.get("discount_total"), what="discount_total") or 0.0
    tax = optional_number(item.get("tax_total"), what="tax_total") or 0.0
    revenue = subtotal - discount if subtotal is not None else total - tax
    channel = (
        ONLINE if text(item.get("order_source"), what="order_source").upper() == "ECOMMERCE" else IN_STORE
    )
    lines: list[Line] = []
    for i, raw_line in enumerate(items_list(item.get("items"), what="items")):
        line = mapping(raw_line, what=f"items[{i}]")
        product_id = ident(line.get("product_id"), what=f"items[{i}].product_id")
        quantity = number(line.get("quantity"), what=f"items[{i}].quantity")
        amount = optional_number(line.get("price_total"), what=f"items[{i}].price_total")
        if amount is None:
            amount = number(line.get("price_sell"), what=f"items[{i}].price_sell") * quantity
        lines.append(Line(product_id, category_slug(line.get("product_type")), quantity, amount))
    facts = sale_facts(channel, max(revenue, 0.0), lines) if status == "COMPLETED" else ()
    vendor = {"order_type": text(item.get("type"), what="type"), "status": status}
    return transaction_record(
        store.store_id, tid, when, modified, channel, total, revenue, lines, facts, vendor
    )


def parse_product(raw: Any, store: StoreRef, tz: tzinfo, now: datetime) -> Record:
    """A product with its sellable stock and menu settings (the POS half of menu health)."""
    item = mapping(raw, what="product")
    product_id = ident(item.get("product_id"), what="product_id")
    fields = mapping(item.get("product_configurable_fields") or {}, what="product_configurable_fields")
    pricing = mapping(item.get("pricing") or {}, what="pricing")
    ecommerce = mapping(item.get("e_commerce") or {}, what="e_commerce")
    modified_raw = item.get("last_updated_at")
    modified = (
        parse_time(modified_raw, tz, what="last_updated_at") if modified_raw not in (None, "") else None
    )
    attrs = {
        "product_id": product_id,
        "name": text(fields.get("name"), what="product_configurable_fields.name"),
        "brand": text(fields.get("brand"), what="product_configurable_fields.brand"),
        "category": category_slug(item.get("category_type")),
        "category_raw": text(item.get("category_type"), what="category_type"),
        "quantity": number(item.get("sellable_quantity"), what="sellable_quantity", minimum=None),
        "price": optional_number(pricing.get("price_sell"), what="pricing.price_sell"),
        "total_mg_thc": optional_number(fields.get("total_mg_thc"), what="total_mg_thc"),
        "image_url": text(ecommerce.get("primary_image"), what="e_commerce.primary_image"),
        "hide_from_menu": flag(
            ecommerce.get("hide_from_menu"), what="e_commerce.hide_from_menu", default=False
        ),
        "min_visible": optional_number(
            ecommerce.get("minimum_visible_inventory_level"), what="minimum_visible_inventory_level"
        ),
    }
    return Record(
        "inventory",
        f"{store.store_id}:{product_id}",
        store.store_id,
        modified or now,
        iso_utc(modified) if modified else "",
        (),
        attrs,
    )


class TreezConnector(BaseConnector):
    """Streams `transactions` (tickets) and `inventory` (the product list, with stock)."""

    streams = ("transactions", "inventory")
    snapshot_streams = ("inventory",)

    def __init__(self, source: TreezSource, store: StoreRef, client: HttpClient, dispensary: str) -> None:
        super().__init__(store)
        self.source = source
        self.client = client
        self.base = f"/v2.0/dispensary/{quote(dispensary, safe='')}"
        self.page_size = source.treez_options.page_size

    def _body(self, body: Any, path: str) -> Any:
        code = dig(body, "resultCode", "SUCCESS")
        if code != "SUCCESS":
            raise SourceError(f"{self.source.name}: GET {path} answered resultCode {code!r}")
        return body

    def stream_transactions(self, since: str | None) -> Iterator[Item]:
        after = iso_utc(self.source.start(since))
        path = f"{self.base}/ticket/lastUpdated/after/{after}/page/{{page}}/pagesize/{self.page_size}"
        paging = PaginationConfig(kind="page_number", size=self.page_size)
        parsed: list[Record | Rejected] = []
        for page in self.client.pages(path, {}, make_paginator(paging), "data.ticketList"):
            self._body(page.body, path)
            for raw in page.items:
                parsed.append(
                    parse_safely(
                        "transactions",
                        self.store.store_id,
                        raw,
                        parse_ticket,
                        self.store,
                        self.tz,
                    )
                )
        # Tickets come newest first; yielding oldest first keeps the cursor honest if we stop midway.
        parsed.sort(key=lambda r: r.cursor if isinstance(r, Record) else "")
        yield from parsed

    def stream_inventory(self, since: str | None) -> Iterator[Item]:
        paging = PaginationConfig(kind="page_number", size=self.page_size, size_param="pagesize")
        now = self.source.runtime.now()
        path = f"{self.base}/product/product_list"
        pages = self.client.pages(path, {"active": "true"}, make_paginator(paging), "data.product_list")
        held = self.hold(pages, "inventory")
        for page in held.pages:
            self._body(page.body, path)
        if held.fingerprint is not None:
            yield held.fingerprint
        for page in held.all_pages():
            self._body(page.body, path)
            for raw in page.items:
                yield parse_safely(
                    "inventory",
                    self.store.store_id,
                    raw,
                    parse_product,
                    self.store,
                    self.tz,
                    now,
                )


@register("treez_pos")
class TreezSource(HttpSource):
    """auth.kind = "treez_token": client_id (public) and an API key per store (per-store secrets file)."""

    kind = "treez_pos"
    options_model = TreezOptions

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._tokens: dict[str, TreezToken] = {}

    @property
    def treez_options(self) -> TreezOptions:
        assert isinstance(self.options, TreezOptions)
        return self.options

    def serves(self, store: StoreRef) -> bool:
        wanted = self.treez_options.pos_kind
        return not wanted or store.attrs.get("pos_kind") == wanted

    def connector(self, store: StoreRef) -> TreezConnector:
        auth_cfg = self.cfg.auth
        if auth_cfg.kind != "treez_token":
            raise SourceError(
                f"{self.name}: auth.kind must be 'treez_token' for treez_pos (got {auth_cfg.kind!r})"
            )
        dispensary = store.attrs.get(self.treez_options.dispensary_attr)
        if not isinstance(dispensary, str | int) or dispensary == "":
            raise Invalid(
                f"store {store.store_id} has no {self.treez_options.dispensary_attr} (the Treez dispensary)"
            )
        env = self.runtime.env
        token = self._tokens.get(store.store_id)
        if token is None:
            token = TreezToken(
                str(dispensary),
                auth_cfg.resolved_client_id(env, store.store_id),
                auth_cfg.secret("key", store.store_id, env),
            )
            self._tokens[store.store_id] = token
        return TreezConnector(self, store, self.http.client(token), str(dispensary))
