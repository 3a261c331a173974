"""Reading the org over its REST API as a signed-in user: SOQL, list views, the Analytics API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from simple_salesforce.format import format_soql

API_VERSION = "59.0"
MAX_ROWS = 2000  # one page of a list view, and the most a console section reads


class OrgApi:
    """A REST client for one org: `token(username)` gives a session for that user (None: integration user)."""

    def __init__(
        self,
        base_url: str,
        token: Callable[[str | None], str],
        session: requests.Session,
        user: str | None = None,
    ) -> None:
        self.base = f"{base_url.rstrip('/')}/services/data/v{API_VERSION}"
        self.root = base_url.rstrip("/")
        self._token = token
        self.session = session
        self.user = user
        self._bearer: str | None = None

    def as_user(self, user: str | None) -> OrgApi:
        """The same org seen by another user (list views scoped `Mine` follow the user)."""
        return OrgApi(self.root, self._token, self.session, user)

    def get(self, path: str, **params: str) -> Any:
        """GET `path` (under /services/data/vXX.X, or a full /services/... URL the API handed back)."""
        if self._bearer is None:
            self._bearer = self._token(self.user)
        url = self.root + path if path.startswith("/services/") else self.base + path
        reply = self.session.get(
            url, params=params, headers={"Authorization": f"Bearer {self._bearer}"}, timeout=30
        )
        reply.raise_for_status()
        return reply.json()

    def query(self, soql: str, **values: Any) -> list[dict[str, Any]]:
        """Every row of a SOQL query; `values` are quoted into `{name}` placeholders (format_soql)."""
        page = self.get("/query", q=format_soql(soql, **values) if values else soql)
        rows: list[dict[str, Any]] = list(page["records"])
        while not page.get("done", True) and page.get("nextRecordsUrl") and len(rows) < MAX_ROWS:
            page = self.get(page["nextRecordsUrl"])
            rows.extend(page["records"])
        for row in rows:
            row.pop("attributes", None)
        return rows

    def dashboards(self) -> list[dict[str, Any]]:
        return list(self.get("/analytics/dashboards"))

    def dashboard(self, dashboard_id: str) -> dict[str, Any]:
        return dict(self.get(f"/analytics/dashboards/{dashboard_id}"))

    def list_views(self, sobject: str) -> list[dict[str, Any]]:
        return list(self.get(f"/sobjects/{sobject}/listviews")["listviews"])

    def list_view_results(self, results_url: str) -> dict[str, Any]:
        return dict(self.get(results_url, limit=str(MAX_ROWS)))
