"""The sandbox org: a WSGI app speaking Salesforce's REST, OAuth and Bulk 2.0 wire formats."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.wrappers import Request, Response

from sandbox.salesforce import composite
from sandbox.salesforce.auth import ConnectedApp, OAuthError, Sessions, grant
from sandbox.salesforce.bulk import BulkIngest
from sandbox.salesforce.errors import ApiError, not_found
from sandbox.salesforce.faults import Dice, Faults
from sandbox.salesforce.ids import IdMinter
from sandbox.salesforce.metadata import default_metadata_root, load_schema
from sandbox.salesforce.query import Cursors
from sandbox.salesforce.rest import Call, Reply, RestApi
from sandbox.salesforce.schema import ObjectDef, Schema
from sandbox.salesforce.soql.engine import QueryEngine
from sandbox.salesforce.stats import CallStats
from sandbox.salesforce.store import Store

log = logging.getLogger(__name__)

INTEGRATION_USERNAME = "integration@sandbox.local"
_VERSIONS = (
    ("55.0", "Summer '22"),
    ("56.0", "Winter '23"),
    ("57.0", "Spring '23"),
    ("58.0", "Summer '23"),
    ("59.0", "Winter '24"),
    ("60.0", "Spring '24"),
    ("61.0", "Summer '24"),
    ("62.0", "Winter '25"),
)
_BULK_BATCHES_PER_DAY = 15_000


class Org:
    """One org: schema, records, sessions, faults and counters behind a lock, served as a WSGI app.

    Serve it over HTTPS with `sandbox.server.serve(org, tls)` or mount it on a requests session with
    `OrgAdapter(org)`. Seeding and inspection go through `insert`, `load`, `records` and `query`, which
    neither count as API calls nor suffer injected faults.
    """

    def __init__(
        self,
        schema: Schema,
        *,
        api_limit: int = 100_000,
        page_size: int = 2000,
        bulk_polls_to_complete: int = 2,
        connected_app: ConnectedApp | None = None,
        faults: Faults | None = None,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be positive")
        self.schema = schema
        self.api_limit = api_limit
        self.api_used = 0
        self.page_size = page_size
        self.connected_app = connected_app or ConnectedApp()
        self.stats = CallStats()
        self._lock = threading.RLock()
        self._ids = IdMinter()
        self.org_id = self._ids.mint("00D")
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep
        self._dice = Dice(faults or Faults())
        self._sessions = Sessions(self.org_id)
        self.store = Store(schema, self._ids, self._clock)
        self._cursors = Cursors(self._ids)
        self.bulk = BulkIngest(self.store, self._ids, self._clock, lambda: self._dice, bulk_polls_to_complete)
        self._engine = QueryEngine(self.store, lambda: self._clock().date())
        self._rest = RestApi(
            self.store,
            self._engine,
            self._cursors,
            self.bulk,
            dice=lambda: self._dice,
            page_size=lambda: self.page_size,
            limits=self.limits,
            composite=lambda call: composite.run(call, self._rest.dispatch, self.store.atomic),
        )
        user = self.schema.get("User")
        assert user is not None
        self.integration_user_id = self.store.create(
            user,
            {
                "FirstName": "Integration",
                "LastName": "User",
                "Username": INTEGRATION_USERNAME,
                "Email": INTEGRATION_USERNAME,
                "Alias": "integ",
            },
            system=True,
        )
        self.store.default_user = self.integration_user_id

    @classmethod
    def from_metadata(cls, root: Path | None = None, **options: Any) -> Org:
        """An org whose custom schema is read from the SFDX tree (default: the repository's `salesforce/`)."""
        return cls(load_schema(root or default_metadata_root()), **options)

    # -- faults, sessions, limits ----------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        return self._dice.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        """Replacing the faults restarts their random streams from the seed."""
        with self._lock:
            self._dice = Dice(faults)

    def login(self, username: str | None = None) -> str:
        """A session token for `username` (default: the integration user), as a login would issue."""
        with self._lock:
            user_id = self._active_user(username or INTEGRATION_USERNAME)
        if user_id is None:
            raise ValueError(f"no active user {username!r}")
        return self._sessions.issue(user_id)

    def issued_tokens(self) -> list[str]:
        """Every access token this org handed out (the last 10,000), for tests that look for leaks."""
        return list(self._sessions.issued)

    def expire_sessions(self) -> None:
        """Every open token now answers 401 INVALID_SESSION_ID, as after a session timeout."""
        self._sessions.expire_all()

    def limits(self) -> dict[str, Any]:
        with self._lock:
            return {
                "DailyApiRequests": {
                    "Max": self.api_limit,
                    "Remaining": max(0, self.api_limit - self.api_used),
                },
                "DailyBulkApiBatches": {
                    "Max": _BULK_BATCHES_PER_DAY,
                    "Remaining": max(0, _BULK_BATCHES_PER_DAY - self.bulk.batches_used),
                },
                "DailyBulkV2QueryJobs": {"Max": 10_000, "Remaining": 10_000},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976_562, "Remaining": 976_562},
            }

    def set_api_usage(self, used: int, limit: int | None = None) -> None:
        """Pretend the day's usage is already `used` (and optionally change the daily allocation)."""
        with self._lock:
            self.api_used = used
            if limit is not None:
                self.api_limit = limit

    # -- seeding and inspection ------------------------------------------------------------------

    def _object(self, sobject: str) -> ObjectDef:
        obj = self.schema.get(sobject)
        if obj is None:
            raise KeyError(f"no sObject {sobject!r} in the sandbox schema")
        return obj

    def insert(self, sobject: str, fields: Mapping[str, Any]) -> str:
        """Creates one record with the API's validation; system fields (CreatedDate…) may be set too."""
        with self._lock:
            return self.store.create(self._object(sobject), fields, system=True)

    def load(self, sobject: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """Creates many records, all or none; returns their ids in order."""
        with self._lock:
            return self.store.load(self._object(sobject), rows)

    def update(self, sobject: str, record_id: str, fields: Mapping[str, Any]) -> None:
        """Edits a record as a person in the org would (a CSM closing a Task, snoozing a flag)."""
        with self._lock:
            self.store.update(self._object(sobject), record_id, fields, system=True)

    def delete(self, record_id: str) -> None:
        with self._lock:
            self.store.delete(record_id)

    def records(self, sobject: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Copies of every record of a type, all fields, in creation order."""
        with self._lock:
            return self.store.snapshot(self._object(sobject), include_deleted=include_deleted)

    def get(self, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self.store.get(record_id)
            return None if found is None else dict(found[1])

    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Runs SOQL in-process (no paging, no metering); raises SoqlError for a bad query."""
        with self._lock:
            return self._engine.run(soql, include_deleted=include_deleted, version="59.0").records

    def _active_user(self, username: str) -> str | None:
        user = self.schema.get("User")
        assert user is not None
        for rec in self.store.rows(user):
            if rec["Username"] == username and rec["IsActive"]:
                return str(rec["Id"])
        return None

    # -- HTTP ------------------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or quote(request.path)
        path = str(raw).split("?", 1)[0]
        base_url = request.host_url.rstrip("/")
        try:
            reply = self._http(request, path, base_url)
        except Exception:
            log.exception("sandbox org failed on %s %s", request.method, path)
            reply = Reply(
                500, [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred"}]
            )
        response = Response(reply.encoded(), status=reply.status, headers=reply.headers)
        if reply.status != 204:
            response.content_type = reply.content_type
        return response(environ, start_response)

    def _http(self, request: Request, path: str, base_url: str) -> Reply:
        if path.rstrip("/") == "/services/oauth2/token":
            if request.method != "POST":
                return Reply(405, {"error": "invalid_request", "error_description": "must use HTTP POST"})
            return self._token(request, base_url)
        if path.rstrip("/") == "/services/data":
            return Reply(
                200, [{"label": label, "url": f"/services/data/v{v}", "version": v} for v, label in _VERSIONS]
            )
        if path.startswith("/__sandbox/"):
            return self._control(request, path[len("/__sandbox/") :].strip("/"))
        url = path + (f"?{request.query_string.decode()}" if request.query_string else "")
        call = Call.from_url(request.method, url, dict(request.headers), request.get_data(), base_url)
        if call is None:
            return Reply(404, not_found().body())
        return self._api(call)

    def _token(self, request: Request, base_url: str) -> Reply:
        self.stats.count("login")
        if self.faults.latency:
            self._sleep(self.faults.latency)
        with self._lock:
            app = replace(self.connected_app, run_as=self.connected_app.run_as or INTEGRATION_USERNAME)
            try:
                user_id = grant(
                    app,
                    request.form,
                    request.headers.get("Authorization"),
                    login_url=base_url,
                    now=self._clock().timestamp(),
                    active_user=self._active_user,
                )
            except OAuthError as err:
                return Reply(400, {"error": err.error, "error_description": err.description})
        token = self._sessions.issue(user_id)
        issued_at = str(int(self._clock().timestamp() * 1000))
        identity = f"{base_url}/id/{self.org_id}/{user_id}"
        digest = hmac.new(
            app.consumer_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
        return Reply(
            200,
            {
                "access_token": token,
                "scope": "api",
                "instance_url": base_url,
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
                "signature": base64.b64encode(digest).decode(),
            },
        )

    def _api(self, call: Call) -> Reply:
        """Counting, latency, 503s, the session check and the daily limit, then the handler."""
        self.stats.count(self._rest.kind_of(call.method, call.segments))
        faults = self.faults
        if faults.latency:
            self._sleep(faults.latency)
        with self._lock:
            reply = self._guarded(call, faults)
            reply.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.api_limit}"
            return reply

    def _guarded(self, call: Call, faults: Faults) -> Reply:
        if self._dice.unavailable():
            return Reply(
                503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "Service temporarily unavailable"}]
            )
        try:
            user_id = self._sessions.authenticate(
                call.headers.get("authorization"), faults.session_expiry_after
            )
        except ApiError as err:
            return Reply(err.status, err.body())
        if self.api_used >= self.api_limit:
            return Reply(
                403, [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]
            )
        self.api_used += 1
        self.store.acting_user = self._rest.user_id = user_id
        try:
            return self._rest.dispatch(call)
        finally:
            self.store.acting_user = None

    # -- control endpoints -----------------------------------------------------------------------

    def _control(self, request: Request, path: str) -> Reply:
        """`/__sandbox/…`: settings and inspection for tests and the demo; never counted or faulted."""
        try:
            body = json.loads(request.get_data() or b"{}") if request.method in ("POST", "PUT") else {}
        except ValueError:
            return Reply(400, {"error": "the body must be JSON"})
        if path == "faults":
            if request.method in ("POST", "PUT"):
                try:
                    self.faults = Faults.from_json(body)
                except ValueError as exc:
                    return Reply(400, {"error": str(exc)})
            return Reply(200, self.faults.to_json())
        if path == "stats" and request.method == "GET":
            with self._lock:
                counts = self.store.counts()
            return Reply(
                200,
                {
                    "calls": self.stats.snapshot(),
                    "apiUsage": {"used": self.api_used, "max": self.api_limit},
                    "records": counts,
                },
            )
        if path == "stats/reset" and request.method == "POST":
            self.stats.reset()
            return Reply(200, {"calls": self.stats.snapshot()})
        if path == "usage" and request.method == "POST":
            self.set_api_usage(int(body.get("used", self.api_used)), body.get("max"))
            return Reply(200, {"used": self.api_used, "max": self.api_limit})
        if path == "sessions/expire" and request.method == "POST":
            self.expire_sessions()
            return Reply(200, {"expired": True})
        if path.startswith("records/") and request.method == "GET":
            try:
                rows = self.records(
                    path[len("records/") :], include_deleted=request.args.get("deleted") == "true"
                )
            except KeyError as exc:
                return Reply(404, {"error": str(exc)})
            return Reply(200, rows)
        return Reply(404, {"error": f"no sandbox control endpoint {request.method} /__sandbox/{path}"})
