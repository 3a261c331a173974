"""The console as a WSGI app: `/` the dashboard, `/list-views`, `/accounts`, `/accounts/<store>` (its 360)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

import requests
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.console import pages, views
from sandbox.console.api import OrgApi
from sandbox.server import RunningServer, serve
from sandbox.tls import TLSMaterial


class ConsoleApp:
    """Renders the org as a CSM sees it; every figure comes from the org's APIs at request time.

    `today` is the demo's day (the org's data ends the day before), so the trend and "overdue" read
    as they did when the jobs ran. `?as=<username>` shows the list views as that user (My Accounts).
    """

    def __init__(
        self, org_url: str, token: Callable[[str | None], str], session: requests.Session, today: date
    ) -> None:
        self.api = OrgApi(org_url, token, session)
        self.today = today
        self.urls = Map(
            [
                Rule("/", endpoint="dashboard"),
                Rule("/list-views", endpoint="list_views"),
                Rule("/accounts", endpoint="accounts"),
                Rule("/accounts/<store>", endpoint="account"),
            ]
        )

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = self.urls.bind_to_environ(environ).match()
            html = getattr(self, f"_{endpoint}")(request, **args)
            response = Response(html, content_type="text/html; charset=utf-8")
        except NotFound:
            response = Response(
                pages.not_found_page("No such page", self.today),
                status=404,
                content_type="text/html; charset=utf-8",
            )
        except HTTPException as exc:
            response = exc.get_response(environ)
        response.headers["Cache-Control"] = "no-store"
        return response(environ, start_response)

    def _dashboard(self, request: Request) -> str:
        title, components = views.dashboard(self.api)
        return pages.dashboard_page(title, components, self.today)

    def _list_views(self, request: Request) -> str:
        user = request.args.get("as") or None
        try:
            found = views.list_views(self.api.as_user(user))
        except ValueError:  # the org has no such active user to sign in as
            return pages.not_found_page(f"No active user {user}", self.today)
        return pages.list_views_page(found, self.today, user or "the integration user")

    def _accounts(self, request: Request) -> str:
        return pages.accounts_page(views.stores(self.api), self.today)

    def _account(self, request: Request, store: str) -> str:
        found = views.account_360(self.api, store, self.today)
        if found is None:
            return pages.not_found_page(f"No Account has Store_Id__c {store}", self.today)
        start = self.today - timedelta(days=views.TREND_DAYS)
        return pages.account_page(found, self.today, start)


def serve_console(
    org_url: str, token: Callable[[str | None], str], tls: TLSMaterial, today: date, port: int = 0
) -> RunningServer:
    """The console over plain HTTP on 127.0.0.1 (a person's browser does not trust the sandbox's CA).

    It reads the org over HTTPS, verified against the sandbox's CA like every other client.
    """
    return serve(ConsoleApp(org_url, token, tls.client_session(), today), tls, port=port, plain=True)
