"""Support API: bearer token, tickets per store, `offset`/`limit` pages with a total."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from werkzeug.routing import Rule
from werkzeug.wrappers import Request

from sandbox.sources.http import ApiError, Reply, SystemApp, arg, int_arg, iso, parse_time


class SupportApp(SystemApp):
    system = "support"

    def rules(self) -> Iterable[Rule]:
        return [Rule("/api/tickets", endpoint="tickets", methods=["GET"])]

    def tickets(self, request: Request) -> Reply:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not hmac.compare_digest(token.encode(), self.ctx.credentials.support_token.encode()):
            raise ApiError(401, {"error": "unauthorized"}, {"WWW-Authenticate": 'Bearer realm="support"'})
        portfolio = self.ctx.portfolio
        store_id = arg(request, "store_id")
        stores = [s.id for s in portfolio.stores] if store_id is None else [store_id]
        raw = arg(request, "updated_since")
        since = parse_time(raw, "updated_since") if raw else None
        offset = int_arg(request, "offset", 0, 0, 10**9)
        limit = int_arg(request, "limit", 100, 1, 500)
        rows = [
            t
            for sid in stores
            if portfolio.has_store(sid)
            for t in portfolio.tickets(sid)
            if since is None or t.updated_at >= since
        ]
        rows.sort(key=lambda t: (t.updated_at, t.id))
        records = [
            {
                "id": t.id,
                "store_id": t.store_id,
                "subject": t.subject,
                "priority": t.priority,
                "status": t.status,
                "opened_at": iso(t.opened_at),
                "closed_at": iso(t.closed_at) if t.closed_at else None,
                "updated_at": iso(t.updated_at),
            }
            for t in rows[offset : offset + limit]
        ]
        return Reply({"tickets": records, "total": len(rows)}, store_id=store_id, records=records)
