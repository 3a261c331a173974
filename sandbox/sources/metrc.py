"""Metrc-style state tracking API: Basic vendor:user keys, receipts by last-modified window (<= 24 h)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import timedelta

from werkzeug.routing import Rule
from werkzeug.wrappers import Request

from sandbox.portfolio import Receipt
from sandbox.sources.http import ApiError, Context, Reply, SystemApp, arg, iso, parse_time

MAX_WINDOW = timedelta(hours=24)


class MetrcApp(SystemApp):
    system = "metrc"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self._licenses = {s.license_number: s.id for s in ctx.portfolio.stores}

    def rules(self) -> Iterable[Rule]:
        return [Rule("/sales/v1/receipts/active", endpoint="receipts", methods=["GET"])]

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
        return ApiError(status, {"Message": message}, headers)

    def _authorize(self, request: Request) -> None:
        refused = self.error(
            401,
            "Authorization has been denied for this request.",
            {"WWW-Authenticate": 'Basic realm="Metrc"'},
        )
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            raise refused
        try:
            vendor, _, user = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise refused from None
        creds = self.ctx.credentials
        if vendor != creds.metrc_vendor_key or user != creds.metrc_user_key:
            raise refused

    def receipts(self, request: Request) -> Reply:
        self._authorize(request)
        license_number = arg(request, "licenseNumber", any_case=True)
        if license_number is None:
            raise self.error(400, "licenseNumber is required.")
        store_id = self._licenses.get(license_number)
        if store_id is None:
            raise self.error(401, f"No access to license {license_number}.")
        raw_start = arg(request, "lastModifiedStart", any_case=True)
        raw_end = arg(request, "lastModifiedEnd", any_case=True)
        if raw_start is None or raw_end is None:
            raise self.error(400, "lastModifiedStart and lastModifiedEnd are required.")
        start = parse_time(raw_start, "lastModifiedStart")
        end = parse_time(raw_end, "lastModifiedEnd")
        if end < start:
            raise self.error(400, "lastModifiedEnd must not be before lastModifiedStart.")
        if end - start > MAX_WINDOW:
            raise self.error(
                400, "The time span between lastModifiedStart and lastModifiedEnd cannot exceed 24 hours."
            )
        portfolio = self.ctx.portfolio
        receipts: list[Receipt] = []
        day = start.date() - timedelta(days=1)
        while day <= end.date():
            receipts.extend(r for r in portfolio.receipts(store_id, day) if start <= r.last_modified <= end)
            day += timedelta(days=1)
        receipts.sort(key=lambda r: (r.last_modified, r.id))
        records = [
            {
                "Id": r.id,
                "ReceiptNumber": r.receipt_number,
                "SalesDateTime": iso(r.sales_at),
                "SalesCustomerType": "Consumer",
                "TotalPackages": r.packages,
                "TotalPrice": r.total_price,
                "IsFinal": r.is_final,
                "LastModified": iso(r.last_modified),
            }
            for r in receipts
        ]
        return Reply(records, store_id=store_id, records=records)
