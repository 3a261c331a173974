"""The Salesforce client: simple-salesforce behind bounded re-login, retries, timeouts and an API budget."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import structlog
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base
from urllib3.filepost import encode_multipart_formdata

from connectors import redact
from connectors.salesforce import bulk
from connectors.salesforce.auth import Authenticator, AuthError, Token
from connectors.salesforce.bulk import Ambiguous, BulkJobs, raise_for_salesforce

log = structlog.get_logger(__name__)
T = TypeVar("T")

COLLECTION_SIZE = 200
_LIMIT_RE = re.compile(r"api-usage=(\d+)/(\d+)")


class SalesforceUnavailable(Exception):
    """Salesforce cannot be reached or refuses us (login, network, repeated 5xx): exit code 3."""


class LimitReached(Exception):
    """The org's daily limit or this run's API budget is spent: stop cleanly, the rest stays queued."""


@dataclass
class ApiUsage:
    """Calls this run made, and the org's daily usage as the last `Sforce-Limit-Info` header said."""

    calls: int = 0
    used: int | None = None
    max: int | None = None


class _TimeoutAdapter(HTTPAdapter):
    """Puts a timeout on every request (simple-salesforce's sObject calls take none) and pins TLS trust.

    requests lets `REQUESTS_CA_BUNDLE` / `CURL_CA_BUNDLE` replace `session.verify` when `trust_env` is
    on, so a configured bundle is forced here, where the environment no longer reaches; and
    verification is never turned off, whoever asks.
    """

    def __init__(self, timeout: float, ca_bundle: str = "") -> None:
        super().__init__(pool_maxsize=32)
        self.timeout = timeout
        self.ca_bundle = ca_bundle

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        if self.ca_bundle:
            kwargs["verify"] = self.ca_bundle
        elif kwargs.get("verify") is False:
            kwargs["verify"] = True
        return super().send(request, **kwargs)


def make_session(timeout: float, ca_bundle: str = "") -> requests.Session:
    session = requests.Session()
    adapter = _TimeoutAdapter(timeout, ca_bundle)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = ca_bundle or True
    return session


def error_code(exc: BaseException) -> str:
    """The Salesforce errorCode of a failed call (`UNABLE_TO_LOCK_ROW`, `REQUEST_LIMIT_EXCEEDED`, ...)."""
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or content[0].get("statusCode") or "")
    return ""


def _transient(exc: BaseException) -> bool:
    """Worth another try: the call did not happen (503, lock, concurrency limit) or repeating it is safe.

    Timeouts are ambiguous, but every write is an upsert by external ID, so repeating one cannot
    duplicate a record; the one call that must not be repeated (a Bulk upload) turns them into
    `Ambiguous` before they get here.
    """
    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        return True
    if isinstance(exc, SalesforceError):
        status = getattr(exc, "status", 0)
        code = error_code(exc)
        if code == "UNABLE_TO_LOCK_ROW" or status in (500, 502, 503, 504):
            return True
        # The concurrent-request limit clears in seconds; the daily one does not.
        text = str(getattr(exc, "content", ""))
        return code == "REQUEST_LIMIT_EXCEEDED" and "Concurrent" in text
    return False


