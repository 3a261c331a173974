"""The pull's one writer: fetch threads hand it what they parsed, it stores many stores per transaction.

Fetching is latency-bound and runs many calls at once; storing is round-trip-bound. One writer
thread per pull takes what the fetch threads queued, groups it (any sources, streams and stores)
and writes each group with set-based statements in one transaction: about a dozen statements per
group (plus two a store whose facts are re-derived) instead of a dozen per store and stream, one
database connection instead of one per fetch thread. Records whose content is unchanged since the
last pull (same digest) are not rewritten and their days not re-derived, so a warm pull re-reading
its lookback window costs a read (unchanged snapshots do not even reach the writer: `jobs.pull`).

Order is kept: a fetch thread's items are written in the order it queued them, so a stream's
cursor is still stored in the transaction of the records before it, never ahead of them. If a
group's transaction fails, each of its items is retried alone and what still fails is recorded
against its store (its cursor not advanced), so one bad write costs one store, not the group.
"""

from __future__ import annotations

import contextvars
import hashlib
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any, Protocol

import structlog
from sqlalchemy import Connection, and_, delete, select, tuple_
from sqlmodel import Session

from connectors import redact
from connectors.base import ALL_STORES, Record, Rejected, Signal, StoreRef
from connectors.bounds import bounded_payload, clean_text
from connectors.values import Invalid, json_safe, zone
from state.engine import chunks, insert, table, upsert
from state.tables import Cursor, Freshness, SourceRecord

log = structlog.get_logger(__name__)

ERROR_LIMIT = 1000
QUARANTINE_BYTES = 65_536  # a quarantine row's payload at most, whatever reached the writer
GROUP_RECORDS = 4000  # records per transaction, at most (a group closes after the item that passes it)
GROUP_ITEMS = 400  # queued items per transaction, at most
ANALYZE_MIN_ROWS = 20_000  # records written before statistics are refreshed (PostgreSQL)
QUEUE_ITEMS = 64  # queued items before fetch threads wait: memory stays bounded when writing lags
_IN_CHUNK = 500  # values per IN list


@dataclass
class WriteUnit:
    """Part of one stream of one store: records, quarantined payloads, signals, and the cursor after them.

    `seen` is set on the last unit of a complete snapshot stream: the keys it yielded; stored records
    of the stream (for `store_id`, or every store when it is `ALL_STORES`) not among them are deleted.
    """

    source: str
    stream: str
    store_id: str
    records: list[Record] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    cursor: str | None = None
    newest: bool = True  # records tell the store's newest data (not for snapshot streams)
    seen: frozenset[str] | None = None

    def __len__(self) -> int:
        return len(self.records) + len(self.rejected) + len(self.signals)


@dataclass(frozen=True)
class StoreMark:
    """A store's pull began (`done` False) or ended with `error` ("" when every stream was fetched)."""

    source: str
    store_id: str
    done: bool = False
    error: str = ""
    records: int = 0
    touched: frozenset[str] = frozenset()  # an all-stores source: the stores it brought data for
    implausible: frozenset[str] = frozenset()  # stores whose data was quarantined as implausible


Item = WriteUnit | StoreMark


@dataclass
class _Fresh:
    """Changes to one freshness row, merged in the order they were queued."""

    attempt: bool = False
    success: bool | None = None
    error: str = ""
    records: int | None = None
    newest: datetime | None = None
    implausible: bool | None = None  # True: hold the store's data from this source; False: release it

    def merge(
        self,
        *,
        attempt: bool = False,
        success: bool | None = None,
        error: str = "",
        records: int | None = None,
        newest: datetime | None = None,
        implausible: bool | None = None,
    ) -> None:
        self.attempt = self.attempt or attempt
        if implausible is not None:
            self.implausible = implausible
        if success is not None:
            self.success, self.error = success, error
        if records is not None:
            self.records = records
        if newest is not None and (self.newest is None or newest > self.newest):
            self.newest = newest


def record_digest(record: Record, day: date) -> str:
    """A record's stored content (store, day, time, facts, attrs) as a short hash, to skip rewrites.

    Hashes the record as the connector built it (its `repr`: attrs in the connector's own order), so
    an unchanged record costs no JSON encoding; a connector that reorders its attrs rewrites once.
    """
    body = repr(
        (
            record.store_id,
            day.isoformat(),
            record.occurred_at.astimezone(UTC).isoformat(),
            [(f.metric, f.dimension, f.value) for f in record.facts],
            record.attrs,
        )
    )
    return hashlib.blake2b(body.encode(), digest_size=16).hexdigest()


