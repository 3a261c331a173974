"""BLAZE-style POS partner API: `partner_key` and `Authorization` (the shop's key) headers.

BLAZE serves JSON from Java services: times are epoch milliseconds, lists come as
`{"values": [...], "skip": n, "limit": n, "total": n}` and page with `skip`/`limit`. Transactions are
read by `startDate`/`endDate` (epoch ms) on their modification time; products carry their stock per
inventory in `quantities` and their category as a nested object.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request

from sandbox.portfolio import Order
from sandbox.portfolio.catalog import BLAZE_CATEGORY
from sandbox.sources.http import ApiError, BadParam, Reply, SystemApp, arg, int_arg, money

MAX_LIMIT = 500
_QUEUE = {"pickup": "Online", "delivery": "Delivery", "in_store": "WalkIn"}


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _from_millis(raw: str, name: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(raw) / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        raise BadParam(f"{name} must be epoch milliseconds, got {raw!r}") from None


class BlazeApp(SystemApp):
    system = "blaze"

    def rules(self) -> Iterable[Rule]:
        return [
            Rule("/api/v1/partner/transactions", endpoint="transactions", methods=["GET"]),
            Rule("/api/v1/partner/products", endpoint="products", methods=["GET"]),
        ]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
        return ApiError(status, {"field": "", "message": message, "errorType": "Error"}, headers)

    def _store(self, request: Request) -> str:
        partner = request.headers.get("partner_key", "")
        if not hmac.compare_digest(partner.encode(), self.ctx.credentials.blaze_partner_key.encode()):
            raise self.error(401, "Invalid partner key")
        store_id = self.ctx.credentials.store_for_blaze_key(request.headers.get("Authorization", ""))
        if store_id is None:
            raise self.error(401, "Invalid dispensary key")
        return store_id

    def transactions(self, request: Request) -> Reply:
        """Transactions modified in [startDate, endDate], oldest first."""
        store_id = self._store(request)
        raw_start = arg(request, "startDate")
        if raw_start is None:
            raise self.error(400, "startDate is required")
        portfolio = self.ctx.portfolio
        start = _from_millis(raw_start, "startDate")
        raw_end = arg(request, "endDate")
        end = _from_millis(raw_end, "endDate") if raw_end else portfolio.now
        store = portfolio.store(store_id)
        if store.pos_feed_end is not None:
            end = min(end, store.pos_feed_end - timedelta(microseconds=1))
        skip = int_arg(request, "skip", 0, 0, 10**9)
        limit = int_arg(request, "limit", 100, 1, MAX_LIMIT)
        orders = portfolio.orders_between(store_id, start, end) if end >= start else []
        records = [self._transaction(o, store.pos_location_id) for o in orders[skip : skip + limit]]
        body = {"values": records, "skip": skip, "limit": limit, "total": len(orders)}
        return Reply(body, store_id=store_id, records=records)

    def _transaction(self, order: Order, shop: int | str) -> dict[str, Any]:
        return {
            "id": f"{order.number:024x}",
            "shopId": str(shop),
            "transNo": str(order.number),
            "transType": "Sale",
            "status": "Completed" if order.status == "completed" else "Canceled",
            "queueType": _QUEUE[order.fulfillment],
            "created": millis(order.placed_at),
            "modified": millis(order.updated_at),
            "processedTime": millis(order.placed_at),
            "cart": {
                "subTotal": order.subtotal,
                "totalDiscount": order.discount,
                "totalCalcTax": order.tax,
                "total": order.total,
                "items": [
                    {
                        "productId": line.pos_id,
                        "quantity": line.quantity,
                        "unitPrice": line.unit_price,
                        "finalPrice": line.total_price,
                        "product": {"category": {"name": BLAZE_CATEGORY[line.category]}},
                    }
                    for line in order.lines
                ],
            },
        }

    def products(self, request: Request) -> Reply:
        store_id = self._store(request)
        skip = int_arg(request, "skip", 0, 0, 10**9)
        limit = int_arg(request, "limit", 100, 1, MAX_LIMIT)
        products = self.ctx.portfolio.products(store_id)
        records = [
            {
                "id": p.pos_id,
                "name": p.name,
                "sku": p.sku,
                "brand": {"name": p.brand},
                "category": {"name": BLAZE_CATEGORY[p.category]},
                "unitPrice": money(p.price),
                "quantities": [{"inventoryId": "Sales Floor", "quantity": p.pos_stock}],
                "modified": millis(p.pos_modified_at),
            }
            for p in products[skip : skip + limit]
        ]
        body = {"values": records, "skip": skip, "limit": limit, "total": len(products)}
        return Reply(body, store_id=store_id, records=records)
