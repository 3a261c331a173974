"""Source configuration: frozen `[[sources]]` models; secrets come from env or files, never literals."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from configfiles import read_toml
from connectors import redact
from connectors.bounds import Limits
from connectors.paging import PaginationConfig

AuthKind = Literal[
    "none", "api_key_header", "api_key_query", "bearer", "basic", "oauth2_client_credentials", "treez_token"
]
SECRET_NAMES = ("username", "password", "key", "token", "client_secret", "partner_key")
# The secret a per-store secrets file entry stands for when it is a plain string.
_PRIMARY_SECRET: dict[str, str] = {
    "api_key_header": "key",
    "api_key_query": "key",
    "bearer": "token",
    "basic": "username",
    "oauth2_client_credentials": "client_secret",
    "treez_token": "key",
}
_LITERAL_SECRETS = ("password", "key", "token", "client_secret", "api_key", "apikey", "secret", "partner_key")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


class SecretError(ValueError):
    """A secret that cannot be resolved; the message names the key and where it was looked for."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def resolve_secret(
    value_env: str, value_file: str, env: Mapping[str, str] = os.environ, *, name: str = "secret"
) -> str:
    """The secret from an environment variable or a file (stripped); errors name the config key."""
    if value_env and value_file:
        raise SecretError(f"{name}: set either {name}_env or {name}_file, not both")
    if value_env:
        value = env.get(value_env, "")
        if not value:
            raise SecretError(f"{name}: environment variable {value_env} is not set ({name}_env)")
        redact.register([value])
        return value
    if value_file:
        path = Path(value_file)
        try:
            value = path.read_text().strip()
        except FileNotFoundError:
            raise SecretError(f"{name}: secret file {value_file} does not exist ({name}_file)") from None
        except OSError as exc:
            raise SecretError(f"{name}: cannot read secret file {value_file}: {exc.strerror}") from None
        if not value:
            raise SecretError(f"{name}: secret file {value_file} is empty ({name}_file)")
        redact.register([value])
        return value
    raise SecretError(f"{name}: not configured; set {name}_env or {name}_file")


class AuthConfig(_Model):
    """How a source authenticates. Secrets are referenced as `<name>_env` / `<name>_file`, never written.

    `per_store_file` is a JSON or TOML file mapping store id → secret (the kind's main secret: the
    Basic username for a Dutchie location key, the API key, the token) or → a table of named secrets.
    """

    kind: AuthKind = "none"
    header: str = "X-Api-Key"  # api_key_header
    # api_key_header: a second header for the integrator's own key beside the location's (BLAZE
    # `partner_key`, Flowhub `clientId`), its value from partner_key_env/_file or the per-store table
    partner_header: str = ""
    partner_key_env: str = ""
    partner_key_file: str = ""
    param: str = "api_key"  # api_key_query
    token_url: str = ""  # oauth2 / treez_token: absolute, or a path on base_url (templated with store attrs)
    scope: str = ""
    client_id: str = ""  # a public identifier, not a secret
    client_id_env: str = ""
    username_env: str = ""
    username_file: str = ""
    password_env: str = ""
    password_file: str = ""
    key_env: str = ""
    key_file: str = ""
    token_env: str = ""
    token_file: str = ""
    client_secret_env: str = ""
    client_secret_file: str = ""
    per_store_file: str = ""

    @model_validator(mode="before")
    @classmethod
    def _no_literal_secrets(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key in _LITERAL_SECRETS:
                if key in data:
                    raise ValueError(
                        f"{key}: secrets may not be written in the config file; "
                        f'use {key}_env = "VARIABLE" or {key}_file = "/run/secrets/..."'
                    )
        return data

    def has(self, name: str) -> bool:
        return bool(getattr(self, f"{name}_env", "") or getattr(self, f"{name}_file", ""))

    def primary_secret(self) -> str:
        return _PRIMARY_SECRET.get(self.kind, "key")

    def secret(self, name: str, store_id: str = "", env: Mapping[str, str] = os.environ) -> str:
        """One named secret for a store: the per-store file's entry first, then `<name>_env`/`_file`."""
        if self.per_store_file and store_id:
            entry = per_store_secrets(self.per_store_file).get(store_id)
            if isinstance(entry, str) and name == self.primary_secret():
                return entry
            if isinstance(entry, Mapping) and isinstance(entry.get(name), str) and entry[name]:
                return str(entry[name])
            if not self.has(name) and name == self.primary_secret():
                raise SecretError(f"auth.{name}: store {store_id} has no entry in {self.per_store_file}")
        return resolve_secret(
            getattr(self, f"{name}_env", ""), getattr(self, f"{name}_file", ""), env, name=f"auth.{name}"
        )

    def optional_secret(self, name: str, store_id: str = "", env: Mapping[str, str] = os.environ) -> str:
        """A secret that may be absent (e.g. the Dutchie integrator key): "" when not configured."""
        configured = self.has(name) or (bool(self.per_store_file) and store_id != "")
        if not configured:
            return ""
        try:
            return self.secret(name, store_id, env)
        except SecretError:
            if self.has(name):
                raise
            return ""

    def resolved_client_id(self, env: Mapping[str, str] = os.environ, store_id: str = "") -> str:
        """The client id: a store's own (`client_id` in its per-store entry) before the source's."""
        if self.per_store_file and store_id:
            entry = per_store_secrets(self.per_store_file).get(store_id)
            if isinstance(entry, Mapping) and isinstance(entry.get("client_id"), str) and entry["client_id"]:
                return str(entry["client_id"])
        if self.client_id:
            return self.client_id
        if self.client_id_env:
            return resolve_secret(self.client_id_env, "", env, name="auth.client_id")
        return ""

    def problems(self, env: Mapping[str, str]) -> list[str]:
        """Secrets that would fail to resolve, checked at validate time rather than mid-pull."""
        needed: dict[str, tuple[str, ...]] = {
            "api_key_header": ("key",),
            "api_key_query": ("key",),
            "bearer": ("token",),
            "basic": ("username",),
            "oauth2_client_credentials": ("client_secret",),
            "treez_token": ("key",),
        }
        out: list[str] = []
        if self.per_store_file:
            try:
                per_store_secrets(self.per_store_file)
            except SecretError as exc:
                out.append(str(exc))
        for name in needed.get(self.kind, ()):
            if self.per_store_file and name == self.primary_secret() and not self.has(name):
                continue
            try:
                resolve_secret(
                    getattr(self, f"{name}_env"), getattr(self, f"{name}_file"), env, name=f"auth.{name}"
                )
            except SecretError as exc:
                out.append(str(exc))
        for name in SECRET_NAMES:
            if self.has(name) and name not in needed.get(self.kind, ()):
                try:
                    resolve_secret(
                        getattr(self, f"{name}_env"), getattr(self, f"{name}_file"), env, name=f"auth.{name}"
                    )
                except SecretError as exc:
                    out.append(str(exc))
        if self.partner_header and not self.per_store_file and not self.has("partner_key"):
            out.append(
                f"auth.partner_key: the {self.partner_header!r} header needs a value; "
                'set partner_key_env = "VARIABLE" or partner_key_file = "/run/secrets/..."'
            )
        if self.kind in ("oauth2_client_credentials", "treez_token") and not (
            self.client_id or self.client_id_env or self.per_store_file
        ):
            out.append("auth.client_id: required for auth kind " + self.kind)
        return out


_SECRETS_CACHE: dict[tuple[str, float], Mapping[str, Any]] = {}
_SECRETS_LOCK = threading.Lock()


def per_store_secrets(path: str) -> Mapping[str, Any]:
    """The per-store secrets file (JSON or TOML, store id → secret), re-read when it changes."""
    file = Path(path)
    try:
        mtime = file.stat().st_mtime
    except OSError:
        raise SecretError(f"auth.per_store_file: secrets file {path} does not exist") from None
    with _SECRETS_LOCK:
        cached = _SECRETS_CACHE.get((path, mtime))
        if cached is not None:
            return cached
        data: Any
        if file.suffix == ".toml":
            data, issues = read_toml(file, path)
            if issues:  # line, column and fix: never the file's text, which holds secrets
                raise SecretError(f"auth.per_store_file: {issues[0]}")
        else:
            try:
                data = json.loads(file.read_text())
            except ValueError as exc:
                raise SecretError(f"auth.per_store_file: {path} is not valid JSON: {exc}") from None
        if not isinstance(data, Mapping):
            raise SecretError(f"auth.per_store_file: {path} must map store ids to secrets")
        redact.register(_leaves(data))
        _SECRETS_CACHE[(path, mtime)] = data
        return data


def check_ca_bundle(path: str) -> str:
    """An extra CA bundle must be a readable file of PEM certificates; else a config error saying which."""
    if not path:
        return path
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"CA bundle {path} does not exist")
    try:
        data = file.read_bytes()
        certificates = x509.load_pem_x509_certificates(data)
    except OSError as exc:
        raise ValueError(f"CA bundle {path} cannot be read: {exc.strerror}") from None
    except ValueError:
        certificates = []
    if not certificates:
        raise ValueError(
            f"CA bundle {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----); "
            "point it at the CA certificates that signed the server's certificate"
        )
    return path


