"""One WSGI app for every source sandbox: routes by path prefix and serves the `/__sandbox` controls."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from sandbox.portfolio import Portfolio
from sandbox.slack import PREFIX as SLACK_PREFIX
from sandbox.slack import SlackWebhook
from sandbox.sources.billing import BillingApp
from sandbox.sources.blaze import BlazeApp
from sandbox.sources.credentials import SandboxCredentials
from sandbox.sources.dutchie import DutchieApp
from sandbox.sources.faults import SYSTEMS, FaultBoard, Faults, dumps
from sandbox.sources.flowhub import FlowhubApp
from sandbox.sources.http import MOUNT_KEY, ROOT_KEY, Context, SystemApp
from sandbox.sources.images import ImagesApp
from sandbox.sources.metrc import MetrcApp
from sandbox.sources.nps import NpsApp
from sandbox.sources.platform import PlatformApp
from sandbox.sources.support import SupportApp
from sandbox.sources.treez import TreezApp

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

# Path prefix of each system under the sources server's root.
MOUNTS: dict[str, str] = {
    "dutchie": "/pos/dutchie",
    "treez": "/pos/treez",
    "flowhub": "/pos/flowhub",
    "blaze": "/pos/blaze",
    "metrc": "/metrc",
    "platform": "/platform",
    "billing": "/billing",
    "support": "/support",
    "nps": "/nps",
    "images": "/images",
}
_APPS: dict[str, Callable[[Context], SystemApp]] = {
    "dutchie": DutchieApp,
    "treez": TreezApp,
    "flowhub": FlowhubApp,
    "blaze": BlazeApp,
    "metrc": MetrcApp,
    "platform": PlatformApp,
    "billing": BillingApp,
    "support": SupportApp,
    "nps": NpsApp,
    "images": ImagesApp,
}


class SourcesApp:
    """The source sandboxes behind one root URL, with their fault knobs and request counters."""

    def __init__(
        self,
        portfolio: Portfolio,
        credentials: SandboxCredentials | None = None,
        *,
        base_url: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.portfolio = portfolio
        self.credentials = credentials or SandboxCredentials.derive(portfolio.seed, portfolio.stores)
        self.board = FaultBoard(portfolio.seed, sleep)
        self.context = Context(portfolio, self.credentials, self.board, base_url, clock)
        self.apps: dict[str, SystemApp] = {name: make(self.context) for name, make in _APPS.items()}
        # Longest prefix first, so "/pos/dutchie" is never shadowed by a shorter mount.
        self._routes = sorted(((MOUNTS[n], a) for n, a in self.apps.items()), key=lambda r: -len(r[0]))
        self.slack = SlackWebhook(portfolio.seed)  # the morning brief's Slack channel

    # --- controls (also reachable over HTTP under /__sandbox) --------------------------------
    def faults(self, system: str) -> Faults:
        return self.board[system]

    def set_faults(self, system: str, **changes: Any) -> Faults:
        """`set_faults("dutchie", latency_ms=50, rate_limit_every=10)`; system "*" changes all."""
        return self.board.set(system, **changes)

    def reset_faults(self) -> None:
        self.board.reset()

    def stats(self) -> dict[str, Any]:
        return self.board.stats()

    def reset_stats(self) -> None:
        self.board.reset_stats()

    def expire_tokens(self, system: str | None = None) -> None:
        """Invalidate every issued Treez and/or platform token: the next call answers 401."""
        for name in ("treez", "platform"):
            app = self.apps[name]
            if system in (None, name) and isinstance(app, TreezApp | PlatformApp):
                app.tokens.expire_all()

    def url(self, root: str, system: str) -> str:
        """The base URL a connector for `system` uses, given the server's root URL."""
        return f"{root.rstrip('/')}{MOUNTS[system]}"

    # --- WSGI -------------------------------------------------------------------------------
    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        environ[ROOT_KEY] = request.host_url.rstrip("/") + request.script_root
        path = request.path
        if path == "/__sandbox" or path.startswith("/__sandbox/"):
            return self._control(request)(environ, start_response)
        if path.startswith(SLACK_PREFIX + "/"):
            return self.slack(environ, start_response)
        for prefix, app in self._routes:
            if path == prefix or path.startswith(prefix + "/"):
                environ[MOUNT_KEY] = prefix
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                environ["PATH_INFO"] = path[len(prefix) :] or "/"
                return app(environ, start_response)
        known = {name: MOUNTS[name] for name in SYSTEMS}
        body = {"error": "not_found", "message": f"no sandbox system at {path}", "systems": known}
        return Response(dumps(body), 404, mimetype="application/json")(environ, start_response)

    def _control(self, request: Request) -> Response:
        route = (request.method, request.path.rstrip("/"))
        try:
            if route == ("GET", "/__sandbox/faults"):
                return _json(self.board.as_dict())
            if route == ("POST", "/__sandbox/faults"):
                payload = json.loads(request.get_data(as_text=True) or "null")
                self.board.apply_json(payload)
                return _json(self.board.as_dict())
            if route == ("GET", "/__sandbox/stats"):
                return _json(self.board.stats())
            if route == ("POST", "/__sandbox/stats/reset"):
                self.board.reset_stats()
                return _json(self.board.stats())
            if route == ("POST", "/__sandbox/tokens/expire"):
                payload = json.loads(request.get_data(as_text=True) or "{}")
                self.expire_tokens(payload.get("system") if isinstance(payload, dict) else None)
                return _json({"expired": True})
            if route == ("GET", "/__sandbox/systems"):
                root = request.environ[ROOT_KEY]
                return _json({name: self.url(root, name) for name in SYSTEMS})
        except (ValueError, TypeError) as exc:
            return _json({"error": "bad_request", "message": str(exc)}, 400)
        return _json({"error": "not_found", "message": f"no control {request.method} {request.path}"}, 404)


def _json(body: Any, status: int = 200) -> Response:
    return Response(dumps(body), status, mimetype="application/json")


def build_app(
    portfolio: Portfolio,
    credentials: SandboxCredentials | None = None,
    *,
    base_url: str | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> SourcesApp:
    """Every source sandbox for `portfolio` as one WSGI app (see `MOUNTS` for the path prefixes).

    `base_url`: the server's public root for links it hands out (image URLs, Link headers); by default
    each request's own host. `clock`/`sleep` drive token expiry and injected latency in tests.
    """
    return SourcesApp(portfolio, credentials, base_url=base_url, clock=clock, sleep=sleep)
