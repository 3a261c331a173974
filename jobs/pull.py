"""The pull job: sources' stores in parallel → source_record, re-derived metric_fact, cursors, freshness."""

from __future__ import annotations

import contextvars
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import structlog

from connectors import redact
from connectors.base import (
    ALL_STORES,
    STORES_PULLED_APART,
    Checkpoint,
    Fingerprint,
    Item,
    Record,
    Rejected,
    Runtime,
    Signal,
    Source,
    SourceError,
    StoreRef,
)
from connectors.bounds import (
    Checker,
    Limits,
    Plausible,
    PlausibleError,
    bounded_payload,
    clean_text,
    load_plausible,
    store_problem,
)
from connectors.catalog import build_sources, parse_sources
from connectors.config import SecretError
from connectors.platform import PlatformOptions
from connectors.values import (
    Invalid,
    cursor_after,
    iso_utc,
    later_cursor,
    ordered_cursor,
    shift_cursor,
)
from jobs import progress
from jobs.field_expressions import install as install_field_expressions
from state.engine import Engine
from state.pull_store import PullStore
from state.pull_writer import PullWriter, StoreMark, WriteUnit

log = structlog.get_logger(__name__)

DEFAULT_BATCH = 500
SNAPSHOT_BUFFER = 5_000  # a snapshot up to this size is held to its end, so an unchanged one is skipped
SNAPSHOT_DIGEST = "digest:"  # a snapshot stream's cursor: the digest of what was last stored
SNAPSHOT_FINGERPRINT = "raw:"  # or the digest of its raw pages, when its connector fingerprints them
COLLISION_KEYS = 100_000  # keys of one stream's read watched for two records sharing one key

install_field_expressions()  # specs' computed fields are written in the mapping language


@dataclass(frozen=True)
class StoreOutcome:
    """How one store of one source went: counts, the error (empty when fine) and time taken."""

    source: str
    store_id: str
    records: int = 0
    rejected: int = 0
    error: str = ""
    seconds: float = 0.0
    streams: Mapping[str, int] = field(default_factory=dict)  # records per stream

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class PullReport:
    """The outcome of one pull: one row per (source, store), plus sources that failed before any store."""

    run_id: str
    started_at: datetime
    seconds: float
    outcomes: tuple[StoreOutcome, ...]
    source_errors: Mapping[str, str] = field(default_factory=dict)
    menu_health_stores: int | None = None  # stores assessed by the menu health pass, when it ran
    writer: Mapping[str, float] = field(default_factory=dict)  # the writer's stats (seconds, groups, …)
    # Per `source/stream`: received (records and rejects the connector yielded), stored, quarantined.
    tally: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return sum(o.records for o in self.outcomes)

    @property
    def rejected(self) -> int:
        return sum(o.rejected for o in self.outcomes)

    @property
    def failed(self) -> tuple[StoreOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.ok)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.source_errors

    @property
    def status(self) -> str:
        """ok | partial (some stores or sources failed) | failed (nothing succeeded)."""
        if self.ok:
            return "ok"
        if any(o.ok for o in self.outcomes):
            return "partial"
        return "failed"

    def counts(self) -> dict[str, Any]:
        """For the run ledger: totals and failures."""
        return {
            "stores": len(self.outcomes),
            "records": self.records,
            "rejected": self.rejected,
            "failed_stores": len(self.failed),
            "failed_sources": sorted(self.source_errors),
        }

    @property
    def unaccounted(self) -> dict[str, int]:
        """Streams where stored + quarantined (+ failed with their stream) ≠ received: silent losses."""
        out = {}
        for name, t in self.tally.items():
            missing = t["received"] - t["stored"] - t["quarantined"] - t["failed"]
            if missing:
                out[name] = missing
        return out

    @property
    def partial(self) -> bool:
        return self.status != "ok"

    @property
    def data(self) -> dict[str, Any]:
        """JSON-safe summary for the run ledger and `--json` output (failures capped at 50)."""
        out = self.counts()
        if self.menu_health_stores is not None:
            out["menu_health_stores"] = self.menu_health_stores
        if self.writer:
            out["writer"] = {k: round(v, 3) for k, v in self.writer.items()}
        if self.tally:
            out["streams"] = {name: dict(t) for name, t in sorted(self.tally.items())}
            out["unaccounted"] = self.unaccounted
        out["failures"] = [
            {"source": o.source, "store": o.store_id, "error": o.error} for o in self.failed[:50]
        ] + [
            {"source": name, "store": "", "error": error}
            for name, error in sorted(self.source_errors.items())
        ]
        return out

    def rows(self) -> list[tuple[str, str, int, int, float, str]]:
        """(source, store, records, rejected, seconds, error), sorted, for the CLI's table."""
        return sorted(
            (o.source, o.store_id, o.records, o.rejected, round(o.seconds, 2), o.error) for o in self.outcomes
        )

    def summary(self) -> str:
        lines = [
            f"pull {self.run_id}: {len(self.outcomes)} store pulls, {self.records} records, "
            f"{self.rejected} quarantined, {len(self.failed)} failed, {self.seconds:.1f}s"
        ]
        lines += [f"  source {name}: {error}" for name, error in sorted(self.source_errors.items())]
        lines += [
            f"  {o.source} {o.store_id}: {o.error}" for o in sorted(self.failed, key=lambda o: o.store_id)
        ]
        return "\n".join(lines)


