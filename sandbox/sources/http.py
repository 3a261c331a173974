"""What every source sandbox shares: the request cycle with faults and counters, errors, parameters, times."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from sandbox.portfolio import Portfolio
from sandbox.sources.credentials import SandboxCredentials
from sandbox.sources.faults import HTML_PAGE, FaultBoard, dumps, sprinkle_malformed, truncate

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

ROOT_KEY = "sandbox.sources.root"  # environ: the sources server's root URL, set by the dispatcher
MOUNT_KEY = "sandbox.sources.mount"  # environ: the system's path prefix under that root ("/billing")


@dataclass
class Context:
    """What the system apps share: the data, the keys, the fault board, the clock."""

    portfolio: Portfolio
    credentials: SandboxCredentials
    board: FaultBoard
    base_url: str | None = None  # public root URL for image links; None: the request's own
    clock: Callable[[], float] = time.time  # token expiry


class ApiError(Exception):
    """An answer other than success, rendered as JSON in the system's error style."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


class BadParam(ValueError):
    """A malformed request parameter; each system answers 400 in its own error style."""


@dataclass
class Reply:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    store_id: str | None = None  # the store this answer is about: store-scoped faults key on it
    records: list[Any] | None = None  # the list inside `body` that malformed-record faults spoil
    single: bool = False  # the body is one record (`records` holds it alone): a mutation replaces it
    endpoint: str = ""  # the handler that answered, for the served-records counts


class SystemApp:
    """One source system as a WSGI app; subclasses declare `system`, `rules()` and handlers."""

    system = ""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.url_map = Map(self.rules(), strict_slashes=False, merge_slashes=False)

    def rules(self) -> Iterable[Rule]:
        raise NotImplementedError

    def error(self, status: int, message: str, headers: dict[str, str] | None = None) -> ApiError:
        return ApiError(status, {"error": message}, headers)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        refusal = self.ctx.board.admit(self.system)
        if refusal is not None:
            response = Response(
                dumps(refusal.body), refusal.status, refusal.headers, mimetype="application/json"
            )
        else:
            response = self._handle(request)
        self.ctx.board.record(self.system, response.status_code)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        try:
            endpoint, args = self.url_map.bind_to_environ(request.environ).match()
            handler: Callable[..., Reply | Response] = getattr(self, str(endpoint))
            reply = handler(request, **args)
        except BadParam as exc:
            err = self.error(400, str(exc))
            return Response(dumps(err.body), 400, err.headers, mimetype="application/json")
        except ApiError as exc:
            return Response(dumps(exc.body), exc.status, exc.headers, mimetype="application/json")
        except HTTPException as exc:
            headers = dict(exc.get_headers())
            headers.pop("Content-Type", None)
            body = self.error(exc.code or 500, exc.description or exc.name).body
            return Response(dumps(body), exc.code or 500, headers, mimetype="application/json")
        if isinstance(reply, Response):
            return reply
        reply.endpoint = str(endpoint)
        return self.render(reply)

    def render(self, reply: Reply) -> Response:
        faults = self.ctx.board[self.system]
        store = reply.store_id
        wait = self.ctx.board.over_budget(self.system, store, self.ctx.clock()) if store is not None else None
        if wait is not None:
            err = self.error(429, "API rate limit exceeded", {"Retry-After": str(wait)})
            return Response(dumps(err.body), 429, err.headers, mimetype="application/json")
        if store is not None and store in faults.html_stores:
            return Response(HTML_PAGE, 200, mimetype="text/html")
        if store is not None and reply.records is not None and store in faults.malformed_stores:
            sprinkle_malformed(reply.records)
        if reply.records is not None:
            self.ctx.board.mutate(self.system, reply.records, reply.endpoint)
        body = dumps(reply.records[0] if reply.single and reply.records else reply.body)
        if store is not None and store in faults.truncated_stores:
            body = truncate(body)
        return Response(body, reply.status, reply.headers, mimetype="application/json")

    # --- helpers ----------------------------------------------------------------------------
    def root_url(self, request: Request) -> str:
        """The sources server's public root (no trailing slash), for links into this same server."""
        if self.ctx.base_url:
            return self.ctx.base_url.rstrip("/")
        root = request.environ.get(ROOT_KEY)
        return str(root).rstrip("/") if root else request.host_url.rstrip("/")

    def own_url(self, request: Request) -> str:
        """This request's URL without its query, as the client should see it (for Link headers)."""
        mount = request.environ.get(MOUNT_KEY)
        if mount is None:
            return request.base_url
        return f"{self.root_url(request)}{mount}{request.path}"

    def image_url(self, request: Request, path: str) -> str:
        return f"{self.root_url(request)}{path}"


class TokenBook:
    """Issued bearer tokens with their expiry, for the systems with a token endpoint."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}  # token → (subject, expires at)

    def issue(self, token: str, subject: str, ttl: float) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}  # forget expired ones
            self._tokens[token] = (subject, now + ttl)

    def subject(self, token: str) -> str | None:
        """The token's subject while it is valid; None when unknown or expired."""
        with self._lock:
            found = self._tokens.get(token)
        if found is None or found[1] <= self._clock():
            return None
        return found[0]

    def expire_all(self) -> None:
        with self._lock:
            self._tokens.clear()


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str, name: str) -> datetime:
    """ISO 8601 as clients send it: `Z` or an offset, fractions, a bare date; naive means UTC."""
    text = value.strip()
    if not text:
        raise BadParam(f"{name} is empty")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise BadParam(f"{name}: {value!r} is not an ISO 8601 time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        raise BadParam(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def arg(request: Request, name: str, *, any_case: bool = False) -> str | None:
    """A query parameter; empty counts as absent. `any_case`: .NET APIs ignore the name's case."""
    value = request.args.get(name)
    if value is None and any_case:
        lowered = name.lower()
        value = next((v for k, v in request.args.items() if k.lower() == lowered), None)
    return value if value else None


def int_arg(request: Request, name: str, default: int, low: int, high: int, *, any_case: bool = False) -> int:
    raw = arg(request, name, any_case=any_case)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParam(f"{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise BadParam(f"{name} must be between {low} and {high}, got {value}")
    return value


def money(value: float) -> float:
    return round(value, 2)
