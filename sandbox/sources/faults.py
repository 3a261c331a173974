"""Fault knobs per source system (latency, 429s, 5xx, broken bodies per store) and request counters."""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

SYSTEMS: tuple[str, ...] = ("dutchie", "treez", "metrc", "platform", "billing", "support", "nps", "images")

_STORE_SETS = ("html_stores", "truncated_stores", "malformed_stores")


@dataclass
class Faults:
    """What one system does wrong. Every knob is off by default; change them at runtime."""

    latency_ms: float = 0.0  # added to every request
    rate_limit_every: int = 0  # every Nth request answers 429 with Retry-After (0: never)
    retry_after: int = 1  # seconds, on those 429s
    error_rate: float = 0.0  # share of requests answering 503 (seeded, so runs repeat)
    # share of requests answering 500 with the request echoed back (URL, headers, form), as a
    # misconfigured debug page does: what a client logs of that body must not carry its credentials
    echo_rate: float = 0.0
    html_stores: set[str] = field(default_factory=set)  # 200 text/html maintenance page instead of JSON
    truncated_stores: set[str] = field(default_factory=set)  # JSON body cut in half
    malformed_stores: set[str] = field(default_factory=set)  # bad records sprinkled among good ones
    token_ttl_seconds: float | None = None  # Treez/platform: lifetime of new tokens (None: the API's own)
    per_store_per_minute: int = (
        0  # requests one store's credentials may make per rolling minute (0: no limit)
    )

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply a partial change (from JSON); unknown knobs and wrong types are refused whole."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(
                f"unknown fault knob(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        staged: dict[str, Any] = {}
        for name, value in changes.items():
            if name in _STORE_SETS:
                if not isinstance(value, list | tuple | set) or not all(isinstance(v, str) for v in value):
                    raise ValueError(f"{name} must be a list of store ids")
                staged[name] = set(value)
            elif name == "token_ttl_seconds":
                if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                    raise ValueError(f"{name} must be a number or null")
                staged[name] = value
            elif name in ("rate_limit_every", "retry_after", "per_store_per_minute"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{name} must be a non-negative integer")
                staged[name] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{name} must be a non-negative number")
                if name in ("error_rate", "echo_rate") and value > 1:
                    raise ValueError(f"{name} must be between 0 and 1")
                staged[name] = float(value)
        for name, value in staged.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = sorted(value) if isinstance(value, set) else value
        return out


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the fault layer answers itself, before the API sees it."""

    status: int
    headers: dict[str, str]
    body: dict[str, Any]


class FaultBoard:
    """The knobs of every system plus request counters; safe to use from the server's threads."""

    def __init__(self, seed: int = 0, sleep: Callable[[float], None] = time.sleep) -> None:
        self._seed = seed
        self._sleep = sleep
        self._lock = threading.Lock()
        self.faults: dict[str, Faults] = {s: Faults() for s in SYSTEMS}
        self._rng = {s: random.Random(f"{seed}|faults|{s}") for s in SYSTEMS}
        self._requests: Counter[str] = Counter()
        self._statuses: dict[str, Counter[str]] = {s: Counter() for s in SYSTEMS}
        self._recent: dict[tuple[str, str], deque[float]] = {}

    def __getitem__(self, system: str) -> Faults:
        return self.faults[system]

    def set(self, system: str, **changes: Any) -> Faults:
        """Change knobs of one system, or of all with system "*"."""
        targets = SYSTEMS if system == "*" else (system,)
        for name in targets:
            if name not in self.faults:
                raise ValueError(f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
        with self._lock:
            for name in targets:
                self.faults[name].update(changes)
        return self.faults[targets[0]]

    def apply_json(self, payload: Any) -> None:
        """`{"reset": true, "dutchie": {...}, "*": {...}}`: validated before anything changes."""
        if not isinstance(payload, dict):
            raise ValueError('expected a JSON object like {"dutchie": {"latency_ms": 50}}')
        unknown = sorted(set(payload) - {*SYSTEMS, "*", "reset"})
        if unknown:
            raise ValueError(f"unknown system(s): {', '.join(unknown)}; known: {', '.join(SYSTEMS)}, *")
        for name, changes in payload.items():
            if name != "reset":
                if not isinstance(changes, dict):
                    raise ValueError(f"{name}: expected an object of knobs")
                Faults().update(changes)  # dry run: refuse the whole request on any bad knob
        if payload.get("reset"):
            self.reset()
        for name in ("*", *SYSTEMS):
            if name in payload:
                self.set(name, **payload[name])

    def reset(self) -> None:
        with self._lock:
            self.faults = {s: Faults() for s in SYSTEMS}
            self._rng = {s: random.Random(f"{self._seed}|faults|{s}") for s in SYSTEMS}
            self._recent.clear()

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return {s: f.as_dict() for s, f in self.faults.items()}

    # --- per request ------------------------------------------------------------------------
    def admit(self, system: str, echo: Callable[[], dict[str, Any]] | None = None) -> Refusal | None:
        """Count the request, wait out the latency, and decide whether it is refused.

        `echo` gives what an `echo_rate` 500 repeats of the request."""
        with self._lock:
            self._requests[system] += 1
            count = self._requests[system]
            faults = self.faults[system]
            fail = faults.error_rate > 0 and self._rng[system].random() < faults.error_rate
            echoes = faults.echo_rate > 0 and self._rng[system].random() < faults.echo_rate
            latency, every, retry_after = faults.latency_ms, faults.rate_limit_every, faults.retry_after
        if latency:
            self._sleep(latency / 1000)
        if every and count % every == 0:
            return Refusal(
                429,
                {"Retry-After": str(retry_after)},
                {"error": "rate_limited", "message": "Too many requests"},
            )
        if fail:
            return Refusal(503, {}, {"error": "unavailable", "message": "Service temporarily unavailable"})
        if echoes:
            request = echo() if echo is not None else {}
            return Refusal(
                500, {}, {"error": "internal", "message": "unhandled exception", "request": request}
            )
        return None

    def over_budget(self, system: str, store_id: str, now: float) -> int | None:
        """Seconds to wait when `store_id` has used its requests of the last minute, else None (and count)."""
        limit = self.faults[system].per_store_per_minute
        if not limit:
            return None
        with self._lock:
            recent = self._recent.setdefault((system, store_id), deque())
            while recent and recent[0] <= now - 60:
                recent.popleft()
            if len(recent) >= limit:
                return max(1, math.ceil(recent[0] + 60 - now))
            recent.append(now)
            return None

    def record(self, system: str, status: int) -> None:
        with self._lock:
            self._statuses[system][str(status)] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": {s: self._requests[s] for s in SYSTEMS},
                "total": sum(self._requests.values()),
                "statuses": {s: dict(sorted(c.items())) for s, c in self._statuses.items() if c},
            }

    def reset_stats(self) -> None:
        with self._lock:
            self._requests.clear()
            for counter in self._statuses.values():
                counter.clear()


HTML_PAGE = (
    "<!DOCTYPE html><html><head><title>Service maintenance</title></head><body>"
    "<h1>We'll be right back</h1><p>The reporting service is undergoing maintenance.</p></body></html>"
)

_ID_KEYS = ("transactionId", "ticket_id", "productId", "product_id", "inventoryId", "Id", "id")
_TOTAL_KEYS = (
    "total",
    "TotalPrice",
    "amount",
    "revenue",
    "score",
    "sessions",
    "quantityAvailable",
    "sellable_quantity",
    "price",
    "recPrice",
    "logins",
    "stock",
)


def sprinkle_malformed(records: list[Any]) -> None:
    """Spoil every 7th record in place, rotating through a missing id, a negative total, a wrong type."""
    for index in range(3, len(records), 7):
        record = records[index]
        if not isinstance(record, dict):
            continue
        spoiled = dict(record)
        kind = (index // 7) % 3
        id_key = next((k for k in _ID_KEYS if k in spoiled), None)
        total_key = next((k for k in _TOTAL_KEYS if isinstance(spoiled.get(k), int | float)), None)
        if kind == 0 and id_key:
            del spoiled[id_key]
        elif kind == 1 and total_key:
            spoiled[total_key] = -abs(spoiled[total_key]) - 1
        elif total_key:
            spoiled[total_key] = "n/a"
        elif id_key:
            del spoiled[id_key]
        records[index] = spoiled


def truncate(body: bytes) -> bytes:
    return body[: max(1, len(body) // 2)]


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
