"""OAuth 2.0 logins we own (JWT bearer, client credentials) against any login URL, sandbox included."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

import jwt
import requests
from pydantic import SecretStr


class AuthError(Exception):
    """Salesforce refused the login: bad key, unapproved app, unknown user. Not retried."""


@dataclass(frozen=True)
class Token:
    access_token: SecretStr
    instance_url: str


class Authenticator(Protocol):
    def login(self, session: requests.Session, timeout: float) -> Token: ...


def default_audience(login_url: str) -> str:
    """Salesforce wants login.salesforce.com as `aud` for production and My Domain, test.* for sandboxes."""
    host = urlparse(login_url).hostname or ""
    if host == "test.salesforce.com" or ".sandbox.my.salesforce.com" in host:
        return "https://test.salesforce.com"
    if host.endswith("salesforce.com"):
        return "https://login.salesforce.com"
    return login_url.rstrip("/")


@dataclass(frozen=True)
class JwtBearer:
    """The server-to-server flow: a JWT signed with the connected app's certificate key."""

    login_url: str
    client_id: str
    username: str
    private_key: SecretStr
    audience: str = ""
    clock: Callable[[], float] = time.time

    def login(self, session: requests.Session, timeout: float) -> Token:
        claims = {
            "iss": self.client_id,
            "sub": self.username,
            "aud": self.audience or default_audience(self.login_url),
            "exp": int(self.clock()) + 180,
        }
        assertion = jwt.encode(claims, self.private_key.get_secret_value(), algorithm="RS256")
        return _token(
            session,
            self.login_url,
            {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
            timeout,
        )


@dataclass(frozen=True)
class ClientCredentials:
    """The client-credentials flow (needs a My Domain login URL and a run-as user on the app)."""

    login_url: str
    client_id: str
    client_secret: SecretStr

    def login(self, session: requests.Session, timeout: float) -> Token:
        return _token(
            session,
            self.login_url,
            {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret.get_secret_value(),
            },
            timeout,
        )


def _token(session: requests.Session, login_url: str, form: dict[str, str], timeout: float) -> Token:
    url = login_url.rstrip("/") + "/services/oauth2/token"
    resp = session.post(url, data=form, timeout=timeout)
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if resp.status_code != 200 or "access_token" not in body:
        error = body.get("error", f"HTTP {resp.status_code}")
        detail = body.get("error_description", resp.text[:200] if not body else "")
        raise AuthError(f"Salesforce login at {url} failed: {error}: {detail}")
    return Token(SecretStr(body["access_token"]), body["instance_url"])
