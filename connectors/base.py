"""The connector contract: what every source yields and how sources are registered by name."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Fact:
    """An additive contribution of one record to a daily metric (summed per store, day, metric, dimension).

    `dimension` is "" for the store total, otherwise `key=value` (e.g. `channel=online`,
    `category=edibles`), so a total is never the sum of its breakdowns by accident.
    """

    metric: str
    value: float
    dimension: str = ""


@dataclass(frozen=True, slots=True)
class Record:
    """One normalised entity from a source, for one store.

    Records are upserted by (source, stream, key); daily metrics are re-derived from the stored
    records, so re-pulling a window never double counts.
    """

    stream: str
    key: str
    store_id: str
    occurred_at: datetime  # tz-aware: when the fact happened (order time, snapshot time)
    cursor: str = ""  # the stream's cursor value this record advances to (e.g. last-modified ISO time)
    facts: tuple[Fact, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=dict)  # JSON-safe state used by checks


@dataclass(frozen=True, slots=True)
class Rejected:
    """A payload that failed validation: quarantined with its reason while the run goes on."""

    stream: str
    store_id: str
    payload: Any
    reason: str
    implausible: bool = False  # well-formed, but its numbers or times are beyond belief: the store is held


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The connector vouches that everything of `stream` up to `cursor` has been yielded.

    The pull job stores the cursor with the batch it closes, so a crash resumes from here; a stream
    that never checkpoints advances only when it completes (to the greatest `Record.cursor`).
    """

    stream: str
    cursor: str


@dataclass(frozen=True, slots=True)
class Signal:
    """A freshness signal that is not a record, e.g. the platform's last menu sync time for a store.

    Stored as the `freshness` row of source `name` (e.g. `menu_sync`), so guards can read its age.
    """

    name: str
    store_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The digest of a snapshot stream's raw pages, yielded after fetching and before parsing them.

    Parsing is most of a pull's CPU; a snapshot whose pages are byte for byte what was last stored
    (the pull keeps the fingerprint as the stream's cursor) is not parsed again: the pull stops
    reading the stream there. Connectors mix in their `parse_version`, so a parser change re-reads.
    """

    stream: str
    value: str


Item = Record | Rejected | Checkpoint | Signal | Fingerprint

# The store id of a connector that reads many stores at once (CSV folder, SQL query): its records
# carry their own store ids, which the pull job checks against the store directory.
ALL_STORES = "*"
# An attr of an `ALL_STORES` ref whose source also pulls each store on its own (the platform's
# portfolio feeds): those pulls own each store's outcome, so the feed's success is not copied to them.
STORES_PULLED_APART = "stores_pulled_apart"


@dataclass(frozen=True, slots=True)
class StoreRef:
    """A store (dispensary location) as a source knows it."""

    store_id: str
    name: str = ""
    state: str = ""  # two-letter US state
    timezone: str = "UTC"
    attrs: Mapping[str, Any] = field(default_factory=dict)  # e.g. the POS location id


class Connector(Protocol):
    """A source bound to one store: one generator per stream, resuming after `since`.

    Streams listed in `snapshot_streams` are read whole every time: records of such a stream that a
    complete pull no longer yields are deleted (a menu item taken off the menu).
    """

    @property
    def streams(self) -> tuple[str, ...]: ...

    @property
    def snapshot_streams(self) -> tuple[str, ...]: ...

    def iter_records(self, stream: str, since: str | None) -> Iterator[Item]:
        """Yield records newer than the cursor value `since` (None: from the source's default start)."""
        ...


class Source(Protocol):
    """A configured source: it picks its stores (from the directory or its own) and binds connectors.

    `provides_directory` sources (the platform) return the store directory itself from `stores`;
    the pull job upserts those into `store` before any other source runs.
    """

    name: str
    kind: str
    provides_directory: bool
    concurrency: int
    lookback_minutes: int

    def stores(self, directory: Sequence[StoreRef]) -> Sequence[StoreRef | Rejected]: ...

    def connector(self, store: StoreRef) -> Connector: ...

    def feed_ref(self, directory: Mapping[str, StoreRef]) -> StoreRef | None:
        """An `ALL_STORES` ref for what the source reads of every store at once, besides its stores.

        Called once per pull (in the shard that pulls account-wide feeds) with the store directory.
        """
        ...

    def close(self) -> None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Runtime:
    """What a source touches of the outside world besides its API: environment, clocks, sleep, chance.

    Tests pass fakes (a clock that `sleep` advances, a seeded `rng`), so retries run in no time.
    """

    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    clock: Callable[[], float] = time.monotonic  # elapsed time (retry budgets, rate limits)
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = _utcnow  # wall time (windows, Retry-After dates, default starts)
    rng: random.Random = field(default_factory=random.Random)


class SourceError(Exception):
    """A source failed for one store (unreachable, bad auth, HTML instead of JSON, ...)."""


class UnknownConnectorError(KeyError):
    """Raised for a connector kind that is not registered; the message lists the valid kinds."""

    def __init__(self, kind: str, known: list[str]) -> None:
        super().__init__(kind)
        self.kind = kind
        self.known = known

    def __str__(self) -> str:
        return f"unknown connector kind {self.kind!r}; valid kinds: {', '.join(sorted(self.known))}"


ConnectorFactory = Callable[..., Any]
_REGISTRY: dict[str, ConnectorFactory] = {}


def register(kind: str) -> Callable[[ConnectorFactory], ConnectorFactory]:
    """Class decorator: make a source available under `kind` in config."""

    def decorate(factory: ConnectorFactory) -> ConnectorFactory:
        _REGISTRY[kind] = factory
        return factory

    return decorate


def lookup(kind: str) -> ConnectorFactory:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise UnknownConnectorError(kind, list(_REGISTRY)) from None


def registered() -> list[str]:
    return sorted(_REGISTRY)
