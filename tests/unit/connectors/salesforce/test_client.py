"""The client wrapper: bounded retries with backoff, one re-login per call, limits and budget, TLS trust."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from requests.adapters import HTTPAdapter
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from connectors.salesforce.auth import ClientCredentials, Token
from connectors.salesforce.client import (
    LimitReached,
    SalesforceClient,
    SalesforceUnavailable,
    _TimeoutAdapter,
    make_session,
)
from connectors.salesforce.shared_login import SharedLogin
from sandbox.salesforce import Org, OrgAdapter

BASE = "https://sandbox.local"


class CountingAuth:
    def __init__(self) -> None:
        self.logins = 0

    def login(self, session: requests.Session, timeout: float) -> Token:
        self.logins += 1
        return Token(SecretStr(f"token-{self.logins}"), BASE)


def client(**kw: Any) -> tuple[SalesforceClient, CountingAuth, list[float]]:
    auth, sleeps = CountingAuth(), []
    return SalesforceClient(auth, sleep=sleeps.append, **kw), auth, sleeps


def err(cls: type[Exception], status: int, code: str, message: str = "") -> Exception:
    return cls("https://x/services/data", status, "call", [{"errorCode": code, "message": message or code}])


def flaky(*failures: Exception) -> Any:
    todo = list(failures)

    def fn() -> str:
        if todo:
            raise todo.pop(0)
        return "ok"

    return fn


def test_503_and_row_locks_are_retried_with_growing_jittered_waits() -> None:
    c, _, sleeps = client()
    fn = flaky(
        err(SalesforceGeneralError, 503, "SERVER_UNAVAILABLE"),
        err(SalesforceGeneralError, 503, "SERVER_UNAVAILABLE"),
        err(SalesforceMalformedRequest, 400, "UNABLE_TO_LOCK_ROW"),
        requests.Timeout("read timed out"),
    )
    assert c.call("x", fn) == "ok"
    assert len(sleeps) == 4
    assert (
        0.5 <= sleeps[0] <= 1.5
        and 1.0 <= sleeps[1] <= 2.0
        and 2.0 <= sleeps[2] <= 3.0
        and 4.0 <= sleeps[3] <= 5.0
    )


def test_retries_are_bounded_and_end_as_unavailable() -> None:
    c, _, sleeps = client(max_retries=4)
    always = [err(SalesforceGeneralError, 503, "SERVER_UNAVAILABLE") for _ in range(10)]
    with pytest.raises(SalesforceUnavailable, match="HTTP 503"):
        c.call("x", flaky(*always))
    assert len(sleeps) == 3


def test_retries_stop_once_the_time_budget_is_slept() -> None:
    c, _, sleeps = client(max_retries=100, retry_seconds=10.0)
    with pytest.raises(SalesforceUnavailable):
        c.call("x", flaky(*[requests.ConnectionError("refused") for _ in range(100)]))
    assert sum(sleeps[:-1]) < 10.0 <= sum(sleeps)


def test_an_expired_session_is_relogged_exactly_once_per_call() -> None:
    c, auth, _ = client()
    c.connect()
    assert c.call("x", flaky(err(SalesforceExpiredSession, 401, "INVALID_SESSION_ID"))) == "ok"
    assert auth.logins == 2
    assert c.call("y", flaky(err(SalesforceExpiredSession, 401, "INVALID_SESSION_ID"))) == "ok"
    assert auth.logins == 3  # once per call, not once per client
    with pytest.raises(SalesforceUnavailable, match="fresh session"):
        c.call("z", flaky(*[err(SalesforceExpiredSession, 401, "INVALID_SESSION_ID") for _ in range(5)]))
    assert auth.logins == 4


def test_the_daily_limit_stops_without_retrying_but_the_concurrency_limit_is_retried() -> None:
    c, _, sleeps = client()
    with pytest.raises(LimitReached):
        c.call(
            "x",
            flaky(
                err(SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            ),
        )
    assert sleeps == []
    concurrent = err(
        SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."
    )
    assert c.call("y", flaky(concurrent)) == "ok" and len(sleeps) == 1


def test_other_refusals_are_not_retried() -> None:
    c, _, sleeps = client()
    with pytest.raises(SalesforceMalformedRequest):
        c.call("x", flaky(err(SalesforceMalformedRequest, 400, "MALFORMED_QUERY")))
    assert sleeps == []


def test_the_run_budget_is_the_smaller_of_the_cap_and_the_share() -> None:
    c, _, _ = client(budget_calls=50, budget_share=0.1)
    assert c.budget == 50
    c.usage.max, c.usage.used = 200, 0
    assert c.budget == 20
    c.usage.calls = 20
    with pytest.raises(LimitReached, match="budget is spent"):
        c.call("x", lambda: "never")
    with c.unbudgeted():
        assert c.call("ledger", lambda: "ok") == "ok"
    c.usage.used = 200
    with c.unbudgeted(), pytest.raises(LimitReached, match="daily API limit"):
        c.call("ledger", lambda: "never")


@pytest.fixture
def org() -> Org:
    return Org.from_metadata(sleep=lambda _s: None)


def sandbox_client(org: Org, **kw: Any) -> SalesforceClient:
    session = make_session(10.0)
    session.mount(BASE, OrgAdapter(org))
    auth = ClientCredentials(BASE, "csm-sync-sandbox", SecretStr("sandbox-secret"))
    return SalesforceClient(auth, session=session, sleep=lambda _s: None, **kw)


def test_the_budget_is_known_before_the_first_write(org: Org) -> None:
    org.set_api_usage(1000, 10_000)
    c = sandbox_client(org, budget_share=0.25)
    assert c.budget is None
    results = c.upsert_collection("Account", "Store_Id__c", [{"Store_Id__c": "NV-1", "Name": "One"}])
    assert results[0]["success"]
    assert org.stats.snapshot()["limits"] == 1 and c.budget == 2500
    assert (c.usage.used, c.usage.max, c.usage.calls) == (1002, 10_000, 2)  # /limits counted
    c.upsert_collection("Account", "Store_Id__c", [{"Store_Id__c": "NV-2", "Name": "Two"}])
    assert org.stats.snapshot()["limits"] == 1  # once


def test_a_bulk_job_is_not_started_without_budget_for_all_of_it(org: Org) -> None:
    c = sandbox_client(org, budget_calls=5)
    list(c.query("SELECT Id FROM Account"))  # the header tells the usage: no /limits call needed
    with pytest.raises(LimitReached, match="6 needed"):
        c.upsert_bulk("Account", "Store_Id__c", [{"Store_Id__c": "NV-1", "Name": "One"}])
    assert org.stats.snapshot()["bulk_create"] == 0


def test_a_request_refused_whole_fails_each_record_with_its_message(org: Org) -> None:
    c = sandbox_client(org)
    results = c.upsert_collection(
        "Account", "Store_Id__c", [{"Store_Id__c": "NV-1", "Nope__c": 1}, {"Store_Id__c": "NV-2"}]
    )
    assert [r["success"] for r in results] == [False, False]
    assert results[0]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert "Nope__c" in results[0]["errors"][0]["message"]


def test_queries_follow_next_records_url_page_by_page(org: Org) -> None:
    org.page_size = 3
    org.load("Account", [{"Name": f"S{i}", "Store_Id__c": f"NV-{i}"} for i in range(8)])
    c = sandbox_client(org)
    assert len(list(c.query("SELECT Id, Store_Id__c FROM Account"))) == 8
    stats = org.stats.snapshot()
    assert (stats["query"], stats["query_more"]) == (1, 2)


class Capture(HTTPAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.kwargs: dict[str, Any] = {}

    def send(self, request: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.kwargs = kwargs
        resp = requests.Response()
        resp.status_code = 200
        return resp


def test_the_configured_ca_bundle_beats_requests_ca_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/somewhere-else.pem")
    session = make_session(5.0, "/opt/csm-sync/ca.pem")
    adapter = session.get_adapter("https://x")
    assert isinstance(adapter, _TimeoutAdapter)
    captured = Capture()
    monkeypatch.setattr(HTTPAdapter, "send", captured.send)
    session.get("https://x/services/data")
    assert captured.kwargs["verify"] == "/opt/csm-sync/ca.pem"
    assert captured.kwargs["timeout"] == 5.0


def test_verification_is_never_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    session = make_session(5.0)
    captured = Capture()
    monkeypatch.setattr(HTTPAdapter, "send", captured.send)
    session.get("https://x/services/data", verify=False)
    assert captured.kwargs["verify"] is True


def test_two_unanswered_bulk_uploads_mean_salesforce_is_unavailable(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = sandbox_client(org)
    real = requests.Session.request

    def drop_uploads(self: requests.Session, method: str, url: str, **kw: Any) -> Any:
        if method == "PUT":
            raise requests.ReadTimeout("read timed out")
        return real(self, method, url, **kw)

    monkeypatch.setattr(requests.Session, "request", drop_uploads)
    with pytest.raises(SalesforceUnavailable, match="no answer twice"):
        c.upsert_bulk("Account", "Store_Id__c", [{"Store_Id__c": "NV-1", "Name": "One"}])
    jobs = org.bulk.jobs("59.0")["records"]
    assert [j["state"] for j in jobs] == ["Aborted", "Aborted"]  # neither can process anything later


def test_clients_on_a_shared_login_log_in_once_and_an_expired_session_is_replaced_once() -> None:
    auth = CountingAuth()
    shared = SharedLogin(auth)
    a, b = (SalesforceClient(shared, sleep=lambda _s: None) for _ in range(2))
    a.connect()
    b.connect()
    assert (auth.logins, shared.logins) == (1, 1)
    assert a.sf.session_id == b.sf.session_id == "token-1"
    # a sees the session expire: it logs in again; b, rejected with the same old session, takes a's new one
    assert a.call("x", flaky(err(SalesforceExpiredSession, 401, "INVALID_SESSION_ID"))) == "ok"
    assert b.call("y", flaky(err(SalesforceExpiredSession, 401, "INVALID_SESSION_ID"))) == "ok"
    assert auth.logins == 2
    assert a.sf.session_id == b.sf.session_id == "token-2"
    assert SalesforceClient(shared).sf.session_id == "token-2"  # a new client: no login
    assert auth.logins == 2


def test_concurrent_first_calls_on_a_shared_login_make_one_login() -> None:
    class SlowAuth(CountingAuth):
        def login(self, session: requests.Session, timeout: float) -> Token:
            time.sleep(0.05)  # another thread arrives while this login is in flight
            return super().login(session, timeout)

    auth = SlowAuth()
    shared = SharedLogin(auth)
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda _i: shared.login(requests.Session(), 1.0), range(8)))
    assert auth.logins == 1 and {t.access_token.get_secret_value() for t in tokens} == {"token-1"}
