"""The connector contract: what every source yields and how sources are registered by name."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
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


@dataclass(frozen=True, slots=True)
class StoreRef:
    """A store (dispensary location) as a source knows it."""

    store_id: str
    name: str = ""
    state: str = ""  # two-letter US state
    timezone: str = "UTC"
    attrs: Mapping[str, Any] = field(default_factory=dict)  # e.g. the POS location id


class Connector(Protocol):
    """A source bound to one store: one generator per stream, resuming after `since`."""

    @property
    def streams(self) -> tuple[str, ...]: ...

    def iter_records(self, stream: str, since: str | None) -> Iterator[Record | Rejected]:
        """Yield records newer than the cursor value `since` (None: from the source's default start)."""
        ...


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
