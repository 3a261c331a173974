"""Dutchie-style POS reporting API: Basic auth per location key, products, transactions, inventory."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request

from sandbox.portfolio import Order, Product
from sandbox.portfolio.catalog import DUTCHIE_CATEGORY
from sandbox.sources.http import ApiError, Reply, SystemApp, arg, int_arg, iso, money, parse_time

MAX_WINDOW = timedelta(days=31)
_ORDER_TYPE = {"pickup": "Pickup", "delivery": "Delivery", "in_store": "InStore"}


class DutchieApp(SystemApp):
    system = "dutchie"

    def rules(self) -> Iterable[Rule]:
        return [
            Rule("/whoami", endpoint="whoami", methods=["GET"]),
            Rule("/products", endpoint="products", methods=["GET"]),
            Rule("/reporting/transactions", endpoint="transactions", methods=["GET"]),
            Rule("/reporting/inventory", endpoint="inventory", methods=["GET"]),
        ]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
        return ApiError(status, {"Message": message}, headers)

    def _store(self, request: Request) -> str:
        """The store behind the Basic credentials: the username is the location's key."""
        refused = self.error(
            401,
            "Authorization has been denied for this request.",
            {"WWW-Authenticate": 'Basic realm="Dutchie POS"'},
        )
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            raise refused
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise refused from None
        store_id = self.ctx.credentials.store_for_location_key(user)
        if store_id is None:
            raise refused
        key = self.ctx.credentials.dutchie[store_id]
        if password and password != key.integrator_key:
            raise refused
        return store_id

    def whoami(self, request: Request) -> Reply:
        store_id = self._store(request)
        store = self.ctx.portfolio.store(store_id)
        return Reply({"LocationId": store.pos_location_id, "LocationName": store.name}, store_id=store_id)

    def _product(self, request: Request, product: Product) -> dict[str, Any]:
        return {
            "productId": int(product.pos_id),
            "productName": product.name,
            "sku": product.sku,
            "category": DUTCHIE_CATEGORY[product.category],
            "brandName": product.brand,
            "recPrice": money(product.price),
            "imageUrl": self.image_url(request, product.image_path),
            "onlineProduct": product.pos_online,
            "lastModifiedDateUTC": iso(product.pos_modified_at),
        }

    def products(self, request: Request) -> Reply:
        store_id = self._store(request)
        offset = int_arg(request, "offset", 0, 0, 10**9, any_case=True)
        limit = int_arg(request, "limit", 500, 1, 10_000, any_case=True)
        page = self.ctx.portfolio.products(store_id)[offset : offset + limit]
        records = [self._product(request, p) for p in page]
        return Reply(records, store_id=store_id, records=records)

    def inventory(self, request: Request) -> Reply:
        store_id = self._store(request)
        skip = int_arg(request, "Skip", 0, 0, 10**9, any_case=True)
        take = int_arg(request, "Take", 500, 1, 5_000, any_case=True)
        page = self.ctx.portfolio.products(store_id)[skip : skip + take]
        records = [
            {
                "inventoryId": p.inventory_id,
                "productId": int(p.pos_id),
                "productName": p.name,
                "sku": p.sku,
                "category": DUTCHIE_CATEGORY[p.category],
                "brandName": p.brand,
                "quantityAvailable": p.pos_stock,
                "allocatedQuantity": p.allocated,
                "lastModifiedDateUTC": iso(p.pos_modified_at),
            }
            for p in page
        ]
        return Reply(records, store_id=store_id, records=records)

    def transactions(self, request: Request) -> Reply:
        """Completed sales modified within [from, to] (at most 31 days), oldest first."""
        store_id = self._store(request)
        raw_from = arg(request, "fromLastModifiedDateUTC", any_case=True)
        raw_to = arg(request, "toLastModifiedDateUTC", any_case=True)
        if raw_from is None or raw_to is None:
            raise self.error(400, "fromLastModifiedDateUTC and toLastModifiedDateUTC are required.")
        start = parse_time(raw_from, "fromLastModifiedDateUTC")
        end = parse_time(raw_to, "toLastModifiedDateUTC")
        if end < start:
            raise self.error(400, "toLastModifiedDateUTC must not be before fromLastModifiedDateUTC.")
        if end - start > MAX_WINDOW:
            raise self.error(400, "The date range cannot exceed 31 days.")
        detail = (arg(request, "IncludeDetail", any_case=True) or "").lower() == "true"
        store = self.ctx.portfolio.store(store_id)
        if store.pos_feed_end is not None:
            end = min(end, store.pos_feed_end - timedelta(microseconds=1))
        orders = self.ctx.portfolio.orders_between(store_id, start, end) if end >= start else []
        records = [self._transaction(o, detail) for o in orders if o.status == "completed"]
        return Reply(records, store_id=store_id, records=records)

    def _transaction(self, order: Order, detail: bool) -> dict[str, Any]:
        online = order.channel == "online"
        record: dict[str, Any] = {
            "transactionId": order.number,
            "transactionDate": iso(order.placed_at),
            "transactionType": "Retail",
            "orderSource": "Online" if online else "InStore",
            "orderType": _ORDER_TYPE[order.fulfillment],
            "wasPreOrdered": online,
            "isReturn": False,
            "isVoid": False,
            "subtotal": order.subtotal,
            "totalDiscount": order.discount,
            "tax": order.tax,
            "total": order.total,
            "totalItems": order.items,
            "customerId": order.customer_id,
        }
        if detail:
            record["items"] = [
                {
                    "productId": int(line.pos_id),
                    "inventoryId": line.inventory_id,
                    "quantity": line.quantity,
                    "unitPrice": line.unit_price,
                    "totalPrice": line.total_price,
                    "vendor": line.brand,
                }
                for line in order.lines
            ]
        record["lastModifiedDateUtc"] = iso(order.updated_at)
        return record
