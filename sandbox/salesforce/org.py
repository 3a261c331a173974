"""The sandbox org: a WSGI app speaking Salesforce's REST, OAuth and Bulk 2.0 wire formats."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections import Counter
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
from sandbox.salesforce.catalog import Catalog, load_catalog
from sandbox.salesforce.errors import ApiError, not_found
from sandbox.salesforce.faults import Dice, Faults
from sandbox.salesforce.ids import IdMinter
from sandbox.salesforce.messages import Messages
from sandbox.salesforce.metadata import default_metadata_root, load_schema
from sandbox.salesforce.query import Cursors
from sandbox.salesforce.rest import Call, Reply, RestApi
from sandbox.salesforce.schema import ObjectDef, Schema
from sandbox.salesforce.soql.engine import QueryEngine
from sandbox.salesforce.stats import CallStats, csv_rows, records_by_object
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
        catalog: Catalog | None = None,
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
        self._clock = clock or (lambda: datetime.now(UTC))
        self._sleep = sleep
        self._dice = Dice(faults or Faults())
        self.store = Store(schema, self._ids, self._clock)
        organization = schema.get("Organization")
        about = {"Name": "csm-sync sandbox", "InstanceName": "SBX1", "OrganizationType": "Enterprise Edition"}
        # The org's own record comes first, so its id is the org id every token and identity URL names.
        self.org_id = (
            self._ids.mint("00D")
            if organization is None
            else self.store.create(organization, about, system=True)
        )
        self._sessions = Sessions(self.org_id)
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
            catalog=catalog,
            messages=Messages(self.store, self._ids, self._clock),
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
        root = root or default_metadata_root()
        schema = load_schema(root)
        return cls(schema, catalog=load_catalog(root, schema), **options)

    @property
    def messages(self) -> Messages:
        """The emails (`emailSimple`) and Chatter posts the org was asked to send."""
        assert self._rest.messages is not None
        return self._rest.messages

    @property
    def catalog(self) -> Catalog:
        """The list views, reports and dashboards read from the metadata (empty for a bare schema)."""
        return self._rest.catalog

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

    def update(
        self, sobject: str, record_id: str, fields: Mapping[str, Any], *, as_user: str | None = None
    ) -> None:
        """Edits a record as a person in the org would (a CSM closing a Task, snoozing a flag).

        `as_user` (a User Id) is stamped as LastModifiedById, as when that CSM saves the record.
        """
        with self._lock:
            acting = self.store.acting_user
            self.store.acting_user = as_user or acting
            try:
                self.store.update(self._object(sobject), record_id, fields, system=True)
            finally:
                self.store.acting_user = acting

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
        if path.rstrip("/") == "/services/oauth2/userinfo" or path.startswith("/id/"):
            return self._identity(request, path, base_url)
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

    def _identity(self, request: Request, path: str, base_url: str) -> Reply:
        """OpenID Connect userinfo and the identity URL a token response names, for the bearer's own user.

        The Salesforce CLI's `sf org login access-token` asks userinfo who the token belongs to.
        """
        self.stats.count("identity")
        try:
            user_id = self._sessions.authenticate(request.headers.get("Authorization"), None)
        except ApiError:
            return Reply(403, "Bad_OAuth_Token", content_type="text/plain")
        with self._lock:
            found = self.store.get(user_id)
        assert found is not None
        user = found[1]
        if path.startswith("/id/") and path.rstrip("/") != f"/id/{self.org_id}/{user_id}":
            return Reply(403, "Bad_Id", content_type="text/plain")
        version = _VERSIONS[-1][0]
        urls = {
            name: f"{base_url}/services/data/v{version}/{suffix}"
            for name, suffix in (
                ("rest", ""),
                ("sobjects", "sobjects/"),
                ("query", "query/"),
                ("limits", "limits/"),
                ("custom_domain", ""),
            )
        }
        urls["custom_domain"] = base_url
        common = {
            "email": user["Email"],
            "organization_id": self.org_id,
            "urls": urls,
            "active": bool(user["IsActive"]),
            "user_type": "STANDARD",
            "language": "en_US",
            "locale": "en_US",
            "utcOffset": 0,
        }
        if path.startswith("/id/"):
            return Reply(
                200,
                common
                | {
                    "id": f"{base_url}/id/{self.org_id}/{user_id}",
                    "user_id": user_id,
                    "username": user["Username"],
                    "display_name": user["Name"],
                    "first_name": user.get("FirstName"),
                    "last_name": user["LastName"],
                },
            )
        return Reply(
            200,
            common
            | {
                "sub": f"{base_url}/id/{self.org_id}/{user_id}",
                "user_id": user_id,
                "preferred_username": user["Username"],
                "name": user["Name"],
                "given_name": user.get("FirstName"),
                "family_name": user["LastName"],
                "email_verified": True,
                "zoneinfo": "GMT",
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
            if reply.status < 300:
                self._tally(call, reply)
            return reply

    def _tally(self, call: Call, reply: Reply) -> None:
        """The records a successful call read or wrote, for the benchmark's minimum-calls figure."""
        seg = call.segments
        if seg[:1] in (("query",), ("queryAll",)) and isinstance(reply.body, dict):
            self.stats.tally(read=records_by_object(reply.body.get("records")))
        elif seg[:2] == ("composite", "sobjects") and call.method in ("POST", "PATCH"):
            body = call.json()
            written = records_by_object(body.get("records") if isinstance(body, dict) else None)
            if len(seg) > 2:  # an upsert names its object in the path
                written = Counter({seg[2]: sum(written.values())})
            self.stats.tally(written=written)
        elif seg[:2] == ("jobs", "ingest") and len(seg) == 4 and seg[3] == "batches":
            self.stats.tally(written={self.bulk.object_of(seg[2]): csv_rows(call.body)})
        elif len(seg) == 3 and seg[0] == "sobjects" and seg[2] == "describe":
            self.stats.tally(described=seg[1])

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
                    "volume": self.stats.volume(),
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
