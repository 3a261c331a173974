"""The shared HTTP client: one session per source, timeouts, TLS, auth, paging, rate limits and retries."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
import structlog
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from connectors import redact
from connectors.base import Runtime, SourceError
from connectors.bounds import Limits
from connectors.config import AuthConfig, SourceConfig
from connectors.paging import Page, PaginationError, Paginator
from connectors.values import dig

log = structlog.get_logger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 507, 520, 521, 522, 523, 524})
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class HttpStatusError(SourceError):
    """A non-retryable HTTP error status (4xx), kept so a caller can treat e.g. 404 as "none"."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Retryable(Exception):
    """A failure worth another attempt; carries what the server asked us to wait, if anything."""

    def __init__(self, what: str, retry_after: float | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded by attempts and by total time (requests plus waits)."""

    max_seconds: float = 120.0
    max_attempts: int = 6
    base_seconds: float = 0.5
    cap_seconds: float = 30.0

    @classmethod
    def from_config(cls, cfg: SourceConfig) -> RetryPolicy:
        return cls(max_seconds=cfg.retry_max_seconds, max_attempts=cfg.retry_max_attempts)


class RateLimiter:
    """Spaces calls so a source never exceeds `per_minute`, shared by all threads pulling its stores."""

    def __init__(self, per_minute: float, runtime: Runtime, burst: int = 1) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.burst = max(1, burst)
        self._runtime = runtime
        self._tat = 0.0  # theoretical arrival time of the next call (GCRA)
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._runtime.clock()
            tat = max(self._tat, now)
            wait = max(0.0, tat - (self.burst - 1) * self.interval - now)
            self._tat = tat + self.interval
        if wait > 0:
            self._runtime.sleep(wait)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds from now: either delta-seconds or an HTTP date; None when absent/bad."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


class Auth(Protocol):
    """Adds credentials to a request; may refresh them once after a 401."""

    def apply(self, client: HttpClient, headers: dict[str, str], params: dict[str, str]) -> None: ...

    def on_unauthorized(self, client: HttpClient) -> bool:
        """Forget cached credentials; True when a retry with fresh ones makes sense."""
        ...


class NoAuth:
    def apply(self, client: HttpClient, headers: dict[str, str], params: dict[str, str]) -> None:
        return None

    def on_unauthorized(self, client: HttpClient) -> bool:
        return False


@dataclass(frozen=True)
class HeaderKey:
    header: str
    key: str
    partner_header: str = ""  # the integrator's key beside the location's (BLAZE partner_key)
    partner_key: str = ""

    def apply(self, client: HttpClient, headers: dict[str, str], params: dict[str, str]) -> None:
        headers[self.header] = self.key
        if self.partner_header:
            headers[self.partner_header] = self.partner_key

    def on_unauthorized(self, client: HttpClient) -> bool:
        return False


@dataclass(frozen=True)
class QueryKey:
    param: str
    key: str

    def apply(self, client: HttpClient, headers: dict[str, str], params: dict[str, str]) -> None:
        params[self.param] = self.key

    def on_unauthorized(self, client: HttpClient) -> bool:
        return False


@dataclass(frozen=True)
class Bearer:
    token: str

    def apply(self, client: HttpClient, headers: dict[str, str], params: dict[str, str]) -> None:
        headers["Authorization"] = f"Bearer {self.token}"

    def on_unauthorized(self, client: HttpClient) -> bool:
        return False


@dataclass(frozen=True)
class Basic:
    username: str
    password: str = ""

    def apply(self, client: HttpClient, headers: dict[str, str], params: dict[str, str]) -> None:
        raw = f"{self.username}:{self.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")

    def on_unauthorized(self, client: HttpClient) -> bool:
        return False


class TokenAuth:
    """A fetched token, cached until shortly before it expires and refetched after a 401.

    Subclasses say how to fetch (`fetch`) and how to present it (`present`); one instance may be
    shared by the threads of a source, so fetching is serialised.
    """

    refresh_margin = timedelta(seconds=60)

    def __init__(self) -> None:
        self._token = ""
        self._expires: datetime | None = None
        self._lock = threading.Lock()

    def fetch(self, client: HttpClient) -> tuple[str, float]:
        raise NotImplementedError

    def present(self, token: str, headers: dict[str, str], params: dict[str, str]) -> None:
        headers["Authorization"] = f"Bearer {token}"

    def token(self, client: HttpClient) -> str:
        with self._lock:
            now = client.runtime.now()
            if not self._token or (self._expires is not None and now >= self._expires - self.refresh_margin):
                token, lifetime = self.fetch(client)
                redact.register_ephemeral(token)
                self._token = token
                self._expires = now + timedelta(seconds=lifetime) if lifetime > 0 else None
                log.info("source_token_fetched", source=client.source, expires_in=lifetime)
            return self._token

    def apply(self, client: HttpClient, headers: dict[str, str], params: dict[str, str]) -> None:
        self.present(self.token(client), headers, params)

    def on_unauthorized(self, client: HttpClient) -> bool:
        with self._lock:
            self._token = ""
        return True


class OAuth2ClientCredentials(TokenAuth):
    """OAuth 2.0 client credentials grant (RFC 6749 §4.4) against the source's token endpoint."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str = "") -> None:
        super().__init__()
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope

    def fetch(self, client: HttpClient) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self.client_id}
        form["client_secret"] = self.client_secret
        if self.scope:
            form["scope"] = self.scope
        body = client.request_json("POST", self.token_url, data=form, authenticate=False)
        token = dig(body, "access_token", None)
        if not isinstance(token, str) or not token:
            raise SourceError(f"{client.source}: token endpoint {self.token_url} returned no access_token")
        lifetime = dig(body, "expires_in", 3600)
        return token, float(lifetime) if isinstance(lifetime, int | float) else 3600.0


