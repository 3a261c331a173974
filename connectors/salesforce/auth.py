"""OAuth 2.0 logins we own (JWT bearer, client credentials) against any login URL, sandbox included."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlparse

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

KEY_FIX = (
    "point it at the connected app's unencrypted RSA private key in PEM form "
    "(-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----), the key of the certificate "
    "uploaded to the app"
)
MIN_KEY_BITS = 2048


class AuthError(Exception):
    """Salesforce refused the login: bad key, unapproved app, unknown user. Not retried."""


class SigningKeyError(ValueError):
    """The JWT signing key cannot sign: a configuration error (exit 2), never a login attempt.

    The message says what is wrong with the key and never quotes it."""


def check_signing_key(pem: str) -> rsa.RSAPrivateKey:
    """The PEM text as an RSA private key fit for RS256, or SigningKeyError saying why not."""
    text = pem.strip()
    if "-----BEGIN" not in text:
        raise SigningKeyError("is not PEM (no -----BEGIN line)")
    if "CERTIFICATE-----" in text and "PRIVATE KEY-----" not in text:
        raise SigningKeyError("is a certificate, not its private key")
    if "ENCRYPTED PRIVATE KEY-----" in text or "Proc-Type: 4,ENCRYPTED" in text:
        raise SigningKeyError("is encrypted with a passphrase; csm-sync needs it unencrypted")
    try:
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as exc:
        reason = str(exc).split(".")[0] or type(exc).__name__
        raise SigningKeyError(f"cannot be read as a private key ({reason})") from None
    except Exception as exc:  # cryptography's UnsupportedAlgorithm and kin
        raise SigningKeyError(f"cannot be read as a private key ({type(exc).__name__})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise SigningKeyError(f"is a {type(key).__name__.removesuffix('PrivateKey')} key; RS256 needs RSA")
    if key.key_size < MIN_KEY_BITS:
        raise SigningKeyError(f"is a {key.key_size}-bit RSA key; Salesforce needs at least {MIN_KEY_BITS}")
    return key


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
        key = check_signing_key(self.private_key.get_secret_value())
        try:
            assertion = jwt.encode(claims, key, algorithm="RS256")
        except (jwt.InvalidKeyError, ValueError, TypeError) as exc:
            raise SigningKeyError(f"cannot sign the JWT ({type(exc).__name__})") from None
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