def _leaves(data: Any) -> list[str]:
    """Every text value of a secrets file, however nested: each is masked wherever it is echoed."""
    if isinstance(data, str):
        return [data]
    if isinstance(data, Mapping):
        return [leaf for v in data.values() for leaf in _leaves(v)]
    if isinstance(data, list):
        return [leaf for v in data for leaf in _leaves(v)]
    return []


class SourceConfig(_Model):
    """One `[[sources]]` entry. Kind-specific settings go under `options`, validated by the kind."""

    name: str
    kind: str
    enabled: bool = True
    base_url: str = ""
    auth: AuthConfig = AuthConfig()
    pagination: PaginationConfig | None = None  # rest: overrides the spec's default paging
    concurrency: Annotated[int, Field(ge=1, le=64)] = 4  # stores pulled in parallel
    rate_limit_per_minute: Annotated[float, Field(ge=0)] = (
        0.0  # requests per minute for the source; 0 = no cap
    )
    lookback_minutes: Annotated[int, Field(ge=0, le=60 * 24 * 31)] = 60  # re-read before the cursor
    timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    ca_bundle: str = ""  # extra CA bundle path; TLS verification is never off
    retry_max_seconds: Annotated[float, Field(ge=0, le=3600)] = 120.0  # give up on a call after this long
    retry_max_attempts: Annotated[int, Field(ge=1, le=50)] = 6
    history_days: Annotated[int, Field(ge=1, le=730)] = 120  # first pull / full refresh reaches back this far
    stores: tuple[str, ...] = ()  # only these store ids (default: every store the source serves)
    # Also count this source's freshness under another name: two POS vendors, each serving some
    # stores, both stand for the `pos` the mapping files require fresh.
    freshness_as: str = ""
    limits: Limits = Limits()  # caps on what the source may send (field lengths, page and response sizes)
    options: dict[str, Any] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"{value!r} must be lower-case letters, digits and _ (it keys stored data)")
        return value

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL")
        if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
            raise ValueError(f"{value!r}: use https (plain http is allowed only for localhost)")
        return value.rstrip("/")

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: str) -> str:
        return check_ca_bundle(value)