def build_auth(cfg: AuthConfig, store_id: str, runtime: Runtime) -> Auth:
    """The auth for one store from the source's auth config (per-store secrets resolved here)."""
    env = runtime.env
    if cfg.kind == "none":
        return NoAuth()
    if cfg.kind == "api_key_header":
        partner = cfg.secret("partner_key", store_id, env) if cfg.partner_header else ""
        return HeaderKey(cfg.header, cfg.secret("key", store_id, env), cfg.partner_header, partner)
    if cfg.kind == "api_key_query":
        return QueryKey(cfg.param, cfg.secret("key", store_id, env))
    if cfg.kind == "bearer":
        return Bearer(cfg.secret("token", store_id, env))
    if cfg.kind == "basic":
        return Basic(cfg.secret("username", store_id, env), cfg.optional_secret("password", store_id, env))
    if cfg.kind == "oauth2_client_credentials":
        if not cfg.token_url:
            raise SourceError("auth.token_url: required for oauth2_client_credentials")
        return OAuth2ClientCredentials(
            cfg.token_url,
            cfg.resolved_client_id(env),
            cfg.secret("client_secret", store_id, env),
            cfg.scope,
        )
    raise SourceError(f"auth kind {cfg.kind!r} is specific to its source and cannot be built generically")


def _short(path: str, limit: int = 200) -> str:
    """A path as errors and logs name it: a vendor's megabyte of id must not flood either."""
    return path if len(path) <= limit else f"{path[:limit]}…({len(path) - limit:,} more characters)"


def _first_bytes(resp: requests.Response) -> str:
    """The start of a body for an error message, redacted: a server may echo the request, key included.

    Redacted before it is cut, so a secret that straddles the cut is still recognised whole."""
    head = redact.text(resp.content[:400].decode("utf-8", errors="replace"))
    return repr(head[:80])