@dataclass(frozen=True)
class Bounds:
    """A source's caps and the plausible ranges its records are checked against (`connectors.bounds`)."""

    limits: Limits
    plausible: Plausible
    checker: Checker

    @classmethod
    def of(cls, source: Source, now: datetime) -> Bounds:
        cfg = getattr(source, "cfg", None)
        limits = getattr(cfg, "limits", None)
        limits = limits if isinstance(limits, Limits) else Limits()
        plausible = load_plausible(limits.plausible_file)
        return cls(limits, plausible, Checker(limits, plausible, now))


def _check(record: Record, directory: Mapping[str, StoreRef], bounds: Bounds) -> tuple[str, bool]:
    """Why a connector's record cannot be stored ("" when it can), and whether it is implausible."""
    if not record.key:
        return "empty record key", False
    if record.occurred_at.tzinfo is None:
        return "occurred_at has no time zone", False
    problem = bounds.checker.problem(record)
    if problem is not None:
        return problem.reason, problem.implausible
    if record.store_id not in directory:
        return f"unknown store {record.store_id!r}: not in the store directory", False
    return "", False


def _unstorable(record: Record, reason: str, implausible: bool, limit: int) -> Rejected:
    payload = {
        "key": record.key,
        "occurred_at": record.occurred_at.isoformat(),
        "facts": [[f.metric, f.dimension, f.value] for f in record.facts],
        "attrs": dict(record.attrs),
    }
    store_id = clean_text(record.store_id, 256) if isinstance(record.store_id, str) else ""
    return Rejected(record.stream, store_id, bounded_payload(payload, limit), reason, implausible)


def _bounded(rejected: Rejected, limit: int) -> Rejected:
    """A connector's reject made storable: payload clipped, reason and store id valid bounded text."""
    return Rejected(
        clean_text(str(rejected.stream), 256),
        clean_text(str(rejected.store_id), 256),
        bounded_payload(rejected.payload, limit),
        clean_text(str(rejected.reason), 1000),
        rejected.implausible,
    )


@dataclass
class _Run:
    store: PullStore
    writer: PullWriter
    directory: dict[str, StoreRef]
    now: datetime
    full_refresh: bool
    since: datetime | None
    batch_size: int
    clock: Callable[[], float]
    cursors: dict[str, dict[tuple[str, str], str]] = field(default_factory=dict)  # by source
    bounds: dict[str, Bounds] = field(default_factory=dict)  # by source
    # (source, stream) → received (records and rejects yielded), kept (an unchanged snapshot's records,
    # stored as they were) and failed (read by a stream that then failed, re-read next time).
    tally: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    tally_lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, source: str, stream: str, **counts: int) -> None:
        with self.tally_lock:
            row = self.tally.setdefault((source, stream), {})
            for name, n in counts.items():
                row[name] = row.get(name, 0) + n


