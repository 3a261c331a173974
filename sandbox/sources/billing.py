"""Billing API: `X-Api-Key` header, invoices and payments per store, RFC 8288 `Link` pagination."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from werkzeug.routing import Rule
from werkzeug.wrappers import Request

from sandbox.portfolio import Invoice, Payment
from sandbox.sources.http import ApiError, Reply, SystemApp, arg, int_arg, iso, parse_time

T = TypeVar("T")


class BillingApp(SystemApp):
    system = "billing"

    def rules(self) -> Iterable[Rule]:
        return [
            Rule("/v1/invoices", endpoint="invoices", methods=["GET"]),
            Rule("/v1/payments", endpoint="payments", methods=["GET"]),
        ]

    def _authorize(self, request: Request) -> None:
        given = request.headers.get("X-Api-Key", "")
        if not hmac.compare_digest(given.encode(), self.ctx.credentials.billing_api_key.encode()):
            raise ApiError(401, {"error": "unauthorized", "message": "missing or invalid X-Api-Key"})

    def _stores(self, request: Request) -> tuple[str | None, list[str]]:
        store_id = arg(request, "store_id")
        portfolio = self.ctx.portfolio
        if store_id is None:
            return None, [s.id for s in portfolio.stores]
        return store_id, [store_id] if portfolio.has_store(store_id) else []

    def _linked(
        self,
        request: Request,
        items: Sequence[T],
        render: Callable[[T], dict[str, Any]],
        store_id: str | None,
    ) -> Reply:
        page = int_arg(request, "page", 1, 1, 10**6)
        per_page = int_arg(request, "per_page", 100, 1, 500)
        chunk = items[(page - 1) * per_page : page * per_page]
        records = [render(item) for item in chunk]
        headers: dict[str, str] = {}
        if page * per_page < len(items):
            params = {k: v for k, v in request.args.items() if k not in ("page", "per_page")}
            params.update(page=str(page + 1), per_page=str(per_page))
            headers["Link"] = f'<{self.own_url(request)}?{urlencode(params)}>; rel="next"'
        return Reply(records, headers=headers, store_id=store_id, records=records)

    def _since(self, request: Request) -> datetime | None:
        raw = arg(request, "updated_since")
        return parse_time(raw, "updated_since") if raw else None

    def invoices(self, request: Request) -> Reply:
        self._authorize(request)
        store_id, stores = self._stores(request)
        since = self._since(request)
        rows = [
            i
            for sid in stores
            for i in self.ctx.portfolio.invoices(sid)
            if since is None or i.updated_at >= since
        ]
        rows.sort(key=lambda i: (i.updated_at, i.id))

        def render(i: Invoice) -> dict[str, Any]:
            return {
                "id": i.id,
                "store_id": i.store_id,
                "number": i.number,
                "issued_on": i.issued_on.isoformat(),
                "due_on": i.due_on.isoformat(),
                "amount": i.amount,
                "amount_paid": i.amount_paid,
                "status": i.status,
                "updated_at": iso(i.updated_at),
            }

        return self._linked(request, rows, render, store_id)

    def payments(self, request: Request) -> Reply:
        self._authorize(request)
        store_id, stores = self._stores(request)
        since = self._since(request)
        rows = [
            p
            for sid in stores
            for p in self.ctx.portfolio.payments(sid)
            if since is None or p.updated_at >= since
        ]
        rows.sort(key=lambda p: (p.updated_at, p.id))

        def render(p: Payment) -> dict[str, Any]:
            return {
                "id": p.id,
                "invoice_id": p.invoice_id,
                "store_id": p.store_id,
                "amount": p.amount,
                "method": p.method,
                "status": p.status,
                "return_code": p.return_code,
                "payment_method_changed": p.payment_method_changed,
                "created_at": iso(p.created_at),
                "updated_at": iso(p.updated_at),
            }

        return self._linked(request, rows, render, store_id)
