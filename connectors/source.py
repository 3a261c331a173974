"""Base classes for sources and connectors: store selection, default start, safe parsing, stream dispatch."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from connectors.base import ALL_STORES, Fingerprint, Item, Rejected, Runtime, SourceError, StoreRef
from connectors.config import SourceConfig
from connectors.http import SourceHttp
from connectors.paging import Page
from connectors.values import Invalid, cursor_time, zone

T = TypeVar("T")


class Options(BaseModel):
    """Kind-specific `[sources.options]`; each kind subclasses it (frozen, unknown keys refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def parse_safely(
    stream: str, store_id: str, payload: Any, parse: Callable[..., T], *args: Any
) -> T | Rejected:
    """`parse(payload, *args)`; a validation failure or a slip on odd input becomes a quarantined payload."""
    try:
        return parse(payload, *args)
    except Invalid as exc:
        return Rejected(stream, store_id, payload, str(exc))
    except (
        KeyError,
        IndexError,
        TypeError,
        ValueError,
        AttributeError,
        ArithmeticError,
        RecursionError,
    ) as exc:
        return Rejected(
            stream, store_id, payload, f"unparseable {stream} payload: {type(exc).__name__}: {exc}"
        )


class BaseSource:
    """Shared behaviour of sources: options, store selection from the directory, default start."""

    kind: ClassVar[str] = ""
    options_model: ClassVar[type[Options]] = Options
    provides_directory: bool = False

    def __init__(self, cfg: SourceConfig, runtime: Runtime | None = None) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.runtime = runtime or Runtime()
        self.concurrency = cfg.concurrency
        self.lookback_minutes = cfg.lookback_minutes
        try:
            self.options = self.options_model.model_validate(cfg.options)
        except ValidationError as exc:
            raise SourceError(f"{cfg.name}: options: {exc}") from None

    def serves(self, store: StoreRef) -> bool:
        """Whether this source has data for a directory store (e.g. the store's POS is this kind)."""
        return True

    def stores(self, directory: Sequence[StoreRef]) -> Sequence[StoreRef | Rejected]:
        wanted = set(self.cfg.stores)
        return [s for s in directory if (not wanted or s.store_id in wanted) and self.serves(s)]

    def connector(self, store: StoreRef) -> Any:
        raise NotImplementedError

    def feed_ref(self, directory: Mapping[str, StoreRef]) -> StoreRef | None:
        """No feed of every store besides the stores' own pulls, unless a kind offers one."""
        return None

    def close(self) -> None:
        return None

    def start(self, since: str | None) -> datetime:
        """Where a stream starts: after the cursor when it is a time, else `history_days` back from now."""
        moment = cursor_time(since) if since else None
        return moment if moment is not None else self.runtime.now() - timedelta(days=self.cfg.history_days)


class HttpSource(BaseSource):
    """A source reached over HTTP: one session, limiter and retry policy for all its stores."""

    def __init__(self, cfg: SourceConfig, runtime: Runtime | None = None) -> None:
        super().__init__(cfg, runtime)
        if not cfg.base_url:
            raise SourceError(f"{cfg.name}: base_url is required for kind {cfg.kind!r}")
        self.http = SourceHttp(cfg, self.runtime)

    def close(self) -> None:
        self.http.close()


SNAPSHOT_HOLD = 5_000  # items of a snapshot held unparsed to fingerprint it; a bigger one streams


@dataclass(frozen=True, slots=True)
class HeldSnapshot:
    """A snapshot's first pages, fetched before any is parsed, and what follows them.

    `fingerprint` digests every page's raw bytes (with the connector's parse version) when the whole
    snapshot fit in `SNAPSHOT_HOLD` items (`rest` is then empty); None when it did not.
    """

    pages: list[Page]
    fingerprint: Fingerprint | None
    rest: Iterator[Page]

    def all_pages(self) -> Iterator[Page]:
        return chain(self.pages, self.rest)

    def raw_items(self) -> Iterator[Any]:
        """The held pages' items as fetched, for what a connector needs even when it skips parsing."""
        return (raw for page in self.pages for raw in page.items)


def hold_snapshot(
    pages: Iterable[Page], stream: str, version: str, hold: int = SNAPSHOT_HOLD
) -> HeldSnapshot:
    """Fetch a snapshot's pages up to `hold` items and fingerprint them if that was all of it."""
    it = iter(pages)
    held: list[Page] = []
    count = 0
    for page in it:
        held.append(page)
        count += len(page.items)
        if count > hold:
            return HeldSnapshot(held, None, it)
    digest = hashlib.blake2b(version.encode(), digest_size=16)
    for page in held:
        if not page.digest:  # a page without its raw bytes' digest cannot vouch for its content
            return HeldSnapshot(held, None, iter(()))
        digest.update(page.digest)
    return HeldSnapshot(held, Fingerprint(stream, digest.hexdigest()), iter(()))


class BaseConnector:
    """Dispatches `iter_records(stream, since)` to a `stream_<name>` method."""

    # Bump when a parser of this connector changes, so an unchanged snapshot is parsed again.
    parse_version = "1"

    streams: tuple[str, ...] = ()
    snapshot_streams: tuple[str, ...] = ()

    def __init__(self, store: StoreRef) -> None:
        self.store = store
        try:
            self.tz = zone(store.timezone)
        except Invalid as exc:
            raise SourceError(f"store {store.store_id}: {exc}") from None

    def hold(self, pages: Iterable[Page], stream: str, parsing: str = "") -> HeldSnapshot:
        """`hold_snapshot` salted with what parsing depends on besides the bytes: parser, time zone and
        `parsing` (e.g. a declared spec)."""
        salt = f"{type(self).__name__}:{self.parse_version}:{stream}:{self.store.timezone}:{parsing}"
        return hold_snapshot(pages, stream, salt)

    def iter_records(self, stream: str, since: str | None) -> Iterator[Item]:
        if stream not in self.streams:
            raise SourceError(f"unknown stream {stream!r}; streams: {', '.join(self.streams)}")
        method: Callable[[str | None], Iterator[Item]] = getattr(self, f"stream_{stream}")
        return method(since)

    def key(self, raw: str) -> str:
        """Record keys carry the store, since vendor ids are unique only within a location."""
        return f"{self.store.store_id}:{raw}"

    def is_all_stores(self) -> bool:
        return self.store.store_id == ALL_STORES


def store_values(store: StoreRef) -> Mapping[str, str]:
    """Template values for paths and parameters: the store id, state, zone and its plain attrs."""
    out = {k: str(v) for k, v in store.attrs.items() if isinstance(v, str | int) and not isinstance(v, bool)}
    out.update(store_id=store.store_id, state=store.state, timezone=store.timezone)
    return out