def _pull_stream(
    run: _Run,
    source: Source,
    connector: Any,
    store: StoreRef,
    stream: str,
    touched: set[str],
    implausible: set[str],
) -> tuple[int, int]:
    """Fetch one stream of one store and queue it for the writer, a batch at a time, cursor last."""
    snapshot = stream in tuple(getattr(connector, "snapshot_streams", ()))
    stored = run.cursors.get(source.name, {}).get((stream, store.store_id), "")
    if snapshot:
        since_arg: str | None = None
    elif run.since is not None:
        since_arg = iso_utc(run.since)
    elif run.full_refresh or not stored:
        since_arg = None
    else:
        since_arg = shift_cursor(stored, -timedelta(minutes=source.lookback_minutes))

    def fresh_unit() -> WriteUnit:
        return WriteUnit(source.name, stream, store.store_id, newest=not snapshot)

    unit = fresh_unit()
    records = rejected = 0
    highest = ""
    checkpoint: str | None = None
    seen: set[str] = set()
    written = stored
    # A snapshot read whole and found as it was last stored (same digest) needs no writing at all.
    digest = hashlib.blake2b(digest_size=16) if snapshot and not run.full_refresh else None
    limit = SNAPSHOT_BUFFER if digest is not None else run.batch_size

    def flush(cursor: str | None, last: bool = False) -> None:
        nonlocal unit, written
        if cursor is not None and stored and ordered_cursor(cursor):
            cursor = later_cursor(stored, cursor)
        if cursor == written:
            cursor = None
        unit.cursor = cursor
        if last and snapshot:
            unit.seen = frozenset(seen)
        if not unit and unit.cursor is None and unit.seen is None:
            return  # nothing to write
        run.writer.submit(unit)
        unit = fresh_unit()
        if cursor is not None:
            written = cursor

    fingerprint = ""  # of the snapshot's raw pages, when the connector offers one
    parts = 0
    keys: dict[int, tuple[str, int]] = {}  # hash of key → (cursor, content hash) of the records read
    bounds = run.bounds.get(source.name) or Bounds.of(source, run.now)
    clip = bounds.limits.quarantine_bytes
    try:
        items = connector.iter_records(stream, since_arg)
        for item in items:
            if isinstance(item, Fingerprint) and snapshot:
                fingerprint = SNAPSHOT_FINGERPRINT + item.value
                if fingerprint == stored and not run.full_refresh and not unit.rejected:
                    _close(items)  # as last stored, byte for byte: not even parsed
                    if unit.signals:
                        signals = WriteUnit(source.name, stream, store.store_id, signals=unit.signals)
                        run.writer.submit(signals)
                    return records, rejected
                digest, limit = None, run.batch_size  # known to have changed: written batch by batch
                continue
            if isinstance(item, Record):
                if item.stream != stream:
                    parts += 1  # a further record made of the same item (a ticket's close)
                reason, wild = _check(item, run.directory, bounds)
                reason = reason or _collision(keys, item)
                if reason:
                    unit.rejected.append(_unstorable(item, reason, wild, clip))
                    rejected += 1
                    fingerprint = ""
                    digest = None  # quarantined: this snapshot is written as read, and read again next time
                    if wild and item.store_id in run.directory:
                        implausible.add(item.store_id)
                else:
                    unit.records.append(item)
                    records += 1
                    seen.add(item.key)
                    touched.add(item.store_id)
                    c = item.cursor  # counting cursors by number ("10" after "9"), times as text
                    highest = later_cursor(highest, c) if c.isdigit() else max(highest, c)
                    if digest is not None:
                        digest.update(snapshot_material(item))
            elif isinstance(item, Rejected):
                unit.rejected.append(_bounded(item, clip))
                rejected += 1
                if item.implausible and item.store_id in run.directory:
                    implausible.add(item.store_id)
                digest = None  # quarantine it: this snapshot is written as read
                fingerprint = ""  # and read again next time, so its quarantined payloads are seen again
            elif isinstance(item, Checkpoint):
                checkpoint = item.cursor
                flush(checkpoint)
                continue
            elif isinstance(item, Signal) and item.store_id in run.directory:
                unit.signals.append(item)
            if len(unit) >= limit:
                digest = None  # too big to hold until its end: written batch by batch
                flush(None)
        if fingerprint:
            flush(fingerprint, last=True)
            return records, rejected
        if digest is not None:
            value = SNAPSHOT_DIGEST + digest.hexdigest()
            if value == stored:
                if unit.signals:  # unchanged: only its signals (a menu sync time) are news
                    run.writer.submit(WriteUnit(source.name, stream, store.store_id, signals=unit.signals))
                run.count(source.name, stream, kept=records)
                return records, rejected
            flush(value, last=True)
            return records, rejected
        flush(checkpoint if checkpoint is not None else (highest or None), last=True)
        return records, rejected
    except BaseException:
        # What was read but not yet handed on is re-read next time (the cursor stays): not lost, failed.
        run.count(source.name, stream, failed=len(unit.records) + len(unit.rejected))
        raise
    finally:
        run.count(source.name, stream, received=records + rejected, parts=parts)


