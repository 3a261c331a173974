"""Fault knobs per source system (latency, 429s, 5xx, broken bodies per store) and request counters."""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

SYSTEMS: tuple[str, ...] = (
    "dutchie",
    "treez",
    "flowhub",
    "blaze",
    "metrc",
    "platform",
    "billing",
    "support",
    "nps",
    "images",
)

_STORE_SETS = ("html_stores", "truncated_stores", "malformed_stores")
# What a vendor's bad day does to one record (`mutate_rate`, `mutate_kinds`): sizes, types, ranges,
# encodings. Whole-body damage (truncation, HTML) has its own knobs.
MUTATIONS: tuple[str, ...] = (
    "huge_string",  # a text field or id of `mutate_bytes` characters
    "huge_id",  # an id of 10^40
    "negative_id",
    "huge_number",  # 1e40, 1e308 or -1e40
    "non_finite",  # NaN or Infinity (the JSON tokens Python and JavaScript emit)
    "wrong_type",  # a string for a number, an object for a string, a boolean for an id…
    "lone_surrogate",  # "\ud800" inside a string
    "nul_char",  # "\u0000" inside a string
    "deep_nesting",  # a field nested 100 lists deep
    "missing_field",
    "null_field",
    "future_time",  # a time field in the year 9999
    "huge_list",  # a field holding a list of 100,000 numbers
)


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
    mutate_rate: float = 0.0  # share of served records mutated (seeded), for every store and feed
    mutate_kinds: set[str] = field(default_factory=set)  # which MUTATIONS (empty: all of them)
    mutate_bytes: int = 1_000_000  # size of a `huge_string`

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
            elif name == "mutate_kinds":
                if not isinstance(value, list | tuple | set) or not set(value) <= set(MUTATIONS):
                    raise ValueError(f"{name} must be a list of: {', '.join(MUTATIONS)}")
                staged[name] = set(value)
            elif name == "token_ttl_seconds":
                if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
                    raise ValueError(f"{name} must be a number or null")
                staged[name] = value
            elif name in ("rate_limit_every", "retry_after", "per_store_per_minute", "mutate_bytes"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{name} must be a non-negative integer")
                staged[name] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ValueError(f"{name} must be a non-negative number")
                if name in ("error_rate", "echo_rate", "mutate_rate") and value > 1:
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
        self._mutation_rng = {s: random.Random(f"{seed}|mutations|{s}") for s in SYSTEMS}
        self._served: Counter[str] = Counter()  # records served per system
        self._served_at: Counter[str] = Counter()  # and per `system.endpoint`
        self._mutated: dict[str, Counter[str]] = {s: Counter() for s in SYSTEMS}  # per system and kind

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
            self._mutation_rng = {s: random.Random(f"{self._seed}|mutations|{s}") for s in SYSTEMS}
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

    def mutate(self, system: str, records: list[Any], endpoint: str = "") -> None:
        """Count the records served and mutate a seeded share of them in place."""
        with self._lock:
            self._served[system] += len(records)
            self._served_at[f"{system}.{endpoint}"] += len(records)
            faults = self.faults[system]
            if not faults.mutate_rate:
                return
            rng = self._mutation_rng[system]
            kinds = sorted(faults.mutate_kinds) or list(MUTATIONS)
            for index, record in enumerate(records):
                if isinstance(record, dict) and rng.random() < faults.mutate_rate:
                    kind = rng.choice(kinds)
                    records[index] = mutate_record(record, kind, rng, faults.mutate_bytes)
                    self._mutated[system][kind] += 1

    def record(self, system: str, status: int) -> None:
        with self._lock:
            self._statuses[system][str(status)] += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": {s: self._requests[s] for s in SYSTEMS},
                "total": sum(self._requests.values()),
                "statuses": {s: dict(sorted(c.items())) for s, c in self._statuses.items() if c},
                "served_records": {s: self._served[s] for s in SYSTEMS if self._served[s]},
                "served_by_endpoint": dict(sorted(self._served_at.items())),
                "mutated_records": {s: dict(sorted(c.items())) for s, c in self._mutated.items() if c},
            }

    def reset_stats(self) -> None:
        with self._lock:
            self._requests.clear()
            self._served.clear()
            self._served_at.clear()
            for counter in (*self._statuses.values(), *self._mutated.values()):
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


_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _targets(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record and the objects nested in it (a sale's lines), where a mutation may land."""
    out = [record]
    for value in record.values():
        if isinstance(value, dict):
            out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value[:5] if isinstance(v, dict))
    return out


def mutate_record(record: dict[str, Any], kind: str, rng: random.Random, size: int) -> dict[str, Any]:
    """A copy of `record` with one field spoiled as `kind` says (a record without such a field gets a
    spoiled field of its own, so every mutation reaches the client)."""
    spoiled: dict[str, Any] = json.loads(json.dumps(record))
    target = spoiled if rng.random() < 0.7 else rng.choice(_targets(spoiled))
    keys = sorted(target)
    ids = [k for k in keys if k in _ID_KEYS or k.lower().endswith("id")]
    strings = [k for k in keys if isinstance(target[k], str)]
    numbers = [k for k in keys if isinstance(target[k], int | float) and not isinstance(target[k], bool)]
    times = [k for k in strings if _TIME.match(target[k])]

    def pick(*pools: list[str]) -> str:
        for pool in pools:
            if pool:
                return rng.choice(pool)
        return rng.choice(keys) if keys else "mutated"

    if kind == "huge_string":
        target[pick(strings, ids)] = "x" * size
    elif kind == "huge_id":
        target[pick(ids)] = 10**40
    elif kind == "negative_id":
        target[pick(ids)] = -7
    elif kind == "huge_number":
        target[pick(numbers)] = rng.choice((1e40, 1e308, -1e40))
    elif kind == "non_finite":
        target[pick(numbers)] = rng.choice((math.nan, math.inf, -math.inf))
    elif kind == "wrong_type":
        name = pick(keys)
        target[name] = rng.choice(("n/a", True, {"nested": [1]}, [1, 2], 12.5))
    elif kind == "lone_surrogate":
        name = pick(strings)
        target[name] = f"{target.get(name) or ''}\ud800"
    elif kind == "nul_char":
        name = pick(strings)
        target[name] = f"{target.get(name) or ''}\x00"
    elif kind == "deep_nesting":
        nested: Any = 1
        for _ in range(100):
            nested = [nested]
        target[pick(keys)] = nested
    elif kind == "missing_field":
        target.pop(pick(keys), None)
    elif kind == "null_field":
        target[pick(keys)] = None
    elif kind == "future_time":
        target[pick(times, strings)] = "9999-12-31T23:59:59Z"
    elif kind == "huge_list":
        target[pick(keys)] = list(range(100_000))
    else:
        raise ValueError(f"unknown mutation {kind!r}; known: {', '.join(MUTATIONS)}")
    return spoiled


def truncate(body: bytes) -> bytes:
    return body[: max(1, len(body) // 2)]


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()