class HttpClient:
    """Calls for one store: the source's session, limiter and retry policy with this store's auth."""

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        session: requests.Session,
        auth: Auth,
        runtime: Runtime,
        timeout: float = 30.0,
        verify: bool | str = True,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        headers: Mapping[str, str] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.source = source
        self.limits = limits or Limits()
        self.base_url = base_url.rstrip("/")
        self.session = session
        self.auth = auth
        self.runtime = runtime
        self.timeout = timeout
        self.verify = verify
        self.retry = retry or RetryPolicy()
        self.limiter = limiter
        self.headers = dict(headers or {})
        self.calls = 0

    def url(self, path: str) -> str:
        """An absolute URL on the source's host; a link to another host is refused (it would get our auth)."""
        if path.startswith(("http://", "https://")):
            want, got = urlsplit(self.base_url), urlsplit(path)
            if (want.scheme, want.netloc) != (got.scheme, got.netloc):
                raise SourceError(f"{self.source}: refusing to follow a link to another host: {got.netloc}")
            return path
        return urljoin(self.base_url + "/", path.lstrip("/"))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
    ) -> requests.Response:
        """One call with retries on 429/5xx/connection errors; any other 4xx is a SourceError at once."""
        url = self.url(path)
        where = f"{method} {_short(urlsplit(url).path)}"
        clock = self.runtime.clock
        start = clock()
        policy = self.retry

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retryable) and exc.retry_after is not None:
                return float(exc.retry_after)
            backoff = min(policy.cap_seconds, policy.base_seconds * 2.0 ** (state.attempt_number - 1))
            return backoff / 2 + self.runtime.rng.uniform(0, backoff / 2)

        def stop(state: RetryCallState) -> bool:
            if state.attempt_number >= policy.max_attempts:
                return True
            return clock() - start + state.upcoming_sleep > policy.max_seconds

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "http_retry",
                source=self.source,
                call=where,
                attempt=state.attempt_number,
                error=redact.text(str(exc)),
                wait_seconds=round(state.upcoming_sleep, 3),
            )

        retrying = Retrying(
            retry=retry_if_exception_type(_Retryable),
            wait=wait,
            stop=stop,
            sleep=self.runtime.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(self._attempt, method, url, where, params, data, json_body, headers, authenticate)
        except _Retryable as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            elapsed = clock() - start
            asked = (
                f"; the server asked to wait {exc.retry_after:.0f}s, beyond the retry budget"
                if exc.retry_after is not None and exc.retry_after + elapsed > policy.max_seconds
                else ""
            )
            log.error("http_gave_up", source=self.source, call=where, attempts=attempts, error=exc.what)
            raise SourceError(
                f"{self.source}: {where} failed after {attempts} attempt(s) over {elapsed:.1f}s "
                f"(retry budget {policy.max_seconds:g}s): {exc.what}{asked}"
            ) from None

    def _attempt(
        self,
        method: str,
        url: str,
        where: str,
        params: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
        authenticate: bool,
    ) -> requests.Response:
        refreshed = False
        while True:
            if self.limiter is not None:
                self.limiter.acquire()
            h = {**self.headers, **(headers or {})}
            p = dict(params or {})
            if authenticate:
                self.auth.apply(self, h, p)
            self.calls += 1
            try:
                resp = self.session.request(
                    method,
                    url,
                    params=p or None,
                    data=data,
                    json=json_body,
                    headers=h,
                    timeout=self.timeout,
                    verify=self.verify,
                    stream=True,
                )
                self._read_capped(resp, where)
            except _TRANSIENT as exc:
                raise _Retryable(redact.error(exc)) from None
            except requests.RequestException as exc:
                raise SourceError(f"{self.source}: {where}: {redact.error(exc)}") from None
            status = resp.status_code
            if status == 401 and authenticate and not refreshed and self.auth.on_unauthorized(self):
                refreshed = True
                log.info("source_auth_refresh", source=self.source, call=where)
                continue
            if status in RETRY_STATUSES:
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), self.runtime.now())
                raise _Retryable(f"HTTP {status} {resp.reason or ''}".strip(), retry_after)
            if status >= 400:
                reason = f"HTTP {status} {resp.reason or ''}".strip()
                raise HttpStatusError(
                    f"{self.source}: {where} → {reason} (first bytes: {_first_bytes(resp)})", status
                )
            return resp

    def _read_capped(self, resp: requests.Response, where: str) -> None:
        """Read the body as it streams in, refusing it once it passes `limits.response_bytes`.

        The cap counts decoded bytes (a gzip bomb is stopped too); a body over it is never held whole,
        and the call fails for its store with a SourceError naming the limit (no retry: it would repeat).
        """
        limit = self.limits.response_bytes
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            resp.close()
            raise SourceError(
                f"{self.source}: {where}: the response declares {int(declared):,} bytes, over the limit "
                f"of {limit:,} (limits.response_bytes)"
            )
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in resp.iter_content(chunk_size=64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise SourceError(
                        f"{self.source}: {where}: the response passed the limit of {limit:,} bytes "
                        "while streaming (limits.response_bytes)"
                    )
                chunks.append(chunk)
        except BaseException:
            resp.close()  # drop the connection: the rest of the body is never read
            raise
        resp._content = b"".join(chunks)  # what `resp.content` would have read, now known to be bounded

    def decode(self, resp: requests.Response, where: str) -> Any:
        """The JSON body, or a SourceError naming what came instead (an HTML login page, a cut-off body)."""
        ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if resp.status_code == 204 or not resp.content:
            if resp.status_code == 204:
                return None
            raise SourceError(f"{self.source}: {where} returned an empty body, not JSON")
        if "html" in ctype or "xml" in ctype:
            raise SourceError(
                f"{self.source}: {where} returned {ctype}, not JSON (first bytes: {_first_bytes(resp)})"
            )
        try:
            return json.loads(resp.content)
        except (ValueError, RecursionError):
            if "json" in ctype:
                raise SourceError(
                    f"{self.source}: {where} returned truncated or invalid JSON "
                    f"(first bytes: {_first_bytes(resp)})"
                ) from None
            shown = ctype or "no content type"
            raise SourceError(
                f"{self.source}: {where} returned {shown}, not JSON (first bytes: {_first_bytes(resp)})"
            ) from None

    def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        authenticate: bool = True,
    ) -> Any:
        resp = self.request(
            method,
            path,
            params=params,
            data=data,
            json_body=json_body,
            headers=headers,
            authenticate=authenticate,
        )
        return self.decode(resp, f"{method} {_short(urlsplit(resp.url or self.url(path)).path)}")

    def get_json(self, path: str, params: Mapping[str, str] | None = None) -> tuple[Any, dict[str, str]]:
        resp = self.request("GET", path, params=params)
        body = self.decode(resp, f"GET {_short(urlsplit(self.url(path)).path)}")
        return body, {k.lower(): v for k, v in resp.headers.items()}

    def pages(
        self, path: str, params: Mapping[str, str], paginator: Paginator, record_path: str = ""
    ) -> Iterator[Page]:
        """Every page of a listing; the list at `record_path` must be a list (else SourceError)."""
        try:
            req = paginator.first(path, params)
        except PaginationError as exc:
            raise SourceError(f"{self.source}: GET {path}: {exc}") from None
        while True:
            resp = self.request("GET", req.path, params=req.params)
            body = self.decode(resp, f"GET {_short(urlsplit(self.url(req.path)).path)}")
            headers = {k.lower(): v for k, v in resp.headers.items()}
            digest = hashlib.blake2b(resp.content, digest_size=16).digest()
            page = Page(body, headers, self.items(body, record_path, req.path), digest)
            yield page
            try:
                nxt = paginator.next(req, page)
            except PaginationError as exc:
                raise SourceError(f"{self.source}: GET {_short(urlsplit(req.path).path)}: {exc}") from None
            if nxt is None:
                return
            req = nxt

    def items(self, body: Any, record_path: str, path: str) -> list[Any]:
        try:
            found = dig(body, record_path)
        except KeyError:
            found = None
        call = f"{self.source}: GET {_short(urlsplit(path).path)}"
        if isinstance(found, list):
            if len(found) > self.limits.page_items:
                raise SourceError(
                    f"{call}: a page of {len(found):,} items, over the limit of {self.limits.page_items:,} "
                    "(limits.page_items)"
                )
            return found
        if found is None and record_path and isinstance(body, Mapping):
            raise SourceError(
                f"{call}: the response has no list at {record_path!r} "
                f"(keys: {', '.join(sorted(map(str, body))[:8])})"
            )
        got = type(found).__name__
        where = f"at {record_path!r}" if record_path else "as the body"
        raise SourceError(f"{call}: expected a list {where}, got {got}")


class SourceHttp:
    """What a source's stores share: one session (pooled for the source's concurrency), limiter, policy."""

    def __init__(self, cfg: SourceConfig, runtime: Runtime, session: requests.Session | None = None) -> None:
        self.cfg = cfg
        self.runtime = runtime
        self.session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(4, cfg.concurrency * 2), max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.limiter = RateLimiter(cfg.rate_limit_per_minute, runtime) if cfg.rate_limit_per_minute else None
        self.retry = RetryPolicy.from_config(cfg)
        self.verify: bool | str = cfg.ca_bundle or True

    def client(self, auth: Auth, base_url: str = "", headers: Mapping[str, str] | None = None) -> HttpClient:
        return HttpClient(
            source=self.cfg.name,
            base_url=base_url or self.cfg.base_url,
            session=self.session,
            auth=auth,
            runtime=self.runtime,
            timeout=self.cfg.timeout_seconds,
            verify=self.verify,
            retry=self.retry,
            limiter=self.limiter,
            headers=headers,
            limits=self.cfg.limits,
        )

    def close(self) -> None:
        self.session.close()
