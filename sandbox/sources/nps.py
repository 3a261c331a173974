"""NPS API: survey responses per store, numbered pages with a page count.

The key goes in the `X-Api-Key` header; the `api_key` query parameter is still accepted, as the vendor
does, for clients that have not moved.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Iterable

from werkzeug.routing import Rule
from werkzeug.wrappers import Request

from sandbox.sources.http import ApiError, Reply, SystemApp, arg, int_arg, iso, parse_time


class NpsApp(SystemApp):
    system = "nps"

    def rules(self) -> Iterable[Rule]:
        return [Rule("/v2/responses", endpoint="responses", methods=["GET"])]

    def responses(self, request: Request) -> Reply:
        given = request.headers.get("X-Api-Key") or request.args.get("api_key", "")
        if not hmac.compare_digest(given.encode(), self.ctx.credentials.nps_api_key.encode()):
            raise ApiError(401, {"error": "invalid api_key"})
        portfolio = self.ctx.portfolio
        store_id = arg(request, "store_id")
        stores = [s.id for s in portfolio.stores] if store_id is None else [store_id]
        raw = arg(request, "since")
        since = parse_time(raw, "since") if raw else None
        page = int_arg(request, "page", 1, 1, 10**6)
        per_page = int_arg(request, "per_page", 50, 1, 200)
        rows = [
            r
            for sid in stores
            if portfolio.has_store(sid)
            for r in portfolio.nps(sid)
            if since is None or r.responded_at >= since
        ]
        rows.sort(key=lambda r: (r.responded_at, r.id))
        records = [
            {
                "id": r.id,
                "store_id": r.store_id,
                "score": r.score,
                "comment": r.comment,
                "responded_at": iso(r.responded_at),
            }
            for r in rows[(page - 1) * per_page : page * per_page]
        ]
        pages = max(1, math.ceil(len(rows) / per_page))
        return Reply({"responses": records, "page": page, "pages": pages}, store_id=store_id, records=records)