def rederive(conn: Connection, source: str, touched: set[tuple[str, date]]) -> None:
    """Delete and rebuild a source's daily facts for the touched (store, day) pairs from stored records.

    Two statements a touched store (its days in one IN list) and one insert for all: a (store, day)
    row-value list would be one statement, but SQLite then scans every record of the source instead
    of seeking the (store_id, day) index, which made a first pull quadratic in its records.
    """
    if not touched:
        return
    sr, mf = table("source_record"), table("metric_fact")
    by_store: dict[str, list[date]] = {}
    for store_id, day in touched:
        by_store.setdefault(store_id, []).append(day)
    rows: list[dict[str, Any]] = []
    for store_id, days in sorted(by_store.items()):
        for chunk in chunks(sorted(days), _IN_CHUNK):
            conn.execute(
                delete(mf).where(and_(mf.c.source == source, mf.c.store_id == store_id, mf.c.day.in_(chunk)))
            )
            totals: dict[tuple[str, str, date], float] = {}
            result = conn.execute(
                select(sr.c.day, sr.c.facts).where(
                    sr.c.source == source, sr.c.store_id == store_id, sr.c.day.in_(chunk)
                )
            )
            for day, facts in result:
                for metric, dimension, value in facts or ():
                    key = (metric, dimension, day)
                    totals[key] = totals.get(key, 0.0) + float(value)
            rows += [
                {"source": source, "store_id": store_id, "metric": m, "dimension": d, "day": day, "value": v}
                for (m, d, day), v in sorted(totals.items())
            ]
    if rows:
        insert(conn, mf, rows)


def quarantine_rows(
    run_id: str, source: str, rejected: Sequence[Rejected], now: datetime
) -> list[dict[str, Any]]:
    """Quarantine rows, bounded whatever the payload (the pull clips them already, to its source's limit)."""
    return [
        {
            "run_id": run_id,
            "source": source,
            "stream": clean_text(str(r.stream), 256),
            "store_id": clean_text(str(r.store_id), 256),
            "payload": bounded_payload(json_safe(r.payload), QUARANTINE_BYTES),
            "reason": clean_text(str(r.reason), ERROR_LIMIT),
            "created_at": now,
        }
        for r in rejected
    ]


class SessionFactory(Protocol):
    def __call__(self) -> AbstractContextManager[Session]: ...


