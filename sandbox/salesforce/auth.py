"""OAuth 2.0 token grants (JWT bearer, client credentials) and the sessions they open."""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from sandbox.salesforce.errors import ApiError

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
STANDARD_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")


@dataclass(frozen=True)
class ConnectedApp:
    """The connected app the worker logs in through.

    `certificate` is the PEM of the X.509 certificate (or bare public key) uploaded for JWT bearer;
    without it JWT logins are refused. `run_as` is the username client-credentials logins act as
    (the org fills in its integration user when it is None).
    """

    consumer_key: str = "csm-sync-sandbox"
    consumer_secret: str = "sandbox-secret"  # noqa: S105 - a fixed credential of the local fake org
    certificate: str | None = None
    run_as: str | None = None


class OAuthError(Exception):
    """Rendered as Salesforce renders token errors: `{"error", "error_description"}`, HTTP 400."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


def grant(
    app: ConnectedApp,
    form: Mapping[str, str],
    authorization: str | None,
    *,
    login_url: str,
    now: float,
    active_user: Callable[[str], str | None],
) -> str:
    """The id of the user a token request authenticates, or OAuthError.

    Error descriptions name the actual cause, which is more than Salesforce says; the error codes
    match Salesforce's.
    """
    grant_type = form.get("grant_type", "")
    if grant_type == JWT_GRANT:
        return _jwt_bearer(
            app, form.get("assertion", ""), login_url=login_url, now=now, active_user=active_user
        )
    if grant_type == "client_credentials":
        client_id, client_secret = _client(form, authorization)
        if client_id != app.consumer_key or not secrets.compare_digest(client_secret, app.consumer_secret):
            raise OAuthError("invalid_client", "invalid client credentials")
        user = active_user(app.run_as) if app.run_as else None
        if user is None:
            raise OAuthError("invalid_grant", "no client credentials user enabled")
        return user
    raise OAuthError("unsupported_grant_type", "grant type not supported")


def _client(form: Mapping[str, str], authorization: str | None) -> tuple[str, str]:
    if authorization and authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip()).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError("invalid_client", "invalid client credentials") from exc
        client_id, _, client_secret = decoded.partition(":")
        return client_id, client_secret
    return form.get("client_id", ""), form.get("client_secret", "")


def _public_key(pem: str) -> RSAPublicKey:
    data = pem.encode()
    key = (
        x509.load_pem_x509_certificate(data).public_key()
        if b"BEGIN CERTIFICATE" in data
        else load_pem_public_key(data)
    )
    if not isinstance(key, RSAPublicKey):
        raise OAuthError("invalid_grant", "invalid assertion: the app's certificate is not an RSA key")
    return key


def _jwt_bearer(
    app: ConnectedApp, assertion: str, *, login_url: str, now: float, active_user: Callable[[str], str | None]
) -> str:
    if app.certificate is None:
        raise OAuthError("invalid_grant", "invalid assertion: the connected app has no certificate")
    try:
        claims = jwt.decode(
            assertion,
            _public_key(app.certificate),
            algorithms=["RS256"],
            # Expiry and audience are checked below against the org's own clock and URLs.
            options={"verify_exp": False, "verify_aud": False, "require": ["iss", "sub", "aud", "exp"]},
        )
    except jwt.InvalidSignatureError as exc:
        raise OAuthError("invalid_grant", "invalid assertion: signature does not verify") from exc
    except jwt.PyJWTError as exc:
        raise OAuthError("invalid_grant", f"invalid assertion: {exc}") from exc
    if claims["iss"] != app.consumer_key:
        raise OAuthError("invalid_client_id", "client identifier invalid")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    accepted = {login_url.rstrip("/"), *STANDARD_AUDIENCES}
    if not any(isinstance(a, str) and a.rstrip("/") in accepted for a in audiences):
        raise OAuthError("invalid_grant", "audience is invalid")
    try:
        # simple-salesforce sends `exp` as a string of digits, and Salesforce accepts it.
        expires = float(claims["exp"])
    except (TypeError, ValueError) as exc:
        raise OAuthError("invalid_grant", "invalid assertion: exp is not a timestamp") from exc
    if expires <= now:
        raise OAuthError("invalid_grant", "expired authorization code")
    user = active_user(str(claims["sub"]))
    if user is None:
        raise OAuthError("invalid_grant", f"invalid assertion: no active user {claims['sub']!r}")
    return user


@dataclass
class _Session:
    user_id: str
    calls: int = 0


class Sessions:
    """Open access tokens; Salesforce's token response has no expiry, so a 401 is the only signal."""

    def __init__(self, org_id: str) -> None:
        self._org_id = org_id
        self._lock = threading.Lock()
        self._open: dict[str, _Session] = {}
        # Every access token handed out (the last 10,000): a test scans outputs for them.
        self.issued: deque[str] = deque(maxlen=10_000)

    def issue(self, user_id: str) -> str:
        token = f"{self._org_id[:15]}!AQ{secrets.token_urlsafe(72)}"
        with self._lock:
            self.issued.append(token)
            self._open[token] = _Session(user_id)
        return token

    def authenticate(self, authorization: str | None, expiry_after: int | None) -> str:
        """The session's user id, counting the call; raises 401 INVALID_SESSION_ID otherwise."""
        token = ""
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() in ("bearer", "oauth"):
                token = value.strip()
        with self._lock:
            session = self._open.get(token)
            if session is not None and expiry_after is not None and session.calls >= expiry_after:
                del self._open[token]
                session = None
            if session is None:
                raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            session.calls += 1
            return session.user_id

    def expire_all(self) -> None:
        with self._lock:
            self._open.clear()
