"""The one redaction step: every URL, exception and response excerpt passes here before it is logged,
stored or sent.

Two things are scrubbed. Known secret values (every credential resolved from the environment or a
secret file registers itself, as do the tokens fetched with them) are replaced wherever they occur, so
a library's error text that echoes a URL, a header or a request body cannot carry one out. And the
values of query-string or form parameters whose names say "credential" (`api_key=…`, `token=…`,
`X-Amz-Signature=…`) are replaced even when the value was never registered, so a vendor that signs
its links or an unknown key in a pasted URL is covered too. It lives in `connectors` (which imports
nothing of ours) so that connectors, jobs and the worker share it.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
# Shorter values are too likely to be ordinary words or numbers to replace everywhere.
MIN_SECRET_LENGTH = 6
# Tokens fetched at run time (OAuth access tokens, Treez tokens) are remembered up to this many: a
# long-running scheduler refreshes them for ever, configured secrets are kept without limit.
MAX_EPHEMERAL = 20_000

_SENSITIVE_NAME = (
    r"[A-Za-z0-9_.\-\[\]]*(?:key|token|secret|passw|pwd|signature|sig|auth|credential|session|sid)"
    r"[A-Za-z0-9_.\-\[\]]*"
)
# `name=value` in a query string, a form body or a header-like echo; the name must say credential.
_PARAM = re.compile(
    rf"(?i)(?P<name>(?<![A-Za-z0-9_]){_SENSITIVE_NAME})(?P<sep>=|%3D)(?P<value>[^&\s#'\"<>,;)]+)"
)
# `Authorization: Bearer …` / `Basic …` and JSON-ish `"access_token": "…"` echoes.
_AUTH_HEADER = re.compile(
    r"(?i)\b(?P<scheme>bearer|basic)\s+(?P<value>(?=[^\s'\",;)]*[0-9+/=._~!\-])[^\s'\",;)]{12,})"
)
_JSON_FIELD = re.compile(
    rf"""(?i)(?P<name>["']{_SENSITIVE_NAME}["']\s*:\s*)(?P<quote>["'])(?P<value>[^"']+)(?P=quote)"""
)
# Dict keys whose value is a credential whatever it looks like (a log event's `authorization=`).
_SENSITIVE_KEYS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "apikey",
    "private_key",
    "signature",
    "credential",
    "cookie",
)


class _Registry:
    """Known secret values, indexed by their first characters so a scan costs one lookup a position."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._static: set[str] = set()
        self._ephemeral: OrderedDict[str, None] = OrderedDict()
        self._index: dict[str, dict[int, set[str]]] = {}

    def add(self, values: Iterable[str], ephemeral: bool = False) -> None:
        with self._lock:
            for value in values:
                for part in _parts(value):
                    if part in self._static:
                        continue
                    if ephemeral:
                        if part not in self._ephemeral:
                            self._insert(part)
                        self._ephemeral[part] = None
                        self._ephemeral.move_to_end(part)
                    else:
                        if part not in self._ephemeral:
                            self._insert(part)
                        self._static.add(part)
                        self._ephemeral.pop(part, None)
            while len(self._ephemeral) > MAX_EPHEMERAL:
                old, _ = self._ephemeral.popitem(last=False)
                self._remove(old)

    def _insert(self, value: str) -> None:
        # Bucketed by length: many secrets may share a prefix (`tz_live_…`), few share a length.
        self._index.setdefault(value[:MIN_SECRET_LENGTH], {}).setdefault(len(value), set()).add(value)

    def _remove(self, value: str) -> None:
        key = value[:MIN_SECRET_LENGTH]
        bucket = self._index.get(key, {})
        same = bucket.get(len(value), set())
        same.discard(value)
        if not same:
            bucket.pop(len(value), None)
        if not bucket:
            self._index.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._static.clear()
            self._ephemeral.clear()
            self._index = {}

    def scrub(self, text: str) -> str:
        if not self._index or len(text) < MIN_SECRET_LENGTH:
            return text
        with self._lock:  # a token registered by another thread must not change the index mid-scan
            return self._scrub(text)

    def _scrub(self, text: str) -> str:
        index = self._index
        out: list[str] = []
        i = last = 0
        end = len(text) - MIN_SECRET_LENGTH + 1
        while i < end:
            found = index.get(text[i : i + MIN_SECRET_LENGTH])
            if found is not None:
                # Longest first, so a secret that contains another is replaced whole.
                lengths = sorted(found, reverse=True)
                hit = next((text[i : i + n] for n in lengths if text[i : i + n] in found[n]), None)
                if hit is not None:
                    out.append(text[last:i])
                    out.append(MASK)
                    i += len(hit)
                    last = i
                    continue
            i += 1
        if not out:
            return text
        out.append(text[last:])
        return "".join(out)


def _parts(value: str) -> list[str]:
    """A secret and the forms it may be echoed in: stripped, and each line of a multi-line one (a PEM key)."""
    value = value.strip() if isinstance(value, str) else ""
    if len(value) < MIN_SECRET_LENGTH:
        return []
    parts = [value]
    if "\n" in value:
        parts += [
            line.strip()
            for line in value.splitlines()
            if len(line.strip()) >= 16 and not line.strip().startswith("-----")
        ]
    return parts


_registry = _Registry()


def register(values: Iterable[str]) -> None:
    """Remember configured secret values (env or secret files): masked wherever they appear."""
    _registry.add(values)


def register_ephemeral(value: str) -> None:
    """Remember a token fetched at run time; the oldest are forgotten beyond MAX_EPHEMERAL."""
    _registry.add([value], ephemeral=True)


def forget_all() -> None:
    """For tests: start from no known secrets."""
    _registry.clear()


def text(value: str) -> str:
    """A message, URL or response excerpt with every known secret and credential-like parameter masked."""
    if not value:
        return value
    out = _registry.scrub(value)
    if "=" in out or "%3D" in out:
        out = _PARAM.sub(lambda m: f"{m['name']}{m['sep']}{MASK}", out)
    if ":" in out:
        out = _JSON_FIELD.sub(lambda m: f"{m['name']}{m['quote']}{MASK}{m['quote']}", out)
    out = _AUTH_HEADER.sub(lambda m: f"{m['scheme']} {MASK}", out)
    return out


def known(value: str) -> str:
    """Only the registered secret values masked: for data sent to Salesforce, where a URL's own
    parameters are content, not credentials."""
    return _registry.scrub(value) if value else value


def error(exc: BaseException, with_type: bool = True) -> str:
    """An exception as one redacted line: `Type: message` (or just the message)."""
    message = str(exc) or type(exc).__name__
    return text(f"{type(exc).__name__}: {message}" if with_type else message)


def is_sensitive_key(key: Any) -> bool:
    name = str(key).lower()
    return any(s in name for s in _SENSITIVE_KEYS)


def value(obj: Any) -> Any:
    """Any JSON-like value with its strings redacted and the values of credential-named keys masked."""
    if isinstance(obj, str):
        return text(obj)
    if isinstance(obj, Mapping):
        return {
            k: (MASK if is_sensitive_key(k) and v not in (None, "") else value(v)) for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [value(v) for v in obj]
    return obj