class PullWriter:
    """The writer thread and its queue; `submit` from fetch threads, `close` to drain and stop."""

    def __init__(
        self,
        session: SessionFactory,
        run_id: str,
        now: datetime,
        directory: Mapping[str, StoreRef],
        *,
        analyze: Callable[[], None] | None = None,
        table_rows: int = 0,
    ) -> None:
        self._session = session
        self.run_id = run_id
        self.now = now
        self.directory = directory
        self._zones: dict[str, tzinfo] = {}
        self._queue: queue.Queue[Item | None] = queue.Queue(maxsize=QUEUE_ITEMS)
        self._errors: dict[tuple[str, str], list[str]] = {}
        self._lock = threading.Lock()
        # What the writer did, for the run ledger: seconds writing, transactions, records written/unchanged.
        self.stats = {"seconds": 0.0, "groups": 0, "written": 0, "unchanged": 0, "analyzed": 0}
        # (source, stream) → records stored, payloads quarantined, items whose write failed: the
        # pull checks them against what its connectors yielded (stored + quarantined = received).
        self.tally: dict[tuple[str, str], dict[str, int]] = {}
        self._held: set[tuple[str, str]] = set()  # (source, store) marked implausible in this run
        self._analyze = analyze
        self._analyzed_at = 0.0
        self._analyze_every = max(ANALYZE_MIN_ROWS, int(table_rows / 4))
        ctx = contextvars.copy_context()  # the writer's log events keep run_id, job and shard
        self._thread = threading.Thread(target=lambda: ctx.run(self._loop), name="pull-writer", daemon=True)
        self._thread.start()

    # -- the fetch threads' side --------------------------------------------------------------------
    def submit(self, item: Item) -> None:
        self._queue.put(item)

    def close(self) -> None:
        """Write what is queued, then stop the thread (idempotent)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def errors(self, source: str, store_id: str) -> list[str]:
        """Writes that failed for a store of a source (its cursors stayed where they were)."""
        with self._lock:
            return list(self._errors.get((source, store_id), ()))

    # -- the writer thread --------------------------------------------------------------------------
    def _loop(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            group: list[Item] = [first]
            size = len(first) if isinstance(first, WriteUnit) else 0
            while size < GROUP_RECORDS and len(group) < GROUP_ITEMS:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                group.append(nxt)
                size += len(nxt) if isinstance(nxt, WriteUnit) else 0
            self._write_group(group)

    def _write_group(self, group: list[Item]) -> None:
        started = time.perf_counter()
        try:
            self._try_group(group)
            self._analyze_when_grown()
        finally:
            self.stats["seconds"] += time.perf_counter() - started
            self.stats["groups"] += 1

    def _analyze_when_grown(self) -> None:
        """Refresh PostgreSQL's statistics once the tables have grown by a quarter (20,000 rows at least).

        A first pull fills `source_record` faster than autovacuum analyzes it; with stale statistics the
        planner filters a key lookup over the whole stream instead of seeking the primary key (83 ms
        instead of 2 ms a lookup at 320,000 records, and growing with the table).
        """
        if self._analyze is None or self.stats["written"] - self._analyzed_at < self._analyze_every:
            return
        try:
            self._analyze()
        except Exception as exc:  # statistics are an optimisation: never fail the pull for them
            log.warning("pull_analyze_failed", error=f"{type(exc).__name__}: {exc}")
        self._analyzed_at = self.stats["written"]
        self._analyze_every = max(ANALYZE_MIN_ROWS, int(self.stats["written"] / 4))
        self.stats["analyzed"] += 1

    def _count(self, group: Sequence[Item], done: bool) -> None:
        for item in group:
            if isinstance(item, WriteUnit):
                row = self.tally.setdefault((item.source, item.stream), {})
                if done:
                    row["stored"] = row.get("stored", 0) + len(item.records)
                    row["quarantined"] = row.get("quarantined", 0) + len(item.rejected)
                else:
                    row["failed"] = row.get("failed", 0) + len(item.records) + len(item.rejected)

    def _try_group(self, group: list[Item]) -> None:
        try:
            with self._session() as session:
                self._write(session, group)
            self._count(group, True)
            return
        except Exception as exc:  # one item may be the cause: retry each alone, keep what fails
            if len(group) == 1:
                self._failed(group[0], exc)
                return
            log.warning("pull_write_group_failed", items=len(group), error=f"{type(exc).__name__}: {exc}")
        for item in group:
            try:
                with self._session() as session:
                    self._write(session, [item])
                self._count([item], True)
            except Exception as exc:  # recorded against the store; its cursor did not advance
                self._failed(item, exc)

    def _failed(self, item: Item, exc: BaseException) -> None:
        self._count([item], False)
        what = f"{item.stream}: " if isinstance(item, WriteUnit) else ""
        error = f"{what}storing failed: {redact.error(exc)}"[:ERROR_LIMIT]
        with self._lock:
            self._errors.setdefault((item.source, item.store_id), []).append(error)
        log.error("pull_write_failed", source=item.source, store=item.store_id, error=error)

    def _write(self, session: Session, group: Sequence[Item]) -> None:
        """One transaction for the group: records, facts, quarantine, cursors, freshness."""
        conn = session.connection()
        fresh: dict[tuple[str, str], _Fresh] = {}
        streams: dict[tuple[str, str], list[WriteUnit]] = {}
        for item in group:
            if isinstance(item, WriteUnit):
                streams.setdefault((item.source, item.stream), []).append(item)
        touched: dict[str, set[tuple[str, date]]] = {}
        for (source, stream), units in streams.items():
            self._records(session, source, stream, units, touched.setdefault(source, set()), fresh)
        for source, pairs in touched.items():
            rederive(conn, source, pairs)
        rejected = [(u.source, r) for u in group if isinstance(u, WriteUnit) for r in u.rejected]
        if rejected:
            rows = [
                row for source, r in rejected for row in quarantine_rows(self.run_id, source, [r], self.now)
            ]
            conn.execute(table("quarantine").insert(), rows)
        cursors = {
            (u.source, u.stream, u.store_id): u.cursor
            for u in group
            if isinstance(u, WriteUnit) and u.cursor is not None
        }
        upsert(
            session,
            Cursor,
            [
                {"source": s, "stream": st, "store_id": store, "value": value, "updated_at": self.now}
                for (s, st, store), value in cursors.items()
            ],
        )
        for item in group:  # in queued order: a store's end comes after its data
            if isinstance(item, WriteUnit):
                for signal in item.signals:
                    f = fresh.setdefault((signal.name, signal.store_id), _Fresh())
                    f.merge(attempt=True, success=True, newest=signal.at)
            elif not item.done:
                fresh.setdefault((item.source, item.store_id), _Fresh()).merge(attempt=True)
            else:
                with self._lock:
                    failed = self._errors.get((item.source, item.store_id), [])
                error = "; ".join([e for e in [item.error] if e] + failed)
                f = fresh.setdefault((item.source, item.store_id), _Fresh())
                f.merge(success=not error, error=error, records=item.records)
                if item.store_id == ALL_STORES and not error:
                    for store_id in sorted(item.touched - {ALL_STORES}):
                        fresh.setdefault((item.source, store_id), _Fresh()).merge(attempt=True, success=True)
                self._hold(item, error, fresh)
        self._freshness(session, fresh)

    def _hold(self, mark: StoreMark, error: str, fresh: dict[tuple[str, str], _Fresh]) -> None:
        """Hold the stores whose data from this source was implausible; release those pulled clean.

        A store is released only by a pull that read it without error and brought nothing implausible
        from any part of the source this run (a portfolio feed and the store's own pull both count).
        """
        for store_id in sorted(mark.implausible):
            self._held.add((mark.source, store_id))
            fresh.setdefault((mark.source, store_id), _Fresh()).merge(implausible=True)
        if error:
            return
        clean = set(mark.touched) if mark.store_id == ALL_STORES else {mark.store_id}
        for store_id in sorted(clean - mark.implausible - {ALL_STORES}):
            if (mark.source, store_id) not in self._held:
                fresh.setdefault((mark.source, store_id), _Fresh()).merge(implausible=False)

    def _zone(self, store_id: str) -> tzinfo | None:
        ref = self.directory.get(store_id)
        if ref is None:
            return None
        tz = self._zones.get(ref.timezone)
        if tz is None:
            try:
                tz = zone(ref.timezone)
            except Invalid:
                tz = UTC
            self._zones[ref.timezone] = tz
        return tz

    def _records(
        self,
        session: Session,
        source: str,
        stream: str,
        units: Sequence[WriteUnit],
        touched: set[tuple[str, date]],
        fresh: dict[tuple[str, str], _Fresh],
    ) -> None:
        """Upsert the changed records of one source's stream, delete a snapshot's gone ones; note days."""
        sr, conn = table("source_record"), session.connection()
        latest: dict[str, Record] = {}
        newest: dict[str, datetime] = {}
        for unit in units:
            for record in unit.records:
                latest[record.key] = record  # a record seen twice: the later one wins
                if unit.newest:
                    moment = min(record.occurred_at, self.now).astimezone(UTC)
                    if record.store_id not in newest or moment > newest[record.store_id]:
                        newest[record.store_id] = moment
        digests: dict[str, tuple[date, str]] = {}
        for record in latest.values():
            tz = self._zone(record.store_id)
            day = record.occurred_at.astimezone(tz).date() if tz else record.occurred_at.date()
            digests[record.key] = (day, record_digest(record, day))
        for chunk in chunks(list(digests), _IN_CHUNK):
            old = conn.execute(
                select(sr.c.key, sr.c.store_id, sr.c.day, sr.c.digest, sr.c.facts).where(
                    sr.c.source == source, sr.c.stream == stream, sr.c.key.in_(chunk)
                )
            )
            for key, store_id, day, digest, facts in old:
                if digest and digest == digests[key][1]:
                    del digests[key]  # unchanged: nothing to write, nothing to re-derive
                    self.stats["unchanged"] += 1
                elif facts:  # the day it counted in loses it (a record without facts counts nowhere)
                    touched.add((store_id, day))
        rows = [
            {
                "source": source,
                "stream": stream,
                "key": key,
                "store_id": latest[key].store_id,
                "day": day,
                "occurred_at": latest[key].occurred_at.astimezone(UTC),
                "facts": [[f.metric, f.dimension, f.value] for f in latest[key].facts],
                "attrs": json_safe(dict(latest[key].attrs)),
                "pulled_at": self.now,
                "digest": digest,
            }
            for key, (day, digest) in digests.items()
        ]
        # Only records with facts make a day's metrics: a menu item or inventory row re-derives nothing.
        touched.update((row["store_id"], row["day"]) for row in rows if row["facts"])
        upsert(session, SourceRecord, rows)
        self.stats["written"] += len(rows)
        stale = self._stale(conn, source, stream, units)
        for chunk in chunks(sorted(stale), _IN_CHUNK):
            conn.execute(delete(sr).where(sr.c.source == source, sr.c.stream == stream, sr.c.key.in_(chunk)))
        touched.update(stale.values())
        for store_id, moment in newest.items():
            fresh.setdefault((source, store_id), _Fresh()).merge(newest=moment)

    def _stale(
        self, conn: Connection, source: str, stream: str, units: Sequence[WriteUnit]
    ) -> dict[str, tuple[str, date]]:
        """Stored records of complete snapshots no longer yielded: key → (store, day)."""
        done = [u for u in units if u.seen is not None]
        if not done:
            return {}
        sr = table("source_record")
        stale: dict[str, tuple[str, date]] = {}
        query = select(sr.c.key, sr.c.store_id, sr.c.day).where(sr.c.source == source, sr.c.stream == stream)
        every = [u for u in done if u.store_id == ALL_STORES]
        if every:
            seen = every[-1].seen or frozenset()
            stale.update({k: (s, d) for k, s, d in conn.execute(query) if k not in seen})
            return stale
        by_store = {u.store_id: u.seen or frozenset() for u in done}
        for chunk in chunks(sorted(by_store), _IN_CHUNK):
            for key, store_id, day in conn.execute(query.where(sr.c.store_id.in_(chunk))):
                if key not in by_store[store_id]:
                    stale[key] = (store_id, day)
        return stale

    def _freshness(self, session: Session, fresh: Mapping[tuple[str, str], _Fresh]) -> None:
        """Read the group's freshness rows once, apply the merged changes, upsert them back."""
        if not fresh:
            return
        fr = table("freshness")
        columns = (
            "newest_data_at",
            "last_success_at",
            "last_attempt_at",
            "last_error",
            "records_last_pull",
            "implausible_at",
        )
        have: dict[tuple[str, str], dict[str, Any]] = {}
        conn = session.connection()
        for chunk in chunks(sorted(fresh), _IN_CHUNK):
            query = select(fr.c.source, fr.c.store_id, *(fr.c[c] for c in columns)).where(
                tuple_(fr.c.source, fr.c.store_id).in_(list(chunk))
            )
            for found in conn.execute(query):
                have[(found[0], found[1])] = dict(zip(columns, found[2:], strict=True))
        rows = []
        for (source, store_id), change in sorted(fresh.items()):
            row = have.get((source, store_id)) or {
                "newest_data_at": None,
                "last_success_at": None,
                "last_attempt_at": None,
                "last_error": "",
                "records_last_pull": 0,
                "implausible_at": None,
            }
            if change.attempt:
                row["last_attempt_at"] = self.now
            if change.success is True:
                row["last_success_at"] = self.now
                row["last_error"] = ""
            elif change.success is False:
                row["last_error"] = redact.text(change.error)[:ERROR_LIMIT]
            if change.records is not None:
                row["records_last_pull"] = change.records
            if change.implausible is True:
                row["implausible_at"] = self.now
            elif change.implausible is False:
                row["implausible_at"] = None
            if change.newest is not None:
                old = row["newest_data_at"]
                if old is not None and old.tzinfo is None:
                    old = old.replace(tzinfo=UTC)  # SQLite hands back naive UTC
                if old is None or change.newest > old:
                    row["newest_data_at"] = change.newest.astimezone(UTC)
            rows.append({"source": source, "store_id": store_id, **row})
        upsert(session, Freshness, rows)
