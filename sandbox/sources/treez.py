"""Treez-style POS API: token flow per dispensary, tickets by last update (newest first), product list."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request

from sandbox.portfolio import Order
from sandbox.portfolio.catalog import TREEZ_CATEGORY
from sandbox.sources.http import ApiError, Context, Reply, SystemApp, TokenBook, iso, money, parse_time

TOKEN_TTL = 7200.0
MAX_PAGE_SIZE = 50
_TYPE = {"pickup": "PICKUP", "delivery": "DELIVERY", "in_store": "IN_STORE"}


class TreezApp(SystemApp):
    system = "treez"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.tokens = TokenBook(ctx.clock)

    def rules(self) -> Iterable[Rule]:
        base = "/v2.0/dispensary/<dispensary>"
        return [
            Rule(f"{base}/config/api/gettokens", endpoint="gettokens", methods=["POST"]),
            Rule(
                f"{base}/ticket/lastUpdated/after/<after>/page/<int:page>/pagesize/<int:size>",
                endpoint="tickets",
                methods=["GET"],
            ),
            Rule(f"{base}/product/product_list", endpoint="product_list", methods=["GET"]),
        ]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
        return ApiError(status, {"resultCode": "FAIL", "resultReason": message}, headers)

    def gettokens(self, request: Request, dispensary: str) -> Reply:
        store_id = self.ctx.credentials.store_for_dispensary(dispensary)
        if store_id is None:
            raise self.error(404, f"unknown dispensary {dispensary!r}")
        key = self.ctx.credentials.treez[store_id]
        if request.form.get("client_id") != key.client_id or request.form.get("apikey") != key.api_key:
            raise self.error(401, "invalid client_id or apikey")
        ttl = self.ctx.board["treez"].token_ttl_seconds
        ttl = TOKEN_TTL if ttl is None else ttl
        token = secrets.token_urlsafe(24)
        self.tokens.issue(token, dispensary, ttl)
        return Reply(
            {"resultCode": "SUCCESS", "access_token": token, "expires_in": int(ttl)}, store_id=store_id
        )

    def _store(self, request: Request, dispensary: str) -> str:
        store_id = self.ctx.credentials.store_for_dispensary(dispensary)
        if store_id is None:
            raise self.error(404, f"unknown dispensary {dispensary!r}")
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        subject = self.tokens.subject(token) if token else None
        if subject is None:
            raise self.error(401, "access token missing, invalid or expired")
        if request.headers.get("client_id") != self.ctx.credentials.treez[store_id].client_id:
            raise self.error(401, "client_id header missing or wrong")
        if subject != dispensary:
            raise self.error(403, "token was issued for another dispensary")
        return store_id

    def tickets(self, request: Request, dispensary: str, after: str, page: int, size: int) -> Reply:
        """Tickets updated strictly after `after`, newest first; a short page is the last."""
        store_id = self._store(request, dispensary)
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise self.error(400, f"pagesize must be between 1 and {MAX_PAGE_SIZE}")
        if page < 1:
            raise self.error(400, "page starts at 1")
        since = parse_time(after, "after")
        portfolio = self.ctx.portfolio
        store = portfolio.store(store_id)
        end = portfolio.now if store.pos_feed_end is None else store.pos_feed_end - timedelta(microseconds=1)
        orders = [o for o in portfolio.orders_between(store_id, since, end) if o.updated_at > since]
        orders.reverse()
        chunk = orders[(page - 1) * size : page * size]
        records = [self._ticket(o) for o in chunk]
        return Reply(
            {"resultCode": "SUCCESS", "data": {"ticketList": records}}, store_id=store_id, records=records
        )

    def _ticket(self, order: Order) -> dict[str, Any]:
        return {
            "ticket_id": f"{order.number:x}-{order.store_id.lower()}",
            "order_source": "ECOMMERCE" if order.channel == "online" else "IN_STORE",
            "type": _TYPE[order.fulfillment],
            "order_status": "COMPLETED" if order.status == "completed" else "CANCELED",
            "date_created": iso(order.placed_at),
            "last_updated_at": iso(order.updated_at),
            "sub_total": order.subtotal,
            "discount_total": order.discount,
            "tax_total": order.tax,
            "total": order.total,
            "items": [
                {
                    "product_id": line.pos_id,
                    "product_type": TREEZ_CATEGORY[line.category],
                    "product_brand": line.brand,
                    "quantity": line.quantity,
                    "price_sell": line.unit_price,
                    "price_total": line.total_price,
                }
                for line in order.lines
            ],
        }

    def product_list(self, request: Request, dispensary: str) -> Reply:
        store_id = self._store(request, dispensary)
        try:
            page = int(request.args.get("page", "1"))
            size = int(request.args.get("pagesize", str(MAX_PAGE_SIZE)))
        except ValueError:
            raise self.error(400, "page and pagesize must be integers") from None
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            raise self.error(400, f"page starts at 1; pagesize is 1 to {MAX_PAGE_SIZE}")
        products = self.ctx.portfolio.products(store_id)  # every product is active: `active` filters nothing
        chunk = products[(page - 1) * size : page * size]
        records = [
            {
                "product_id": p.pos_id,
                "category_type": TREEZ_CATEGORY[p.category],
                "sellable_quantity": p.pos_stock,
                "product_configurable_fields": {
                    "brand": p.brand,
                    "name": p.name,
                    "total_mg_thc": p.package_thc_mg,
                },
                "pricing": {"price_sell": money(p.price)},
                "e_commerce": {
                    "primary_image": self.image_url(request, p.image_path),
                    "hide_from_menu": not p.pos_online,
                    "minimum_visible_inventory_level": p.min_visible,
                },
                "last_updated_at": iso(p.pos_modified_at),
            }
            for p in chunk
        ]
        return Reply(
            {"resultCode": "SUCCESS", "data": {"product_list": records}}, store_id=store_id, records=records
        )
