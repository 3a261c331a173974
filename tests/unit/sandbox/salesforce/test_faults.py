"""Fault injection is deterministic per seed; counters and the daily allowance behave like an org's."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceExpiredSession, SalesforceRefusedRequest

from sandbox.salesforce import Faults, Org, OrgAdapter

from .conftest import API, BASE, NOW


def statuses(http: requests.Session, n: int) -> list[int]:
    return [http.get(f"{API}/limits").status_code for _ in range(n)]


def test_the_same_seed_fails_the_same_calls(org: Org, http: requests.Session) -> None:
    org.faults = Faults(unavailable_rate=0.3, seed=7)
    first = statuses(http, 40)
    org.faults = Faults(unavailable_rate=0.3, seed=7)
    assert statuses(http, 40) == first
    assert {503, 200} == set(first)
    org.faults = Faults(unavailable_rate=0.3, seed=8)
    assert statuses(http, 40) != first


def test_a_503_is_counted_as_received_but_not_as_api_usage(org: Org, http: requests.Session) -> None:
    org.faults = Faults(unavailable_rate=1.0)
    resp = http.get(f"{API}/limits")
    assert resp.status_code == 503
    assert resp.json() == [{"errorCode": "SERVER_UNAVAILABLE", "message": "Service temporarily unavailable"}]
    assert org.stats.snapshot()["limits"] == 1 and org.api_used == 0


def test_lock_failures_hit_a_seeded_share_of_records(org: Org, http: requests.Session) -> None:
    def run(seed: int) -> list[bool]:
        org.faults = Faults(lock_rate=0.25, seed=seed)
        body = {"records": [{"attributes": {"type": "Account"}, "Store_Id__c": f"S{seed}-{i}", "Name": "n"}
                            for i in range(40)]}  # fmt: skip
        results = http.patch(f"{API}/composite/sobjects/Account/Store_Id__c", json=body).json()
        for r in results:
            if not r["success"]:
                assert r["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
        return [r["success"] for r in results]

    first = run(1)
    assert 0 < first.count(False) < 40
    assert run(1) == first  # same seed, same rows locked
    # The rerun upserted the same keys, so the records are those that got through, once each.
    assert len(org.records("Account")) == first.count(True)


def test_enabling_one_fault_does_not_reshuffle_another(org: Org, http: requests.Session) -> None:
    def pattern() -> list[int]:
        out = []
        for i in range(20):
            body = {"records": [{"attributes": {"type": "Account"}, "Name": f"A{i}-{j}"} for j in range(5)]}
            out.append(http.post(f"{API}/composite/sobjects", json=body).status_code)
            out.append(http.get(f"{API}/limits").status_code)
        return out

    org.faults = Faults(unavailable_rate=0.5, seed=3)
    alone = pattern()
    org.faults = Faults(unavailable_rate=0.5, lock_rate=0.9, seed=3)
    assert pattern() == alone


def test_sessions_expire_after_n_calls_and_on_demand(org: Org) -> None:
    session = requests.Session()
    session.mount(BASE, OrgAdapter(org))
    org.faults = Faults(session_expiry_after=3)
    sf = Salesforce(instance_url=BASE, session_id=org.login(), session=session)
    for _ in range(3):
        sf.query("SELECT Id FROM User")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM User")
    fresh = Salesforce(instance_url=BASE, session_id=org.login(), session=session)
    fresh.query("SELECT Id FROM User")
    org.expire_sessions()
    with pytest.raises(SalesforceExpiredSession) as caught:
        fresh.query("SELECT Id FROM User")
    assert caught.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


def test_daily_allowance_is_reported_and_enforced(org: Org, sf: Salesforce) -> None:
    org.set_api_usage(98, limit=100)
    sf.query("SELECT Id FROM User")
    assert sf.api_usage["api-usage"].used == 99 and sf.api_usage["api-usage"].total == 100
    assert sf.limits()["DailyApiRequests"] == {"Max": 100, "Remaining": 0}
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM User")
    assert caught.value.content == [
        {"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}
    ]


def test_latency_is_slept_per_call(account: Callable[..., str]) -> None:
    slept: list[float] = []
    org = Org.from_metadata(clock=lambda: NOW, sleep=slept.append, faults=Faults(latency=0.25))
    session = requests.Session()
    session.mount(BASE, OrgAdapter(org))
    session.get(f"{API}/limits", headers={"Authorization": f"Bearer {org.login()}"})
    assert slept == [0.25]


def test_counters_by_kind_and_reset(org: Org, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM User")
    sf.Account.create({"Name": "A"})
    sf.Account.describe()
    sf.restful(
        "composite/sobjects",
        method="POST",
        json={"records": [{"attributes": {"type": "Account"}, "Name": "B"}]},
    )
    calls = org.stats.snapshot()
    assert {k: calls[k] for k in ("query", "sobject", "describe", "collections", "login")} == {
        "query": 1, "sobject": 1, "describe": 1, "collections": 1, "login": 0,
    }  # fmt: skip
    org.stats.reset()
    assert set(org.stats.snapshot().values()) == {0}


def test_control_endpoints_configure_and_report(org: Org) -> None:
    session = requests.Session()
    session.mount(BASE, OrgAdapter(org))
    resp = session.post(f"{BASE}/__sandbox/faults", json={"unavailable_rate": 0.5, "seed": 4})
    assert resp.status_code == 200 and org.faults == Faults(unavailable_rate=0.5, seed=4)
    bad = session.post(f"{BASE}/__sandbox/faults", json={"unavailable": 1})
    assert bad.status_code == 400 and "unknown fault setting(s): unavailable" in bad.json()["error"]
    assert session.post(f"{BASE}/__sandbox/faults", json={"lock_rate": 2}).status_code == 400
    org.insert("Account", {"Name": "Seeded"})
    stats = session.get(f"{BASE}/__sandbox/stats").json()
    assert stats["records"]["Account"] == 1 and stats["apiUsage"] == {"used": 0, "max": 100_000}
    dump = session.get(f"{BASE}/__sandbox/records/Account").json()
    assert [r["Name"] for r in dump] == ["Seeded"]
    assert session.post(f"{BASE}/__sandbox/usage", json={"used": 5, "max": 10}).json() == {
        "used": 5,
        "max": 10,
    }
    assert org.api_limit == 10
    assert session.get(f"{BASE}/__sandbox/records/Nope").status_code == 404
