"""An in-memory source: the twin of a real source for tests and benchmarks, with failure injection."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from connectors.base import (
    ALL_STORES,
    STORES_PULLED_APART,
    Checkpoint,
    Item,
    Record,
    Rejected,
    SourceError,
    StoreRef,
)
from connectors.values import cursor_after


@dataclass
class MemoryConnector:
    """Yields the items given for a store, those after `since` (by cursor) only, optionally failing midway."""

    store: StoreRef
    data: Mapping[str, Sequence[Item]]
    snapshot_streams: tuple[str, ...] = ()
    fail_after: Mapping[str, int] = field(default_factory=dict)  # stream → raise after this many items
    error: str = "injected failure"
    seen_since: dict[str, str | None] = field(default_factory=dict)

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(self.data)

    def iter_records(self, stream: str, since: str | None) -> Iterator[Item]:
        self.seen_since[stream] = since
        limit = self.fail_after.get(stream)
        for n, item in enumerate(self.data.get(stream, ())):
            if limit is not None and n >= limit:
                raise SourceError(self.error)
            if (
                since
                and stream not in self.snapshot_streams
                and isinstance(item, Record | Checkpoint)
                and item.cursor
                and not cursor_after(item.cursor, since)
            ):
                continue
            yield item


@dataclass
class MemorySource:
    """Stores and their items per stream; `fail_after[(store, stream)]` simulates a crash mid-pull."""

    name: str
    data: Mapping[str, Mapping[str, Sequence[Item]]]  # store id → stream → items
    directory: Sequence[StoreRef] = ()  # given: this source is the store directory
    kind: str = "memory"
    concurrency: int = 4
    lookback_minutes: int = 0
    snapshot_streams: tuple[str, ...] = ()
    fail_after: Mapping[tuple[str, str], int] = field(default_factory=dict)
    broken_stores: Mapping[str, str] = field(default_factory=dict)  # store id → error on connect
    extra_directory: Sequence[Rejected] = ()
    feed: Mapping[str, Sequence[Item]] = field(default_factory=dict)  # stream → items of every store
    connectors: dict[str, MemoryConnector] = field(default_factory=dict)
    closed: bool = False

    @property
    def provides_directory(self) -> bool:
        return bool(self.directory)

    def stores(self, directory: Sequence[StoreRef]) -> Sequence[StoreRef | Rejected]:
        if self.directory:
            return [*self.directory, *self.extra_directory]
        known = {s.store_id: s for s in directory}
        return [known.get(sid, StoreRef(sid)) for sid in self.data]

    def feed_ref(self, directory: Mapping[str, StoreRef]) -> StoreRef | None:
        """With a `feed`: read once for every store beside the stores' own pulls (as the platform's)."""
        if not self.feed:
            return None
        return StoreRef(ALL_STORES, name=f"feed of {self.name}", attrs={STORES_PULLED_APART: True})

    def connector(self, store: StoreRef) -> MemoryConnector:
        if store.store_id in self.broken_stores:
            raise SourceError(self.broken_stores[store.store_id])
        fail = {stream: n for (sid, stream), n in self.fail_after.items() if sid == store.store_id}
        feed = store.store_id == ALL_STORES and bool(self.feed)
        data = self.feed if feed else self.data.get(store.store_id, {})
        conn = MemoryConnector(store, data, self.snapshot_streams, fail)
        self.connectors[store.store_id] = conn
        return conn

    def close(self) -> None:
        self.closed = True