def _collision(keys: dict[int, tuple[str, int]], record: Record) -> str:
    """Why a record must not replace one read earlier in the same pull under its key ("" when it may).

    The same record again (overlapping windows) or a later version of it (a newer cursor) replaces
    it; anything else is two records sharing one id (a vendor's ids collapsed to one value, `n/a` or
    an overflowed integer), and storing it would merge them under one key without a trace. Memory
    stays bounded: hashes only, and the first `COLLISION_KEYS` keys of a stream's read.
    """
    content = hash((record.occurred_at, record.facts, repr(record.attrs)))
    key = hash(record.key)
    previous = keys.get(key)
    if previous is not None and previous[1] != content and not cursor_after(record.cursor, previous[0]):
        return (
            f"key {clean_text(record.key, 200)!r} read twice in one pull with different content and no "
            "newer cursor: two records share one id"
        )
    if previous is not None or len(keys) < COLLISION_KEYS:
        keys[key] = (record.cursor, content)
    return ""


def _close(items: Iterator[Item]) -> None:
    """Stop a connector's stream midway (its generator's `finally` blocks run now, not at collection)."""
    close = getattr(items, "close", None)
    if close is not None:
        close()


def snapshot_material(record: Record) -> bytes:
    """What a snapshot's digest covers of a record: everything stored (key, store, time, facts, attrs)."""
    facts = [(f.metric, f.dimension, f.value) for f in record.facts]
    return repr((record.key, record.store_id, record.occurred_at.isoformat(), facts, record.attrs)).encode()


def _pull_store(run: _Run, source: Source, store: StoreRef) -> StoreOutcome:
    """Fetch every stream of one store; storing is the writer's (its failures join the outcome later)."""
    started = run.clock()
    log_ctx = {"source": source.name, "store": store.store_id}
    run.writer.submit(StoreMark(source.name, store.store_id))
    per_stream: dict[str, int] = {}
    rejected = 0
    errors: list[str] = []
    touched: set[str] = set()
    implausible: set[str] = set()
    try:
        connector = source.connector(store)
        streams = tuple(connector.streams)
    except Exception as exc:  # one store's bad setup must not stop the others
        errors.append(_describe(exc))
        log.warning("pull_store_setup_failed", error=_describe(exc), **log_ctx)
        streams = ()
        connector = None
    for stream in streams:
        try:
            n, r = _pull_stream(run, source, connector, store, stream, touched, implausible)
        except Exception as exc:  # recorded per store; the other stores and streams go on
            errors.append(f"{stream}: {_describe(exc)}")
            # A source's own failure is expected news; anything else is a bug, logged with its traceback.
            expected = isinstance(exc, SourceError | ValueError)
            log.warning(
                "pull_stream_failed", stream=stream, error=_describe(exc), exc_info=not expected, **log_ctx
            )
            continue
        per_stream[stream] = n
        rejected += r
    records = sum(per_stream.values())
    error = "; ".join(errors)
    if store.store_id == ALL_STORES:
        # A feed of every store answered: each store's data from it is current, with or without records;
        # unless the source also pulls each store apart, whose own outcome (an error) must stand.
        touched = set() if store.attrs.get(STORES_PULLED_APART) else touched | set(run.directory)
    mark = StoreMark(
        source.name, store.store_id, True, error, records, frozenset(touched), frozenset(implausible)
    )
    run.writer.submit(mark)
    seconds = run.clock() - started
    if errors:
        log.warning("pull_store_failed", records=records, rejected=rejected, error=error, **log_ctx)
    else:
        log.info("pull_store_done", records=records, rejected=rejected, seconds=round(seconds, 3), **log_ctx)
    return StoreOutcome(source.name, store.store_id, records, rejected, error, seconds, per_stream)