class stop_when(stop_base):  # named like tenacity's own stop conditions
    """A tenacity stop condition from a predicate."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self._predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._predicate(retry_state)


def _refusal(exc: SalesforceError) -> str:
    """`CODE: message` of a whole-request refusal, for the rows it refused."""
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message") or content)
    return str(content)[:500]


class SalesforceClient:
    """One org connection. Every call: budget check, timeout, bounded retries, at most one re-login."""

    def __init__(
        self,
        authenticator: Authenticator,
        *,
        api_version: str = "59.0",
        timeout: float = 30.0,
        ca_bundle: str = "",
        budget_calls: int = 0,
        budget_share: float = 1.0,
        retry_seconds: float = 60.0,
        max_retries: int = 6,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._auth = authenticator
        self._version = api_version
        self._timeout = timeout
        self._session = session or make_session(timeout, ca_bundle)
        self._session.hooks["response"].append(self._on_response)
        self._budget_calls = budget_calls
        self._budget_share = budget_share
        self._retry_seconds = retry_seconds
        self._max_retries = max_retries
        self._sleep = sleep
        self._sf: Salesforce | None = None
        self._token: Token | None = None
        self._unbudgeted = False
        self.usage = ApiUsage()
        self.logins = 0

    # -- connection -------------------------------------------------------------------------
    def connect(self) -> None:
        try:
            token: Token = self._auth.login(self._session, self._timeout)
        except AuthError as exc:
            raise SalesforceUnavailable(str(exc)) from exc
        except requests.RequestException as exc:
            raise SalesforceUnavailable(f"Salesforce login unreachable: {exc}") from exc
        if token is not self._token:
            self.logins += 1
        self._token = token
        redact.register_ephemeral(token.access_token.get_secret_value())
        self._sf = Salesforce(
            instance_url=token.instance_url,
            session_id=token.access_token.get_secret_value(),
            session=self._session,
            version=self._version,
        )
        log.info("salesforce_connected", instance=token.instance_url, logins=self.logins)

    @property
    def sf(self) -> Salesforce:
        if self._sf is None:
            self.connect()
        assert self._sf is not None
        return self._sf

    def _on_response(self, resp: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        if "/services/oauth2/" in resp.url:
            return
        self.usage.calls += 1
        match = _LIMIT_RE.search(resp.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.usage.used, self.usage.max = int(match.group(1)), int(match.group(2))

    @property
    def budget(self) -> int | None:
        """Calls this run may make: the absolute cap, or a share of the daily allocation once known."""
        caps = []
        if self._budget_calls:
            caps.append(self._budget_calls)
        if self.usage.max is not None and self._budget_share < 1.0:
            caps.append(max(1, int(self.usage.max * self._budget_share)))
        return min(caps) if caps else None

    def _check_budget(self, needed: int = 1) -> None:
        budget = self.budget
        if budget is not None and not self._unbudgeted and self.usage.calls + needed > budget:
            raise LimitReached(
                f"this run's API budget is spent ({self.usage.calls} of {budget} calls, {needed} needed)"
            )
        if (
            self.usage.max is not None
            and self.usage.used is not None
            and self.usage.used + needed > self.usage.max
        ):
            raise LimitReached(f"the org's daily API limit is reached ({self.usage.used}/{self.usage.max})")

    def _know_usage(self) -> None:
        """Before the first write, learn the day's usage: from a header already seen, else `/limits`.

        The budget is a share of the daily allocation, so it is unknown until Salesforce has said
        the allocation; a run that resumes the outbox writes before it reads anything.
        """
        if self.usage.max is not None:
            return
        body = self.limits()
        daily = body.get("DailyApiRequests") or {}
        if self.usage.max is None and "Max" in daily:
            self.usage.max = int(daily["Max"])
            self.usage.used = int(daily["Max"]) - int(daily.get("Remaining", daily["Max"]))
        log.info("salesforce_api_usage", used=self.usage.used, max=self.usage.max, budget=self.budget)

    @contextmanager
    def unbudgeted(self) -> Iterator[None]:
        """Calls that bypass this run's budget (still not the org's limit): the run ledger's one write,
        which records a run even when its budget stopped it."""
        previous, self._unbudgeted = self._unbudgeted, True
        try:
            yield
        finally:
            self._unbudgeted = previous

    # -- the call wrapper -------------------------------------------------------------------
    def call(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run `fn` (a bound simple-salesforce method) with retries, budget and one re-login."""
        relogged = False
        while True:
            try:
                return self._retrying(name, fn, *args, **kwargs)
            except SalesforceExpiredSession:
                if relogged:
                    raise SalesforceUnavailable("Salesforce rejected a fresh session") from None
                relogged = True
                log.info("salesforce_session_expired", call=name)
                forget = getattr(self._auth, "forget", None)  # a shared login drops the rejected session
                if forget is not None and self._token is not None:
                    forget(self._token)
                # Our callables look up `self.sf` when called, so they pick up the new session.
                self.connect()

    def _slept_enough(self, state: RetryCallState) -> bool:
        return bool(state.idle_for >= self._retry_seconds)

    def _retrying(self, name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning("salesforce_retry", call=name, attempt=state.attempt_number, error=str(exc)[:200])

        retrying = Retrying(
            retry=retry_if_exception(_transient),
            wait=wait_exponential_jitter(multiplier=0.5, max=20),
            # Bounded by attempts and by the time slept (tenacity's idle_for sums the injected sleeps).
            stop=stop_after_attempt(self._max_retries) | stop_when(self._slept_enough),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._check_budget()
                    return fn(*args, **kwargs)
        except SalesforceRefusedRequest as exc:
            if error_code(exc) == "REQUEST_LIMIT_EXCEEDED":
                raise LimitReached(f"Salesforce: {exc.content!r}") from exc
            raise
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise SalesforceUnavailable(f"Salesforce unreachable during {name}: {exc}") from exc
        except SalesforceError as exc:
            if getattr(exc, "status", 0) in (500, 502, 503, 504):
                raise SalesforceUnavailable(f"Salesforce kept failing {name}: HTTP {exc.status}") from exc
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- API --------------------------------------------------------------------------------
    def query(self, soql: str) -> Iterator[dict[str, Any]]:
        """All records of a query, following `nextRecordsUrl` page by page (memory stays flat)."""
        page = self.call("query", self._query, soql)
        while True:
            for rec in page["records"]:
                yield _plain(rec)
            if page.get("done", True):
                return
            page = self.call("query_more", self._query_more, page["nextRecordsUrl"])

    def _query(self, soql: str) -> dict[str, Any]:
        return dict(self.sf.query(soql))

    def _query_more(self, url: str) -> dict[str, Any]:
        return dict(self.sf.query_more(url, identifier_is_url=True))

    def describe(self, sobject: str) -> dict[str, Any]:
        return dict(self.call("describe", self._restful, f"sobjects/{sobject}/describe"))

    def limits(self) -> dict[str, Any]:
        return dict(self.call("limits", self._restful, "limits"))

    def _restful(self, path: str, method: str = "GET", **kwargs: Any) -> Any:
        return self.sf.restful(path, method=method, **kwargs)

    def upsert_collection(
        self, sobject: str, key_field: str, records: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """sObject Collections upsert by external ID: ≤ 200 records, allOrNone=false, results in order.

        A request Salesforce refuses whole (400/404: an unknown field, a bad key field) fails each of
        its records with that message, so the rows are marked like any other record error.
        """
        if len(records) > COLLECTION_SIZE:
            raise ValueError(f"at most {COLLECTION_SIZE} records per Collections call, got {len(records)}")
        if not records:
            return []
        self._know_usage()
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **r} for r in records],
        }
        try:
            result = self.call(
                "collections", self._restful, f"composite/sobjects/{sobject}/{key_field}", "PATCH", json=body
            )
        except (SalesforceMalformedRequest, SalesforceResourceNotFound) as exc:
            refused = {"statusCode": error_code(exc) or f"HTTP_{exc.status}", "message": _refusal(exc)}
            log.warning("collections_refused", sobject=sobject, records=len(records), **refused)
            return [{"success": False, "errors": [refused]} for _ in records]
        return list(result or [])

    def upsert_bulk(
        self,
        sobject: str,
        key_field: str,
        records: Sequence[dict[str, Any]],
        on_job: Callable[[str], None] | None = None,
    ) -> list[dict[str, Any]]:
        """A Bulk API 2.0 upsert job; one result per record, in input order, matched by external ID.

        Refused before the job is created when the budget cannot pay for a whole job, so a job is
        not left half-run by the budget.
        """
        self._know_usage()
        self._check_budget(bulk.MIN_CALLS)
        try:
            return self._bulk().upsert(sobject, key_field, records, on_job)
        except Ambiguous as exc:  # two uploads in a row without an answer: the network, not the data
            raise SalesforceUnavailable(f"Bulk upload for {sobject} got no answer twice: {exc}") from exc

    def collect_bulk(
        self, job_id: str, sobject: str, key_field: str, records: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        """The results of a Bulk job an interrupted run started (None: Salesforce no longer has it)."""
        self._know_usage()
        return self._bulk().collect(job_id, key_field, records)

    def upload_file(self, fields: Mapping[str, Any], data: bytes, filename: str) -> str:
        """A new ContentVersion (a File, or the next version of one): its Id.

        Sent as multipart (the bytes as they are, not base64 in JSON). Never repeated on a timeout or
        a 5xx: a repeat would add a second version, so the caller must find out what landed first.
        """
        self._know_usage()
        body, content_type = encode_multipart_formdata(
            {
                "entity_content": ("", json.dumps(dict(fields)), "application/json"),
                "VersionData": (filename, data, "application/octet-stream"),
            }
        )
        try:
            resp = self._raw(
                "POST",
                "sobjects/ContentVersion/",
                idempotent=False,
                name="file_upload",
                data=body,
                headers={"Content-Type": content_type},
            )
        except Ambiguous as exc:
            raise SalesforceUnavailable(f"File upload got no answer: {exc}") from exc
        return str(resp.json()["id"])

    def invoke_action(self, action: str, inputs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """A standard invocable action (`emailSimple`): one result per input (`isSuccess`, `errors`).

        Never repeated on a timeout or a 5xx other than 503 (a repeat could send the email twice):
        that is `Ambiguous`, and the caller decides whether what it sent may have landed.
        """
        self._know_usage()
        resp = self._raw(
            "POST",
            f"actions/standard/{action}",
            idempotent=False,
            name="action",
            data=json.dumps({"inputs": [dict(i) for i in inputs]}),
            headers={"Content-Type": "application/json"},
        )
        return list(resp.json())

    def post_feed_item(self, subject_id: str, text: str) -> str:
        """A Chatter post on a record's or User's feed (Connect REST `chatter/feed-elements`): its Id.

        Not repeated on a timeout, like `invoke_action`.
        """
        self._know_usage()
        body = {
            "body": {"messageSegments": [{"type": "Text", "text": text}]},
            "feedElementType": "FeedItem",
            "subjectId": subject_id,
        }
        resp = self._raw(
            "POST",
            "chatter/feed-elements",
            idempotent=False,
            name="chatter",
            data=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        return str(resp.json()["id"])

    def download_file(self, version_id: str) -> bytes:
        """The bytes of a ContentVersion."""
        return self._raw(
            "GET", f"sobjects/ContentVersion/{version_id}/VersionData", name="file_download"
        ).content

    def _bulk(self) -> BulkJobs:
        return BulkJobs(self._raw, self._sleep)

    def _raw(
        self, method: str, path: str, *, idempotent: bool = True, name: str = "", **kwargs: Any
    ) -> requests.Response:
        """A REST call through the retry/re-login wrapper, for bodies simple-salesforce cannot send.

        `idempotent=False` (the Bulk upload): a timeout or dropped connection raises `Ambiguous`
        instead of being retried, because repeating the call could upload the rows twice.
        """
        headers = kwargs.pop("headers", {})

        def go() -> requests.Response:
            try:
                resp = self._session.request(
                    method, self.sf.base_url + path, headers={**self.sf.headers, **headers}, **kwargs
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                if idempotent:
                    raise
                raise Ambiguous(f"{method} {path}: {exc}") from exc
            if not idempotent and resp.status_code >= 500 and resp.status_code != 503:
                raise Ambiguous(f"{method} {path}: HTTP {resp.status_code}")
            return raise_for_salesforce(resp, path)

        kind = name or ("bulk_poll" if method == "GET" else "bulk")
        return self.call(kind, go)


def _plain(rec: dict[str, Any]) -> dict[str, Any]:
    """A query record without `attributes`, parent relationships flattened one level as `Rel.Field`."""
    out: dict[str, Any] = {}
    for k, v in rec.items():
        if k == "attributes":
            continue
        if isinstance(v, dict) and "attributes" in v:
            for pk, pv in v.items():
                if pk != "attributes":
                    out[f"{k}.{pk}"] = pv
        else:
            out[k] = v
    return out
