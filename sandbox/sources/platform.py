"""The company's e-commerce platform API: OAuth2 client credentials, cursor pages, stores, data, feeds."""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar

from werkzeug.routing import Rule
from werkzeug.wrappers import Request

from sandbox.portfolio import AnalyticsDay, Order, Store, UsageDay
from sandbox.sources.http import (
    ApiError,
    BadParam,
    Context,
    Reply,
    SystemApp,
    TokenBook,
    arg,
    int_arg,
    iso,
    money,
    parse_day,
    parse_time,
)

TOKEN_TTL = 3600.0
T = TypeVar("T")


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "o":
            raise ValueError(text)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadParam(f"cursor {cursor!r} is not valid") from None


def encode_feed_cursor(store_index: int, offset: int) -> str:
    """A portfolio feed's position: the store (in portfolio order) and the rows of it already sent."""
    return base64.urlsafe_b64encode(f"s:{store_index}:{offset}".encode()).decode().rstrip("=")


def decode_feed_cursor(cursor: str) -> tuple[int, int]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, index, offset = text.split(":")
        if kind != "s" or int(index) < 0 or int(offset) < 0:
            raise ValueError(text)
        return int(index), int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadParam(f"cursor {cursor!r} is not valid") from None


class PlatformApp(SystemApp):
    system = "platform"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.tokens = TokenBook(ctx.clock)

    def rules(self) -> Iterable[Rule]:
        return [
            Rule("/oauth/token", endpoint="token", methods=["POST"]),
            Rule("/v1/stores", endpoint="stores", methods=["GET"]),
            Rule("/v1/stores/<store_id>/analytics/daily", endpoint="analytics", methods=["GET"]),
            Rule("/v1/stores/<store_id>/orders", endpoint="orders", methods=["GET"]),
            Rule("/v1/stores/<store_id>/menu", endpoint="menu", methods=["GET"]),
            Rule("/v1/stores/<store_id>/promotions", endpoint="promotions", methods=["GET"]),
            Rule("/v1/stores/<store_id>/usage/daily", endpoint="usage", methods=["GET"]),
            Rule("/v1/brands/<path:brand>/msrp", endpoint="msrp", methods=["GET"]),
            Rule("/v1/analytics/daily", endpoint="analytics_feed", methods=["GET"]),
            Rule("/v1/usage/daily", endpoint="usage_feed", methods=["GET"]),
            Rule("/v1/orders", endpoint="orders_feed", methods=["GET"]),
        ]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
        return ApiError(
            status,
            {"error": "request_failed" if status < 500 else "server_error", "message": message},
            headers,
        )

    # --- auth -------------------------------------------------------------------------------
    def token(self, request: Request) -> Reply:
        """OAuth2 client credentials; the client authenticates in the form or with HTTP Basic."""
        if request.form.get("grant_type") != "client_credentials":
            raise ApiError(400, {"error": "unsupported_grant_type"})
        client_id = request.form.get("client_id")
        secret = request.form.get("client_secret")
        if request.authorization is not None and request.authorization.type == "basic":
            client_id, secret = request.authorization.username, request.authorization.password
        creds = self.ctx.credentials
        if client_id != creds.platform_client_id or secret != creds.platform_client_secret:
            raise ApiError(401, {"error": "invalid_client"}, {"WWW-Authenticate": 'Basic realm="platform"'})
        ttl = self.ctx.board["platform"].token_ttl_seconds
        ttl = TOKEN_TTL if ttl is None else ttl
        token = secrets.token_urlsafe(32)
        self.tokens.issue(token, client_id, ttl)
        return Reply({"access_token": token, "token_type": "Bearer", "expires_in": int(ttl)})

    def _authorize(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not token or self.tokens.subject(token) is None:
            raise ApiError(
                401,
                {"error": "invalid_token", "message": "bearer token missing, invalid or expired"},
                {"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )

    def _store(self, request: Request, store_id: str) -> Store:
        self._authorize(request)
        if not self.ctx.portfolio.has_store(store_id):
            raise self.error(404, f"no store {store_id!r}")
        return self.ctx.portfolio.store(store_id)

    # --- paging -----------------------------------------------------------------------------
    def _page(self, request: Request, items: Sequence[T]) -> tuple[Sequence[T], str | None]:
        limit = int_arg(request, "limit", 100, 1, 500)
        cursor = arg(request, "cursor")
        offset = decode_cursor(cursor) if cursor else 0
        chunk = items[offset : offset + limit]
        more = offset + limit < len(items)
        return chunk, encode_cursor(offset + limit) if more else None

    def _list(
        self, request: Request, items: Sequence[T], render: Any, store_id: str | None = None, **extra: Any
    ) -> Reply:
        chunk, next_cursor = self._page(request, items)
        records = [render(item) for item in chunk]
        return Reply(
            {"data": records, "next_cursor": next_cursor, **extra}, store_id=store_id, records=records
        )

    def _feed(
        self, request: Request, rows: Callable[[Store], Sequence[T]], render: Callable[[T], dict[str, Any]]
    ) -> Reply:
        """A page of every store's rows, store-major, each naming its store: a page reads only its stores.

        Not about one store (`store_id` None), so per-store faults and rate limits leave it alone.
        """
        limit = int_arg(request, "limit", 100, 1, 500)
        cursor = arg(request, "cursor")
        index, offset = decode_feed_cursor(cursor) if cursor else (0, 0)
        stores = self.ctx.portfolio.stores
        records: list[dict[str, Any]] = []
        while index < len(stores) and len(records) < limit:
            store = stores[index]
            found = rows(store)
            chunk = found[offset : offset + limit - len(records)]
            records += [{"store_id": store.id, **render(row)} for row in chunk]
            offset += len(chunk)
            if offset >= len(found):
                index, offset = index + 1, 0
        next_cursor = encode_feed_cursor(index, offset) if index < len(stores) else None
        return Reply({"data": records, "next_cursor": next_cursor}, records=records)

    # --- endpoints --------------------------------------------------------------------------
    def stores(self, request: Request) -> Reply:
        self._authorize(request)

        def render(s: Store) -> dict[str, Any]:
            return {
                "id": s.id,
                "name": s.name,
                "state": s.state,
                "timezone": s.timezone,
                "parent_id": s.parent_id,
                "license_number": s.license_number,
                "pos": {"kind": s.pos_kind, "location_id": s.pos_location_id},
                "plan": s.plan,
                "onboarding_started_on": _day(s.onboarding_started_on),
                "plan_limits": {
                    "monthly_orders": s.plan_limits.monthly_orders,
                    "locations": s.plan_limits.locations,
                },
                "updated_at": iso(s.created_at),
            }

        return self._list(request, self.ctx.portfolio.stores, render)

    def _since_day(self, request: Request) -> date | None:
        raw = arg(request, "since")
        return parse_day(raw, "since") if raw else None

    def _analytics(self, store_id: str, since: date | None) -> list[AnalyticsDay]:
        return [a for a in self.ctx.portfolio.analytics(store_id) if since is None or a.day >= since]

    def _usage(self, store_id: str, since: date | None) -> list[UsageDay]:
        return [u for u in self.ctx.portfolio.usage(store_id) if since is None or u.day >= since]

    def _updated_since(self, request: Request) -> datetime:
        raw = arg(request, "updated_since")
        first = datetime.combine(self.ctx.portfolio.history[0], time(0), UTC)
        return parse_time(raw, "updated_since") if raw else first

    def _online_orders(self, store_id: str, since: datetime) -> list[Order]:
        """Online orders (completed and canceled) updated at or after `since`, oldest first."""
        portfolio = self.ctx.portfolio
        return [o for o in portfolio.orders_between(store_id, since, portfolio.now) if o.channel == "online"]

    def analytics(self, request: Request, store_id: str) -> Reply:
        store = self._store(request, store_id)
        rows = self._analytics(store.id, self._since_day(request))
        return self._list(request, rows, _analytics_row, store.id)

    def usage(self, request: Request, store_id: str) -> Reply:
        store = self._store(request, store_id)
        rows = self._usage(store.id, self._since_day(request))
        return self._list(request, rows, _usage_row, store.id)

    def orders(self, request: Request, store_id: str) -> Reply:
        store = self._store(request, store_id)
        rows = self._online_orders(store.id, self._updated_since(request))
        return self._list(request, rows, _order_row, store.id)

    # --- portfolio feeds: the per-store rows of every store, each with its `store_id` ---------------
    def analytics_feed(self, request: Request) -> Reply:
        self._authorize(request)
        since = self._since_day(request)
        return self._feed(request, lambda s: self._analytics(s.id, since), _analytics_row)

    def usage_feed(self, request: Request) -> Reply:
        self._authorize(request)
        since = self._since_day(request)
        return self._feed(request, lambda s: self._usage(s.id, since), _usage_row)

    def orders_feed(self, request: Request) -> Reply:
        self._authorize(request)
        since = self._updated_since(request)
        return self._feed(request, lambda s: self._online_orders(s.id, since), _order_row)

    def menu(self, request: Request, store_id: str) -> Reply:
        store = self._store(request, store_id)
        menu = self.ctx.portfolio.menu(store.id)
        synced = iso(menu.last_menu_sync_at) if menu.last_menu_sync_at else None
        return self._list(
            request,
            menu.items,
            lambda m: {
                "id": m.id,
                "pos_product_id": m.pos_product_id,
                "name": m.name,
                "brand": m.brand,
                "category": m.category,
                "price": money(m.price),
                "stock": m.stock,
                "visible": m.visible,
                "image_url": self.image_url(request, m.image_path),
                "potency": {"thc": m.potency, "unit": m.potency_unit},
                "package_thc_mg": m.package_thc_mg,
                "servings": m.servings,
                "updated_at": iso(m.updated_at),
            },
            store.id,
            last_menu_sync_at=synced,
        )

    def promotions(self, request: Request, store_id: str) -> Reply:
        store = self._store(request, store_id)
        return self._list(
            request,
            self.ctx.portfolio.promotions(store.id),
            lambda p: {
                "id": p.id,
                "title": p.title,
                "description": p.description,
                "discount_percent": p.discount_percent,
                "starts_on": p.starts_on.isoformat(),
                "ends_on": p.ends_on.isoformat(),
                "channels": list(p.channels),
                "updated_at": iso(p.updated_at),
            },
            store.id,
        )

    def msrp(self, request: Request, brand: str) -> Reply:
        self._authorize(request)
        items = self.ctx.portfolio.msrp(brand)
        if items is None:
            raise self.error(404, f"no MSRP list for brand {brand!r}")
        body = {
            "brand": brand,
            "items": [
                {"name": i.name, "msrp": i.msrp, "tolerance_percent": i.tolerance_percent} for i in items
            ],
        }
        return Reply(body, records=[body], single=True)


def _analytics_row(a: AnalyticsDay) -> dict[str, Any]:
    return {
        "date": a.day.isoformat(),
        "sessions": a.sessions,
        "carts_created": a.carts_created,
        "checkouts_started": a.checkouts_started,
        "orders": a.orders,
        "revenue": money(a.revenue),
        "updated_at": iso(a.updated_at),
    }


def _usage_row(u: UsageDay) -> dict[str, Any]:
    return {
        "date": u.day.isoformat(),
        "logins": u.logins,
        "active_users": u.active_users,
        "menu_edits": u.menu_edits,
        "updated_at": iso(u.updated_at),
    }


def _order_row(o: Order) -> dict[str, Any]:
    return {
        "id": o.platform_id,
        "placed_at": iso(o.placed_at),
        "status": o.status,
        "fulfillment": o.fulfillment,
        "total": o.total,
        "items": [
            {
                "product_id": line.menu_id,
                "category": line.category,
                "quantity": line.quantity,
                "price": line.unit_price,
                **({"weight_grams": line.weight_grams} if line.weight_grams is not None else {}),
                **({"thc_mg": line.thc_mg} if line.thc_mg is not None else {}),
            }
            for line in o.lines
        ],
        "updated_at": iso(o.updated_at),
    }


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None
