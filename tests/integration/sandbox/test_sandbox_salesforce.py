"""The sandbox org over real HTTPS, driven by unmodified simple-salesforce with TLS verification on."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError

from sandbox.salesforce import INTEGRATION_USERNAME, ConnectedApp, Faults, Org
from sandbox.server import RunningServer, serve
from sandbox.tls import TLSMaterial

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    return TLSMaterial.create(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def org(private_key: rsa.RSAPrivateKey) -> Org:
    public = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    org = Org.from_metadata(page_size=50, bulk_polls_to_complete=2,
                            connected_app=ConnectedApp(certificate=public.decode()))  # fmt: skip
    org.load("Account", [{"Name": f"Store {i:03d}", "Store_Id__c": f"NV-{i:03d}", "BillingState": "NV"}
                         for i in range(120)])  # fmt: skip
    return org


@pytest.fixture(scope="module")
def server(org: Org, tls: TLSMaterial) -> Iterator[RunningServer]:
    with serve(org, tls) as running:
        yield running


@pytest.fixture(scope="module")
def sf(server: RunningServer, tls: TLSMaterial, private_key: rsa.RSAPrivateKey) -> Salesforce:
    """Logs in with the JWT bearer flow the worker uses, then hands the session to simple-salesforce."""
    session = tls.client_session()
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())  # fmt: skip
    claims = {
        "iss": "csm-sync-sandbox",
        "sub": INTEGRATION_USERNAME,
        "aud": server.url,
        "exp": int(time.time()) + 180,
    }
    resp = session.post(f"{server.url}/services/oauth2/token", data={
        "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "assertion": jwt.encode(claims, pem, algorithm="RS256"),
    })  # fmt: skip
    assert resp.status_code == 200, resp.text
    token = resp.json()
    assert token["instance_url"] == server.url
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session)


def test_certificate_is_verified_against_the_sandbox_ca(server: RunningServer, tls: TLSMaterial) -> None:
    assert server.url.startswith("https://127.0.0.1:") and server.ca_path == tls.ca_path
    stranger = requests.Session()
    stranger.trust_env = False
    with pytest.raises(requests.exceptions.SSLError):
        stranger.get(f"{server.url}/services/data/")
    assert tls.client_session().get(f"{server.url}/services/data/").status_code == 200


def test_query_all_pages_through_next_records_url(sf: Salesforce, org: Org) -> None:
    before = org.stats.snapshot()
    result = sf.query_all(
        "SELECT Id, Store_Id__c FROM Account WHERE BillingState = 'NV' ORDER BY Store_Id__c"
    )
    assert result["totalSize"] == 120
    assert [r["Store_Id__c"] for r in result["records"]] == [f"NV-{i:03d}" for i in range(120)]
    after = org.stats.snapshot()
    assert (after["query"] - before["query"], after["query_more"] - before["query_more"]) == (1, 2)


def test_single_upsert_creates_then_updates(sf: Salesforce, org: Org) -> None:
    assert sf.Task.upsert("Sync_Key__c/renewal:NV-001:90", {"Subject": "Renewal in 90 days"}) == 201
    assert sf.Task.upsert("Sync_Key__c/renewal:NV-001:90", {"Priority": "High"}) == 200
    (task,) = [t for t in org.records("Task") if t["Sync_Key__c"] == "renewal:NV-001:90"]
    assert (task["Subject"], task["Priority"]) == ("Renewal in 90 days", "High")


def test_collections_upsert_through_restful(sf: Salesforce, org: Org) -> None:
    account_id = sf.Account.get_by_custom_id("Store_Id__c", "NV-007")["Id"]
    results = sf.restful("composite/sobjects/Task/Sync_Key__c", method="PATCH", json={
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "Task"}, "Sync_Key__c": "menu:NV-007", "Subject": "Call the GM",
             "WhatId": account_id, "Priority": "High"},
            {"attributes": {"type": "Task"}, "Sync_Key__c": "bad:NV-007", "Subject": "x", "Status": "Someday"},
        ],
    })  # fmt: skip
    assert [(r["success"], r.get("created")) for r in results] == [(True, True), (False, None)]
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    created = org.get(results[0]["id"])
    assert created is not None and created["AccountId"] == account_id


def test_bulk2_upsert_and_failed_records(sf: Salesforce, org: Org) -> None:
    records = [
        {"Store_Id__c": f"AZ-{i:03d}", "Name": f"Arizona {i}", "BillingState": "AZ"} for i in range(30)
    ]
    records.append({"Store_Id__c": "AZ-BAD", "Name": "Bad", "BillingState": "AZ", "Health_Band__c": "Blue"})
    (job,) = sf.bulk2.Account.upsert(records=records, external_id_field="Store_Id__c", wait=0.01)
    assert (job["numberRecordsProcessed"], job["numberRecordsFailed"]) == (31, 1)
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_failed_records(job["job_id"]))))
    assert [(f["Store_Id__c"], f["sf__Error"].split(":")[0]) for f in failed] == [
        ("AZ-BAD", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    ]
    assert len(org.query("SELECT Id FROM Account WHERE BillingState = 'AZ'")) == 30


def test_describe_and_limits(sf: Salesforce, org: Org) -> None:
    fields = {f["name"]: f for f in sf.Account.describe()["fields"]}
    assert fields["Store_Id__c"]["externalId"] and fields["Store_Id__c"]["length"] == 64
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    assert limits["DailyApiRequests"]["Remaining"] == 100_000 - org.api_used
    assert sf.api_usage["api-usage"].used == org.api_used


def test_faults_set_over_http_reach_the_client(sf: Salesforce, server: RunningServer, tls: TLSMaterial,
                                               org: Org) -> None:  # fmt: skip
    control = tls.client_session()
    before = control.get(f"{server.url}/__sandbox/stats").json()
    assert control.post(f"{server.url}/__sandbox/faults", json={"unavailable_rate": 1.0}).status_code == 200
    try:
        with pytest.raises(SalesforceGeneralError) as caught:
            sf.query("SELECT Id FROM Account LIMIT 1")
        assert caught.value.status == 503
    finally:
        control.post(f"{server.url}/__sandbox/faults", json={})
    assert org.faults == Faults()
    after = control.get(f"{server.url}/__sandbox/stats").json()
    # The refused call was received (counted) but never reached the allowance.
    assert after["calls"]["query"] == before["calls"]["query"] + 1
    assert after["apiUsage"]["used"] == before["apiUsage"]["used"]
    assert after["records"]["Account"] >= 120


def test_stopping_frees_the_port(tls: TLSMaterial) -> None:
    running = serve(Org.from_metadata(), tls)
    url = running.url
    assert tls.client_session().get(f"{url}/services/data/").status_code == 200
    running.stop()
    with pytest.raises(requests.exceptions.ConnectionError):
        tls.client_session().get(f"{url}/services/data/", timeout=2)
