"""Flowhub-style POS API: `clientId` and `key` headers, orders by location and creation time, inventory.

Shapes follow Flowhub's public developer portal: `GET /v1/orders/findByLocationId/{locationId}` with
`created_after`/`created_before` and `page`/`page_size` (≤ 500), answering `{"orders": [...], "total": n}`;
`GET /v0/locations/{locationId}/inventory` answering a list. A bare date is UTC midnight.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request

from sandbox.portfolio import Order
from sandbox.portfolio.catalog import FLOWHUB_CATEGORY
from sandbox.sources.http import ApiError, Reply, SystemApp, arg, int_arg, iso, money, parse_time

MAX_PAGE_SIZE = 500
_ORDER_TYPE = {"pickup": "pickup", "delivery": "delivery", "in_store": "in-store"}


class FlowhubApp(SystemApp):
    system = "flowhub"

    def rules(self) -> Iterable[Rule]:
        return [
            Rule("/v1/orders/findByLocationId/<location>", endpoint="orders", methods=["GET"]),
            Rule("/v0/locations/<location>/inventory", endpoint="inventory", methods=["GET"]),
        ]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
        return ApiError(status, {"status": status, "message": message}, headers)

    def _store(self, request: Request, location: str) -> str:
        store_id = self.ctx.credentials.store_for_flowhub_location(location)
        if store_id is None:
            raise self.error(404, f"location {location!r} not found")
        key = self.ctx.credentials.flowhub[store_id]
        given_id = request.headers.get("clientId", "")
        given_key = request.headers.get("key", "")
        if given_id != self.ctx.credentials.flowhub_client_id or not hmac.compare_digest(
            given_key.encode(), key.encode()
        ):
            raise self.error(401, "clientId or key missing or wrong")
        return store_id

    def orders(self, request: Request, location: str) -> Reply:
        """Orders created in [created_after, created_before], oldest first, a page at a time."""
        store_id = self._store(request, location)
        raw_after = arg(request, "created_after")
        if raw_after is None:
            raise self.error(400, "created_after is required")
        after = parse_time(raw_after, "created_after")
        raw_before = arg(request, "created_before")
        portfolio = self.ctx.portfolio
        before = parse_time(raw_before, "created_before") if raw_before else portfolio.now
        store = portfolio.store(store_id)
        end = portfolio.now if store.pos_feed_end is None else store.pos_feed_end - timedelta(microseconds=1)
        page = int_arg(request, "page", 1, 1, 10**6)
        size = int_arg(request, "page_size", 100, 1, MAX_PAGE_SIZE)
        orders = portfolio.orders_between(store_id, after, min(before, end), attr="placed_at")
        records = [self._order(o, location) for o in orders[(page - 1) * size : page * size]]
        return Reply({"orders": records, "total": len(orders)}, store_id=store_id, records=records)

    def _order(self, order: Order, location: str) -> dict[str, Any]:
        sold = order.status == "completed"
        return {
            "_id": f"fh-{order.number:x}",
            "locationId": location,
            "orderStatus": "sold" if sold else "cancelled",
            "voided": False,
            "orderType": _ORDER_TYPE[order.fulfillment],
            "customerId": f"c-{order.customer_id}",
            "createdOn": iso(order.placed_at),
            "completedOn": iso(order.updated_at) if sold else None,
            "totals": {
                "subTotal": order.subtotal,
                "totalDiscounts": order.discount,
                "totalTaxes": order.tax,
                "finalTotal": order.total,
            },
            "itemsInCart": [
                {
                    "productId": line.pos_id,
                    "brand": line.brand,
                    "category": FLOWHUB_CATEGORY[line.category],
                    "quantity": line.quantity,
                    "unitPrice": line.unit_price,
                    "totalPrice": line.total_price,
                }
                for line in order.lines
            ],
        }

    def inventory(self, request: Request, location: str) -> Reply:
        store_id = self._store(request, location)
        records = [
            {
                "productId": p.pos_id,
                "variantId": f"{p.pos_id}-v1",
                "productName": p.name,
                "brand": p.brand,
                "category": FLOWHUB_CATEGORY[p.category],
                "quantity": p.pos_stock,
                "roomName": "Sales Floor",
                "locationId": location,
                "preTaxPriceInPennies": round(money(p.price) * 100),
                "sku": p.sku,
            }
            for p in self.ctx.portfolio.products(store_id)
        ]
        return Reply(records, store_id=store_id, records=records)