def _with_write_errors(outcome: StoreOutcome, writer: PullWriter) -> StoreOutcome:
    """A store's outcome once the writer is done: storing failures count as the store's errors."""
    failed = writer.errors(outcome.source, outcome.store_id)
    if not failed:
        return outcome
    return replace(outcome, error="; ".join([e for e in [outcome.error] if e] + failed))


def _describe(exc: BaseException) -> str:
    """A source's own errors read as they are; anything else is prefixed with its type."""
    return redact.error(exc, with_type=not isinstance(exc, SourceError | SecretError | Invalid))


def _in_context(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` in a copy of the caller's context, so a pool thread's log events keep run_id, job and shard."""
    ctx = contextvars.copy_context()
    return lambda *args: ctx.run(fn, *args)


def _screen(
    run: _Run, source: Source, listed: Sequence[StoreRef | Rejected]
) -> tuple[list[StoreRef], list[Rejected]]:
    """A source's listed stores split into those fit for the directory and those quarantined.

    A store id of megabytes would be copied into every key, log line and query of the pull.
    """
    bounds = run.bounds.setdefault(source.name, Bounds.of(source, run.now))
    clip = bounds.limits.quarantine_bytes
    refs: list[StoreRef] = []
    bad: list[Rejected] = []
    for item in listed:
        if isinstance(item, Rejected):
            bad.append(_bounded(item, clip))
            continue
        reason = store_problem(item, bounds.limits, bounds.plausible)
        if reason:
            payload = {"store_id": item.store_id, "name": item.name, "state": item.state, "attrs": item.attrs}
            bad.append(Rejected("stores", "", bounded_payload(payload, clip), f"store: {reason}"))
        else:
            refs.append(item)
    if source.provides_directory:  # what other sources list is the directory itself, not news
        run.count(source.name, "stores", received=len(listed), kept=len(refs), quarantined=len(bad))
    return refs, bad


def _list_directory(run: _Run, source: Source, source_errors: dict[str, str]) -> list[StoreRef] | None:
    """The directory source's stores, written to `store` and the run's directory; None when it failed."""
    try:
        run.bounds[source.name] = Bounds.of(source, run.now)
        listed = list(source.stores(list(run.directory.values())))
    except Exception as exc:  # e.g. the directory API is down: other sources use the stored directory
        source_errors[source.name] = _describe(exc)
        log.error("pull_source_failed", source=source.name, error=_describe(exc))
        return None
    refs, bad = _screen(run, source, listed)
    run.store.upsert_stores(source.name, refs)
    run.directory.update({r.store_id: r for r in refs})
    run.store.quarantine(source.name, bad)
    return refs


def _pull_source(
    run: _Run,
    source: Source,
    refs: Sequence[StoreRef] | None,
    stores: Collection[str] | None,
    account_wide: bool,
    source_errors: dict[str, str],
) -> list[StoreOutcome]:
    """One source's stores, `source.concurrency` at a time (its API's limit); `refs` when already listed."""
    try:
        run.bounds[source.name] = Bounds.of(source, run.now)
    except PlausibleError as exc:
        source_errors[source.name] = str(exc)
        log.error("pull_source_failed", source=source.name, error=str(exc))
        return []
    if refs is None:
        try:
            listed = list(source.stores(list(run.directory.values())))
        except Exception as exc:  # this source is down; the others go on
            source_errors[source.name] = _describe(exc)
            log.error("pull_source_failed", source=source.name, error=_describe(exc))
            return []
        refs, bad = _screen(run, source, listed)
        run.store.quarantine(source.name, bad)
    if not account_wide:
        refs = [r for r in refs if r.store_id != ALL_STORES]
    elif (feed := source.feed_ref(run.directory)) is not None:
        refs = [feed, *refs]  # first: its long paged read runs beside the stores' pulls, not after them
    if stores is not None:
        refs = [r for r in refs if r.store_id in stores or r.store_id == ALL_STORES]
    run.cursors[source.name] = run.store.cursors(source.name, [r.store_id for r in refs])
    task = f"pull {source.name}: stores"
    progress.start(task, len(refs))

    def one(ref: StoreRef) -> StoreOutcome:
        outcome = _pull_store(run, source, ref)
        progress.advance(task)
        return outcome

    with ThreadPoolExecutor(max_workers=max(1, source.concurrency), thread_name_prefix=source.name) as pool:
        futures = [pool.submit(_in_context(one), ref) for ref in refs]
        results: list[StoreOutcome] = [f.result() for f in futures]
    progress.finish(task)
    log.info(
        "pull_source_done",
        source=source.name,
        stores=len(results),
        records=sum(o.records for o in results),
        failed=sum(1 for o in results if not o.ok),
    )
    return results


def pull(
    engine: Engine,
    sources: Sequence[Source],
    now: datetime,
    *,
    full_refresh: bool = False,
    since: datetime | None = None,
    run_id: str = "",
    batch_size: int = DEFAULT_BATCH,
    stores: Collection[str] | None = None,
    list_directory: bool = True,
    account_wide: bool = True,
    clock: Callable[[], float] = time.perf_counter,
) -> PullReport:
    """Pull every source: the store directory first, then all sources side by side.

    Each source pulls its stores `concurrency` at a time, its own API's limit, so sources run in
    parallel rather than one after another. `full_refresh` ignores cursors (from `history_days`
    back); `since` starts every stream there. A store's failure is recorded in its outcome and
    `freshness.last_error`; a source whose store list fails is in `source_errors`; the rest go on.

    A shard of a firing passes its `stores`, `list_directory=False` (the firing's owner listed the
    directory: the directory source pulls its stores of the latest stored listing) and
    `account_wide` only in one shard, so a source serving every store at once (`ALL_STORES`) is
    pulled once per firing.
    """
    run_id = run_id or f"pull-{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
    started = clock()
    reads = PullStore(engine, run_id, now)
    directory = reads.directory()
    writer = PullWriter(
        reads.session, run_id, now, directory, analyze=reads.analyzer(), table_rows=reads.records_estimate()
    )
    try:
        return _pull(
            _Run(reads, writer, directory, now, full_refresh, since, max(1, batch_size), clock),
            sources, stores, list_directory, account_wide, started,
        )  # fmt: skip
    finally:
        writer.close()


def _pull(
    run: _Run,
    sources: Sequence[Source],
    stores: Collection[str] | None,
    list_directory: bool,
    account_wide: bool,
    started: float,
) -> PullReport:
    run_id, clock = run.store.run_id, run.clock
    source_errors: dict[str, str] = {}
    log.info("pull_started", run_id=run_id, sources=[s.name for s in sources], full_refresh=run.full_refresh)
    ordered = sorted(sources, key=lambda s: not s.provides_directory)
    listings: dict[int, list[StoreRef]] = {}
    for i, source in enumerate(ordered):
        if not source.provides_directory:
            continue
        if list_directory:
            refs = _list_directory(run, source, source_errors)
        else:
            refs = run.store.listed(source.name, run.directory)
        if refs is not None:
            listings[i] = refs
    jobs = [(i, source) for i, source in enumerate(ordered) if not source.provides_directory or i in listings]
    by_source: dict[int, list[StoreOutcome]] = {}
    with ThreadPoolExecutor(max_workers=max(1, len(jobs)), thread_name_prefix="source") as pool:
        futures = {
            i: pool.submit(
                _in_context(_pull_source), run, source, listings.get(i), stores, account_wide, source_errors
            )
            for i, source in jobs
        }
        by_source = {i: f.result() for i, f in futures.items()}
    run.writer.close()  # everything fetched is stored (or its failure recorded) before the report
    outcomes = [_with_write_errors(o, run.writer) for i in sorted(by_source) for o in by_source[i]]
    report = PullReport(
        run_id,
        run.now,
        clock() - started,
        tuple(outcomes),
        source_errors,
        writer=dict(run.writer.stats),
        tally=_tally(run),
    )
    log.info("pull_done", run_id=run_id, status=report.status, **report.counts())
    if report.unaccounted:
        # Never expected: a record neither stored, quarantined nor failed with its stream is a bug.
        log.error("pull_records_unaccounted", run_id=run_id, streams=report.unaccounted)
    return report


def _tally(run: _Run) -> dict[str, dict[str, int]]:
    """Per `source/stream`: received = stored (written or unchanged) + quarantined + failed."""
    out: dict[str, dict[str, int]] = {}
    keys = set(run.tally) | set(run.writer.tally)
    for source, stream in sorted(keys):
        mine, wrote = run.tally.get((source, stream), {}), run.writer.tally.get((source, stream), {})
        out[f"{source}/{stream}"] = {
            "received": mine.get("received", 0),
            "stored": wrote.get("stored", 0) + mine.get("kept", 0),
            "quarantined": wrote.get("quarantined", 0) + mine.get("quarantined", 0),
            "failed": wrote.get("failed", 0) + mine.get("failed", 0),
        }
        if mine.get("parts"):
            out[f"{source}/{stream}"]["parts"] = mine["parts"]  # received records that share an item
    return out


def run_pull(
    raw_sources: Sequence[Mapping[str, Any]],
    engine: Engine,
    now: datetime,
    run_id: str = "",
    full_refresh: bool = False,
    since: date | datetime | None = None,
    stores: Collection[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    menu_health: bool = True,
    runtime: Runtime | None = None,
    list_directory: bool = True,
    account_wide: bool = True,
) -> PullReport:
    """The pull job as the worker runs it: validate and build `[[sources]]`, pull, then menu health.

    The sources get `now` as their wall clock, so their windows end where the run says it is.
    A `SourceConfigError` (bad config) propagates; menu health failing is reported, not raised.
    `stores`, `list_directory` and `account_wide` are a shard's part of a firing (see `pull`).
    """
    env = environ if environ is not None else Runtime().env
    configs = parse_sources(raw_sources, "config", env)
    runtime = runtime or Runtime(env=env, now=lambda: now)
    start = (
        datetime.combine(since, clock_time(0), UTC)
        if isinstance(since, date) and not isinstance(since, datetime)
        else since
    )
    sources = build_sources(configs, runtime)
    try:
        report = pull(
            engine,
            sources,
            now,
            full_refresh=full_refresh,
            since=start,
            run_id=run_id,
            stores=stores,
            list_directory=list_directory,
            account_wide=account_wide,
        )
    finally:
        for source in sources:
            source.close()
    menu = next((c for c in configs if c.enabled and c.kind == "platform"), None)
    if not menu_health or menu is None:
        return report
    from jobs.menu_health import run_menu_health  # noqa: PLC0415 - menu health builds on this module

    options = PlatformOptions.model_validate(menu.options)
    try:
        health = run_menu_health(
            engine,
            now,
            menu_source=menu.name,
            stores=stores,
            run_id=report.run_id,
            ca_bundle=menu.ca_bundle,
            concurrency=options.image_check_concurrency,
            image_max_age=timedelta(hours=options.image_max_age_hours),
        )
    except Exception as exc:  # derived checks must not lose the pull that succeeded
        log.error("menu_health_failed", error=_describe(exc))
        errors = {**report.source_errors, "menu_health": _describe(exc)}
        return replace(report, source_errors=errors)
    return replace(report, menu_health_stores=len(health.stores))


def refresh_directory(
    raw_sources: Sequence[Mapping[str, Any]],
    engine: Engine,
    now: datetime,
    environ: Mapping[str, str] | None = None,
) -> int:
    """List the directory sources' stores into `store` (no data pulled); the number of stores listed.

    A firing's owner calls it before splitting the pull into shards, so stores new to the directory
    are in this firing's shards and the shards need not each list a directory of thousands of stores.
    A failing listing is logged and leaves the stored directory as it was.
    """
    env = environ if environ is not None else Runtime().env
    sources = build_sources(parse_sources(raw_sources, "config", env), Runtime(env=env, now=lambda: now))
    reads = PullStore(engine, f"directory-{uuid.uuid4().hex[:6]}", now)
    directory = reads.directory()
    writer = PullWriter(reads.session, reads.run_id, now, directory)
    run = _Run(reads, writer, directory, now, False, None, DEFAULT_BATCH, time.perf_counter)
    errors: dict[str, str] = {}
    try:
        listed = [_list_directory(run, source, errors) for source in sources if source.provides_directory]
    finally:
        writer.close()
        for source in sources:
            source.close()
    return sum(len(refs) for refs in listed if refs is not None)
