"""The REST API under `/services/data/vNN.N`: routing and the handlers behind each resource."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sandbox.salesforce import analytics, describe, sobject_collections
from sandbox.salesforce.bulk import RESULT_KINDS, BulkIngest
from sandbox.salesforce.catalog import Catalog
from sandbox.salesforce.errors import ApiError, RecordError, not_found
from sandbox.salesforce.faults import Dice
from sandbox.salesforce.files import Files, parse_upload
from sandbox.salesforce.ids import normalize_id
from sandbox.salesforce.messages import Messages
from sandbox.salesforce.query import Cursors, batch_size
from sandbox.salesforce.schema import NUMBER_TYPES, TEXT_TYPES, FieldDef, ObjectDef
from sandbox.salesforce.soql.engine import QueryEngine
from sandbox.salesforce.soql.errors import SoqlError
from sandbox.salesforce.store import MultipleMatches, Record, Store

JSON_TYPE = "application/json;charset=UTF-8"
CSV_TYPE = "text/csv"
_VERSION = re.compile(r"^v(\d{2,3}\.\d)$")


@dataclass(frozen=True)
class Call:
    """One API request, already split from HTTP so composite subrequests can be dispatched alike."""

    method: str
    segments: tuple[str, ...]
    args: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    version: str
    base_url: str

    @classmethod
    def from_url(
        cls, method: str, url: str, headers: Mapping[str, str], body: bytes, base_url: str
    ) -> Call | None:
        """None when `url` is not under `/services/data/vNN.N`."""
        parts = urlsplit(url)
        raw = [s for s in parts.path.split("/") if s]
        if len(raw) < 3 or raw[0] != "services" or raw[1] != "data":
            return None
        version = _VERSION.match(raw[2])
        if version is None:
            return None
        return cls(
            method=method.upper(),
            segments=tuple(unquote(s) for s in raw[3:]),
            args=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            version=version.group(1),
            base_url=base_url,
        )

    def json(self) -> Any:
        if not self.body:
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body is empty")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", f"The request body is not valid JSON: {exc}") from exc


@dataclass
class Reply:
    status: int
    body: Any = None
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if self.body is None or self.status == 204:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Handler = Callable[[Call, dict[str, str]], Reply]


@dataclass(frozen=True)
class Route:
    methods: frozenset[str]
    pattern: tuple[str, ...]
    kind: str
    handler: Handler

    def match(self, segments: tuple[str, ...]) -> dict[str, str] | None:
        """Literals match case-insensitively; `{x}` takes one segment, `{*x}` the rest."""
        params: dict[str, str] = {}
        for i, part in enumerate(self.pattern):
            if part.startswith("{*"):
                if i >= len(segments):
                    return None
                params[part[2:-1]] = "/".join(segments[i:])
                return params
            if i >= len(segments):
                return None
            if part.startswith("{"):
                params[part[1:-1]] = segments[i]
            elif part.lower() != segments[i].lower():
                return None
        return params if len(segments) == len(self.pattern) else None


class RestApi:
    """Handlers for every resource the sandbox answers; the org holds its lock around `dispatch`."""

    def __init__(
        self,
        store: Store,
        engine: QueryEngine,
        cursors: Cursors,
        bulk: BulkIngest,
        dice: Callable[[], Dice],
        page_size: Callable[[], int],
        limits: Callable[[], dict[str, Any]],
        composite: Callable[[Call], Reply],
        catalog: Catalog | None = None,
        messages: Messages | None = None,
    ) -> None:
        self._store = store
        self.messages = messages
        self._schema = store.schema
        self._engine = engine
        self._cursors = cursors
        self._bulk = bulk
        self._dice = dice
        self._page_size = page_size
        self._limits = limits
        self._composite = composite
        self.catalog = catalog or Catalog()
        self.user_id = ""
        self.files = Files(store)
        get, post, patch, delete, put = "GET", "POST", "PATCH", "DELETE", "PUT"
        self.routes = [
            self._route({get}, (), "describe", self._resources),
            self._route({get}, ("limits",), "limits", lambda c, p: Reply(200, self._limits())),
            self._route({get}, ("query",), "query", self._query),
            self._route({get}, ("queryAll",), "query", self._query),
            self._route({get}, ("query", "{locator}"), "query_more", self._query_more),
            self._route({get}, ("queryAll", "{locator}"), "query_more", self._query_more),
            self._route({get}, ("sobjects",), "describe", self._global_describe),
            self._route({get}, ("sobjects", "{sobject}", "describe"), "describe", self._describe),
            self._route({get}, ("sobjects", "{sobject}", "listviews"), "listviews", self._list_views),
            self._route({get}, ("sobjects", "{sobject}", "listviews", "{id}"), "listviews", self._list_view),
            self._route(
                {get}, ("sobjects", "{sobject}", "listviews", "{id}", "{what}"), "listviews", self._list_view
            ),
            self._route({get}, ("analytics", "reports"), "analytics", self._reports),
            self._route({get, post}, ("analytics", "reports", "{id}"), "analytics", self._run_report),
            self._route(
                {get}, ("analytics", "reports", "{id}", "describe"), "analytics", self._describe_report
            ),
            self._route({get}, ("analytics", "dashboards"), "analytics", self._dashboards),
            self._route({post}, ("actions", "standard", "{action}"), "action", self._action),
            self._route({post}, ("chatter", "feed-elements"), "chatter", self._feed_element),
            self._route({get}, ("analytics", "dashboards", "{id}"), "analytics", self._run_dashboard),
            self._route({get, post}, ("sobjects", "{sobject}"), "sobject", self._sobject),
            self._route(
                {get},
                ("sobjects", "ContentVersion", "{id}", "VersionData"),
                "file_download",
                self._version_data,
            ),
            self._route({get, patch, delete}, ("sobjects", "{sobject}", "{id}"), "sobject", self._record),
            self._route(
                {get, patch, delete},
                ("sobjects", "{sobject}", "{field}", "{*value}"),
                "sobject",
                self._by_external_id,
            ),
            self._route({post, patch, delete}, ("composite", "sobjects"), "collections", self._collections),
            self._route({get}, ("composite", "sobjects", "{sobject}"), "collections", self._collections_get),
            self._route(
                {patch},
                ("composite", "sobjects", "{sobject}", "{field}"),
                "collections",
                self._collections_upsert,
            ),
            self._route({post}, ("composite",), "composite", lambda c, p: self._composite(c)),
            self._route(
                {get}, ("jobs", "ingest"), "bulk_poll", lambda c, p: Reply(200, self._bulk.jobs(c.version))
            ),
            self._route({post}, ("jobs", "ingest"), "bulk_create", self._bulk_create),
            self._route({get}, ("jobs", "ingest", "{job}"), "bulk_poll", self._bulk_poll),
            self._route({patch}, ("jobs", "ingest", "{job}"), "bulk_close", self._bulk_state),
            self._route({delete}, ("jobs", "ingest", "{job}"), "bulk_close", self._bulk_delete),
            self._route({put}, ("jobs", "ingest", "{job}", "batches"), "bulk_upload", self._bulk_upload),
            self._route({get}, ("jobs", "ingest", "{job}", "{results}"), "bulk_results", self._bulk_results),
        ]

    @staticmethod
    def _route(methods: set[str], pattern: tuple[str, ...], kind: str, handler: Handler) -> Route:
        return Route(frozenset(methods), pattern, kind, handler)

    def resolve(
        self, method: str, segments: tuple[str, ...]
    ) -> tuple[Route | None, dict[str, str], list[str]]:
        """The route for a call, its parameters, and (when only the method is wrong) the allowed methods."""
        allowed: list[str] = []
        for route in self.routes:
            params = route.match(segments)
            if params is None:
                continue
            if method in route.methods:
                return route, params, []
            allowed.extend(sorted(route.methods))
        return None, {}, allowed

    def kind_of(self, method: str, segments: tuple[str, ...]) -> str:
        """The counter a call is tallied under; a wrong method still counts as the resource it named."""
        route, _, _ = self.resolve(method, segments)
        if route is not None:
            return route.kind
        return next((r.kind for r in self.routes if r.match(segments) is not None), "unrouted")

    def dispatch(self, call: Call) -> Reply:
        """Never raises for a client error: every ApiError becomes the REST error list."""
        route, params, allowed = self.resolve(call.method, call.segments)
        try:
            if route is None:
                if allowed:
                    raise ApiError(
                        405,
                        "METHOD_NOT_ALLOWED",
                        f"HTTP Method '{call.method}' not allowed. Allowed are {','.join(allowed)}",
                    )
                raise not_found()
            return route.handler(call, params)
        except ApiError as err:
            return Reply(err.status, err.body())

    # -- resources, limits, describe -------------------------------------------------------------

    def _resources(self, call: Call, _: dict[str, str]) -> Reply:
        base = f"/services/data/v{call.version}"
        names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs", "analytics")
        return Reply(200, {name: f"{base}/{name}" for name in names})

    def _object(self, name: str) -> ObjectDef:
        obj = self._schema.get(name)
        if obj is None:
            raise not_found()
        return obj

    def _global_describe(self, call: Call, _: dict[str, str]) -> Reply:
        return Reply(200, describe.global_describe(self._schema, call.version))

    def _describe(self, call: Call, params: dict[str, str]) -> Reply:
        obj = self._object(params["sobject"])
        return Reply(200, describe.describe_object(self._schema, obj, call.version))

    # -- query -----------------------------------------------------------------------------------

    def _query(self, call: Call, _: dict[str, str]) -> Reply:
        source = call.args.get("q", "")
        if not source.strip():
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        endpoint = call.segments[0]
        if call.args.get("columns", "").lower() == "true":
            return Reply(200, self._query_columns(source))
        try:
            result = self._engine.run(
                source, include_deleted=endpoint.lower() == "queryall", version=call.version
            )
        except SoqlError as err:
            raise ApiError(400, err.code, err.render(source)) from err
        size = batch_size(call.headers.get("sforce-query-options"), self._page_size())
        return Reply(
            200, self._cursors.first_page(result.total_size, result.records, size, call.version, endpoint)
        )

    def _query_columns(self, source: str) -> dict[str, Any]:
        """What `query?columns=true` answers: the columns a query selects, relationships nested."""
        try:
            obj, selected = self._engine.columns(source)
        except SoqlError as err:
            raise ApiError(400, err.code, err.render(source)) from err
        top: list[dict[str, Any]] = []
        for bound in selected:
            level = top
            for hop in bound.hops:
                name = hop.relationship_name or hop.name
                join = next((c for c in level if c["columnName"] == name and c["apexType"] is None), None)
                if join is None:
                    join = _column(name, None) | {"joinColumns": []}
                    level.append(join)
                level = join["joinColumns"]
            level.append(_column(bound.field.name, bound.field))
        return {
            "columnMetadata": top,
            "entityName": obj.name,
            "groupBy": False,
            "idSelected": any(not b.hops and b.field.name == "Id" for b in selected),
            "keyPrefix": obj.key_prefix,
        }

    def _query_more(self, call: Call, params: dict[str, str]) -> Reply:
        return Reply(200, self._cursors.next_page(params["locator"], call.version))

    # -- list views and analytics ------------------------------------------------------------------

    def _rows(self, call: Call) -> analytics.Query:
        def run(soql: str) -> list[dict[str, Any]]:
            return self._engine.run(soql, include_deleted=False, version=call.version).records

        return run

    def _list_views(self, call: Call, params: dict[str, str]) -> Reply:
        obj = self._object(params["sobject"])
        views = [
            analytics.list_view_summary(v, call.version)
            for v in self.catalog.list_views
            if v.sobject == obj.name
        ]
        return Reply(200, {"done": True, "listviews": views, "nextRecordsUrl": None, "size": len(views),
                           "sobjectType": obj.name})  # fmt: skip

    def _list_view(self, call: Call, params: dict[str, str]) -> Reply:
        obj = self._object(params["sobject"])
        view = analytics.find(self.catalog, "listview", params["id"])
        if view.sobject != obj.name:
            raise not_found()
        what = params.get("what")
        if what is None:
            return Reply(200, analytics.list_view_summary(view, call.version))
        if what == "describe":
            return Reply(200, analytics.list_view_describe(self._schema, view, self.user_id))
        if what != "results":
            raise not_found()
        limit, offset = _bounded(call.args.get("limit"), 25, 2000), _bounded(call.args.get("offset"), 0, 2000)
        return Reply(
            200,
            analytics.list_view_results(self._schema, view, self._rows(call), self.user_id, limit, offset),
        )

    def _reports(self, call: Call, _: dict[str, str]) -> Reply:
        return Reply(200, [analytics.report_summary(r, call.version) for r in self.catalog.reports])

    def _run_report(self, call: Call, params: dict[str, str]) -> Reply:
        report = analytics.find(self.catalog, "report", params["id"])
        details = call.args.get("includeDetails", "false").lower() == "true"
        if call.method == "POST" and call.body:
            body = self._body(call)
            # A POST may narrow the report with its own filters, as the Analytics API allows.
            report = analytics.with_filters(report, body.get("reportMetadata") or {})
        return Reply(200, analytics.run_report(self._schema, report, self._rows(call), details))

    def _describe_report(self, call: Call, params: dict[str, str]) -> Reply:
        report = analytics.find(self.catalog, "report", params["id"])
        return Reply(200, {"reportMetadata": analytics.report_metadata(report),
                           "reportTypeMetadata": {"type": report.report_type.name + "__c"}})  # fmt: skip

    def _dashboards(self, call: Call, _: dict[str, str]) -> Reply:
        return Reply(200, [analytics.dashboard_summary(d, call.version) for d in self.catalog.dashboards])

    def _run_dashboard(self, call: Call, params: dict[str, str]) -> Reply:
        dashboard = analytics.find(self.catalog, "dashboard", params["id"])
        return Reply(200, analytics.run_dashboard(self._schema, dashboard, self._rows(call), call.version))

    # -- messages: the emailSimple action and Chatter posts -------------------------------------

    def _action(self, call: Call, params: dict[str, str]) -> Reply:
        if self.messages is None:
            raise not_found()
        return Reply(200, self.messages.action(params["action"], self._body(call), self.user_id))

    def _feed_element(self, call: Call, _: dict[str, str]) -> Reply:
        if self.messages is None:
            raise not_found()
        return Reply(201, self.messages.feed_element(self._body(call), self.user_id, call.version))

    # -- single records --------------------------------------------------------------------------

    def _render(self, obj: ObjectDef, rec: Record, call: Call) -> dict[str, Any]:
        url = f"/services/data/v{call.version}/sobjects/{obj.name}/{rec['Id']}"
        wanted = [f.strip() for f in call.args.get("fields", "").split(",") if f.strip()]
        names = [f.name for f in obj] if not wanted else [self._field(obj, w).name for w in wanted]
        return {"attributes": {"type": obj.name, "url": url}} | {n: rec.get(n) for n in names}

    @staticmethod
    def _field(obj: ObjectDef, name: str) -> FieldDef:
        f = obj.field(name)
        if f is None:
            raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj.name}'")
        return f

    def _body(self, call: Call) -> dict[str, Any]:
        body = call.json()
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        return body

    def _sobject(self, call: Call, params: dict[str, str]) -> Reply:
        obj = self._object(params["sobject"])
        if call.method == "GET":
            return Reply(
                200, {"objectDescribe": describe.object_summary(obj, call.version), "recentItems": []}
            )
        try:
            if obj.name == "ContentVersion":
                fields, data = parse_upload(call.headers.get("content-type", ""), call.body)
                record_id = self.files.upload(fields, data, call.version)
            else:
                record_id = self._store.create(obj, self._body(call))
        except RecordError as err:
            raise ApiError.from_record(err) from err
        return Reply(201, {"id": record_id, "success": True, "errors": []})

    def _version_data(self, call: Call, params: dict[str, str]) -> Reply:
        """A file version's bytes, as `/sobjects/ContentVersion/{id}/VersionData` serves them."""
        record_id = normalize_id(params["id"])
        data = self.files.data(record_id) if record_id else None
        if data is None:
            raise not_found()
        return Reply(200, data, content_type="application/octet-stream")

    def _record(self, call: Call, params: dict[str, str]) -> Reply:
        obj = self._object(params["sobject"])
        record_id = normalize_id(params["id"])
        if record_id is None:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {params['id']}",
            )
        found = self._store.get(record_id)
        if found is None or found[0] is not obj:
            raise not_found()
        try:
            if call.method == "GET":
                return Reply(200, self._render(obj, found[1], call))
            if call.method == "PATCH":
                self._store.update(obj, record_id, self._body(call))
            else:
                self._store.delete(record_id)
        except RecordError as err:
            raise ApiError.from_record(err) from err
        return Reply(204)

    def _by_external_id(self, call: Call, params: dict[str, str]) -> Reply:
        obj = self._object(params["sobject"])
        key_field = obj.field(params["field"])
        if key_field is None or not key_field.id_lookup:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {params['field']}",
            )
        key = params["value"]
        matches = self._store.find(obj, key_field, key)
        if len(matches) > 1:
            base = f"/services/data/v{call.version}/sobjects/{obj.name}"
            return Reply(300, [f"{base}/{m}" for m in matches])
        try:
            if call.method == "PATCH":
                body = self._body(call)
                if not matches and call.args.get("updateOnly", "").lower() == "true":
                    raise not_found()
                record_id, created = self._store.upsert(obj, key_field, key, body)
                return Reply(
                    201 if created else 200,
                    {"id": record_id, "success": True, "errors": [], "created": created},
                )
            if not matches:
                raise not_found()
            if call.method == "DELETE":
                self._store.delete(matches[0])
                return Reply(204)
        except MultipleMatches as err:
            return Reply(300, [f"/services/data/v{call.version}/sobjects/{obj.name}/{m}" for m in err.ids])
        except RecordError as err:
            raise ApiError.from_record(err) from err
        found = self._store.get(matches[0])
        assert found is not None
        return Reply(200, self._render(obj, found[1], call))

    # -- collections -----------------------------------------------------------------------------

    def _collections(self, call: Call, _: dict[str, str]) -> Reply:
        dice = self._dice()
        if call.method == "DELETE":
            ids = [i for i in call.args.get("ids", "").split(",") if i]
            all_or_none = call.args.get("allOrNone", "false").lower() == "true"
            return Reply(200, sobject_collections.delete(self._store, dice, ids, all_or_none))
        body = call.json()
        if call.method == "POST":
            return Reply(200, sobject_collections.create(self._store, dice, body))
        return Reply(200, sobject_collections.update(self._store, dice, body))

    def _collections_get(self, call: Call, params: dict[str, str]) -> Reply:
        obj = self._object(params["sobject"])
        ids = [i for i in call.args.get("ids", "").split(",") if i]
        fields = [f for f in call.args.get("fields", "").split(",") if f]
        if not ids or not fields:
            raise ApiError(400, "MISSING_ARGUMENT", "ids and fields are required")
        return Reply(200, sobject_collections.retrieve(self._store, obj, ids, fields, call.version))

    def _collections_upsert(self, call: Call, params: dict[str, str]) -> Reply:
        obj = self._object(params["sobject"])
        key_field = obj.field(params["field"])
        if key_field is None or not key_field.id_lookup:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"Field name provided, {params['field']} is not an External ID "
                f"or indexed field for {obj.name}",
            )
        return Reply(200, sobject_collections.upsert(self._store, self._dice(), obj, key_field, call.json()))

    # -- bulk ------------------------------------------------------------------------------------

    def _bulk_create(self, call: Call, _: dict[str, str]) -> Reply:
        body = self._body(call)
        return Reply(200, self._bulk.create(body, self.user_id, call.version))

    def _bulk_poll(self, call: Call, params: dict[str, str]) -> Reply:
        return Reply(200, self._bulk.poll(params["job"], call.version))

    def _bulk_state(self, call: Call, params: dict[str, str]) -> Reply:
        body = self._body(call)
        return Reply(200, self._bulk.set_state(params["job"], body.get("state"), call.version))

    def _bulk_delete(self, call: Call, params: dict[str, str]) -> Reply:
        self._bulk.delete(params["job"])
        return Reply(204)

    def _bulk_upload(self, call: Call, params: dict[str, str]) -> Reply:
        if not call.headers.get("content-type", "").lower().startswith("text/csv"):
            raise ApiError(400, "INVALIDBATCH", "InvalidBatch : Content-Type must be text/csv")
        self._bulk.upload(params["job"], call.body)
        return Reply(201)

    def _bulk_results(self, call: Call, params: dict[str, str]) -> Reply:
        kind = RESULT_KINDS.get(params["results"].lower())
        if kind is None:
            raise not_found()
        return Reply(200, self._bulk.results(params["job"], kind), content_type=CSV_TYPE)


def _bounded(raw: str | None, default: int, maximum: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise ApiError(400, "INVALID_QUERY_PARAMETER_VALUE", f"{raw!r} is not a non-negative integer")
    return min(int(raw), maximum)


_APEX_TYPES = {
    "double": "Double",
    "currency": "Decimal",
    "percent": "Decimal",
    "int": "Integer",
    "boolean": "Boolean",
    "date": "Date",
    "datetime": "Datetime",
    "id": "Id",
    "reference": "Id",
}


def _column(name: str, f: FieldDef | None) -> dict[str, Any]:
    return {
        "aggregate": False,
        "apexType": None if f is None else _APEX_TYPES.get(f.type, "String"),
        "booleanType": f is not None and f.type == "boolean",
        "columnName": name,
        "custom": name.endswith(("__c", "__r")),
        "displayName": name,
        "foreignKeyName": None,
        "insertable": f is not None and f.createable,
        "joinColumns": [],
        "numberType": f is not None and f.type in NUMBER_TYPES,
        "textType": f is not None and f.type in TEXT_TYPES,
        "updatable": f is not None and f.updateable,
    }
