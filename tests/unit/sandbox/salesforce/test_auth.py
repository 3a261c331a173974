"""OAuth logins: JWT bearer and client credentials, answered in Salesforce's token format."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from simple_salesforce import Salesforce

from sandbox.salesforce import INTEGRATION_USERNAME, ConnectedApp, Org, OrgAdapter

from .conftest import BASE, NOW

TOKEN = f"{BASE}/services/oauth2/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    certificate_pem: str


def _key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csm-sync")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    return KeyPair(private.decode(), cert.public_bytes(serialization.Encoding.PEM).decode())


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return _key_pair()


@pytest.fixture
def app_org(keys: KeyPair) -> Org:
    org = Org.from_metadata(clock=lambda: NOW, connected_app=ConnectedApp(certificate=keys.certificate_pem))
    org.insert("User", {"LastName": "Ops", "Username": "ops@example.com", "Email": "ops@example.com"})
    org.insert("User", {"LastName": "Gone", "Username": "gone@example.com", "Email": "g@example.com",
                        "IsActive": False})  # fmt: skip
    return org


@pytest.fixture
def client(app_org: Org) -> requests.Session:
    session = requests.Session()
    session.mount(BASE, OrgAdapter(app_org))
    return session


def assertion(keys: KeyPair, **claims: Any) -> str:
    body = {
        "iss": "csm-sync-sandbox",
        "sub": "ops@example.com",
        "aud": BASE,
        "exp": int(NOW.timestamp()) + 120,
    }
    return jwt.encode(body | claims, keys.private_pem, algorithm="RS256")


def test_jwt_bearer_issues_a_working_session(client: requests.Session, keys: KeyPair, app_org: Org) -> None:
    resp = client.post(TOKEN, data={"grant_type": JWT_GRANT, "assertion": assertion(keys)})
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {
        "access_token",
        "scope",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    }
    assert body["instance_url"] == BASE and body["token_type"] == "Bearer"
    ops = app_org.query("SELECT Id FROM User WHERE Username = 'ops@example.com'")[0]["Id"]
    assert body["id"] == f"{BASE}/id/{app_org.org_id}/{ops}"
    assert body["issued_at"] == str(int(NOW.timestamp() * 1000))
    sf = Salesforce(instance_url=body["instance_url"], session_id=body["access_token"], session=client)
    created = sf.Account.create({"Name": "Made by ops"})
    assert app_org.get(created["id"])["CreatedById"] == ops  # type: ignore[index]
    assert app_org.stats.snapshot()["login"] == 1


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        ({"iss": "someone-else"}, "invalid_client_id", "client identifier invalid"),
        ({"aud": "https://evil.example"}, "invalid_grant", "audience is invalid"),
        ({"exp": int(NOW.timestamp()) - 1}, "invalid_grant", "expired authorization code"),
        (
            {"sub": "nobody@example.com"},
            "invalid_grant",
            "invalid assertion: no active user 'nobody@example.com'",
        ),
        (
            {"sub": "gone@example.com"},
            "invalid_grant",
            "invalid assertion: no active user 'gone@example.com'",
        ),
    ],
)
def test_jwt_bearer_refusals(client: requests.Session, keys: KeyPair, claims: dict[str, Any], error: str,
                             description: str) -> None:  # fmt: skip
    resp = client.post(TOKEN, data={"grant_type": JWT_GRANT, "assertion": assertion(keys, **claims)})
    assert resp.status_code == 400
    assert resp.json() == {"error": error, "error_description": description}


def test_jwt_signed_by_another_key_is_refused(client: requests.Session) -> None:
    resp = client.post(TOKEN, data={"grant_type": JWT_GRANT, "assertion": assertion(_key_pair())})
    assert resp.json()["error"] == "invalid_grant"
    assert "signature" in resp.json()["error_description"]


def test_standard_audiences_are_accepted(client: requests.Session, keys: KeyPair) -> None:
    for aud in ("https://login.salesforce.com", "https://test.salesforce.com"):
        resp = client.post(TOKEN, data={"grant_type": JWT_GRANT, "assertion": assertion(keys, aud=aud)})
        assert resp.status_code == 200


def test_simple_salesforce_jwt_flow_end_to_end(app_org: Org, keys: KeyPair) -> None:
    """simple-salesforce posts to https://test.salesforce.com, with `exp` as a string; the org answers."""
    session = requests.Session()
    session.mount("https://test.salesforce.com", OrgAdapter(app_org))
    sf = Salesforce(username="ops@example.com", consumer_key="csm-sync-sandbox", privatekey=keys.private_pem,
                    domain="test", session=session)  # fmt: skip
    assert sf.sf_instance == "test.salesforce.com"
    assert sf.query("SELECT Name FROM User WHERE Username = 'ops@example.com'")["records"][0]["Name"] == "Ops"


def test_client_credentials_by_basic_auth_and_by_form(client: requests.Session, app_org: Org) -> None:
    basic = client.post(
        TOKEN, data={"grant_type": "client_credentials"}, auth=("csm-sync-sandbox", "sandbox-secret")
    )
    form = client.post(TOKEN, data={"grant_type": "client_credentials", "client_id": "csm-sync-sandbox",
                                    "client_secret": "sandbox-secret"})  # fmt: skip
    assert basic.status_code == form.status_code == 200
    # Without a configured run-as user the integration user is used.
    assert basic.json()["id"].endswith(app_org.integration_user_id)
    wrong = client.post(TOKEN, data={"grant_type": "client_credentials"}, auth=("csm-sync-sandbox", "guess"))
    assert (wrong.status_code, wrong.json()) == (400, {"error": "invalid_client",
                                                       "error_description": "invalid client credentials"})  # fmt: skip


def test_client_credentials_through_simple_salesforce(app_org: Org) -> None:
    app_org.connected_app = ConnectedApp(run_as="ops@example.com")
    session = requests.Session()
    session.mount("https://acme.my.salesforce.com", OrgAdapter(app_org))
    sf = Salesforce(consumer_key="csm-sync-sandbox", consumer_secret="sandbox-secret", domain="acme.my",
                    session=session)  # fmt: skip
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] == 3


def test_client_credentials_without_a_run_as_user(client: requests.Session, app_org: Org) -> None:
    app_org.connected_app = ConnectedApp(run_as="gone@example.com")
    resp = client.post(
        TOKEN, data={"grant_type": "client_credentials"}, auth=("csm-sync-sandbox", "sandbox-secret")
    )
    assert resp.json() == {
        "error": "invalid_grant",
        "error_description": "no client credentials user enabled",
    }


def test_unknown_grant_and_missing_certificate(client: requests.Session, keys: KeyPair) -> None:
    resp = client.post(TOKEN, data={"grant_type": "password", "username": "u", "password": "p"})
    assert resp.json()["error"] == "unsupported_grant_type"
    bare = Org.from_metadata(clock=lambda: NOW)
    session = requests.Session()
    session.mount(BASE, OrgAdapter(bare))
    refused = session.post(
        TOKEN, data={"grant_type": JWT_GRANT, "assertion": assertion(keys, sub=INTEGRATION_USERNAME)}
    )
    assert refused.json()["error"] == "invalid_grant"


def test_api_calls_without_a_valid_token_get_401(client: requests.Session) -> None:
    resp = client.get(f"{BASE}/services/data/v59.0/limits", headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    assert resp.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert client.get(f"{BASE}/services/data/v59.0/limits").status_code == 401
