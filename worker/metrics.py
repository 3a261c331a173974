"""Prometheus metrics from the run ledger and state store: served by `run`, a textfile after `run-job`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, start_http_server, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from state.engine import Engine
from state.status import Snapshot, job_locks, read_snapshot
from worker.app import App

log = structlog.get_logger(__name__)

PREFIX = "csm_sync"
FAILED_STATUSES = ("failed", "refused")  # the run wrote nothing it meant to (exit 2, 3, 4, or lost)


def _name(name: str) -> str:
    return f"{PREFIX}_{name}"


class StateCollector(Collector):
    """Metrics computed from the shared state store at scrape time, so every replica and every one-shot
    `run-job` reports the same cluster-wide figures (aggregate across replicas with max, not sum)."""

    def __init__(
        self,
        engine: Callable[[], Engine],
        clock: Callable[[], datetime],
        stale_hours: float = 24.0,
        cache_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine, self._clock, self._stale = engine, clock, stale_hours * 3600
        self._cache_seconds, self._monotonic = cache_seconds, monotonic
        self._cached: tuple[float, Snapshot] | None = None
        self._lock = threading.Lock()

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._cached and self._monotonic() - self._cached[0] < self._cache_seconds:
                return self._cached[1]
            snap = read_snapshot(self._engine(), self._clock(), self._stale)
            self._cached = (self._monotonic(), snap)
            return snap

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(_name("state_store_up"), "1 if the state store answered this scrape")
        try:
            snap = self.snapshot()
        except Exception as exc:  # a scrape must not fail because the database is down; say so instead
            log.warning("metrics_read_failed", error=f"{type(exc).__name__}: {exc}")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from self._families(snap)

    def _families(self, snap: Snapshot) -> Iterator[Metric]:
        runs = CounterMetricFamily(_name("runs"), "Runs recorded in the run ledger", labels=["job", "status"])
        for job, status, n in snap.runs:
            runs.add_metric([job, status], n)
        yield runs
        failures = CounterMetricFamily(
            _name("run_failures"), "Runs that failed or were refused (exit 2, 3, 4, or lost)", labels=["job"]
        )
        for job in sorted({j for j, _, _ in snap.runs}):
            failures.add_metric([job], sum(n for j, s, n in snap.runs if j == job and s in FAILED_STATUSES))
        yield failures
        written = CounterMetricFamily(
            _name("records_written"), "Salesforce records written, by operation", labels=["job", "op"]
        )
        for job, op, n in snap.written:
            written.add_metric([job, op], n)
        yield written
        rejected = CounterMetricFamily(
            _name("records_write_failed"), "Salesforce writes that failed (kept for retry)", labels=["job"]
        )
        for job, n in snap.write_failures:
            rejected.add_metric([job], n)
        yield rejected
        pulled = CounterMetricFamily(_name("records_pulled"), "Source records stored", labels=["job"])
        quarantined_total = CounterMetricFamily(
            _name("records_quarantined"), "Source records rejected into quarantine", labels=["job"]
        )
        for job, records, bad in snap.pulled:
            if records or bad:
                pulled.add_metric([job], records)
                quarantined_total.add_metric([job], bad)
        yield pulled
        yield quarantined_total
        calls = CounterMetricFamily(_name("api_calls"), "Salesforce API calls made by runs", labels=["job"])
        for job, n in snap.api_calls:
            calls.add_metric([job], n)
        yield calls
        if snap.api_max is not None:
            used = snap.api_used or 0
            yield GaugeMetricFamily(
                _name("salesforce_api_used"), "The org's API requests used today, as last seen", value=used
            )
            yield GaugeMetricFamily(
                _name("salesforce_api_max"), "The org's daily API request allocation", value=snap.api_max
            )
            yield GaugeMetricFamily(
                _name("salesforce_api_remaining"),
                "API requests left today, as last seen",
                value=max(0, snap.api_max - used),
            )
        success = GaugeMetricFamily(
            _name("last_success_timestamp_seconds"), "When each job last finished with exit 0", labels=["job"]
        )
        for job, t in snap.last_success:
            success.add_metric([job], t)
        yield success
        last = GaugeMetricFamily(
            _name("last_run_timestamp_seconds"), "When each job's latest run finished", labels=["job"]
        )
        code = GaugeMetricFamily(
            _name("last_run_exit_code"), "Exit code of each job's latest run", labels=["job"]
        )
        for job, t, exit_code, _status in snap.last_run:
            last.add_metric([job], t)
            code.add_metric([job], exit_code if exit_code is not None else -1)
        yield last
        yield code
        outbox = GaugeMetricFamily(_name("outbox_rows"), "Outbox rows by status", labels=["status"])
        for status, n in snap.outbox:
            outbox.add_metric([status], n)
        yield outbox
        age = GaugeMetricFamily(
            _name("data_max_age_seconds"),
            "Age of the stalest store's newest data, per source",
            labels=["source"],
        )
        stale = GaugeMetricFamily(
            _name("data_stale_stores"),
            "Stores whose data from a source is stale or missing",
            labels=["source"],
        )
        stores = GaugeMetricFamily(_name("data_stores"), "Stores a source has data for", labels=["source"])
        for source, n, n_stale, max_age in snap.freshness:
            if max_age is not None:
                age.add_metric([source], max_age)
            stale.add_metric([source], n_stale)
            stores.add_metric([source], n)
        yield age
        yield stale
        yield stores
        yield GaugeMetricFamily(
            _name("quarantine_rows"), "Rejected source records kept", value=snap.quarantined
        )
        held = GaugeMetricFamily(
            _name("job_lock_held"), "1 while a run of the job holds its lock", labels=["job"]
        )
        for job, n in snap.locks:
            held.add_metric([job], n)
        yield held
        shards = GaugeMetricFamily(
            _name("shard_leases"), "Shards of unfinished firings, by state", labels=["state"]
        )
        for state, n in snap.shards:
            shards.add_metric([state], n)
        yield shards


class SchedulerMetrics:
    """What only a running scheduler knows: firings it took part in and slots it skipped."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.firings = Counter(
            _name("scheduler_firings"),
            "Scheduled firings this process took part in",
            ["job", "role"],
            registry=registry,
        )
        self.skipped = Counter(
            _name("scheduler_skipped"),
            "Scheduled slots not run (overrun, busy, missed)",
            ["job", "reason"],
            registry=registry,
        )


def registry_for(app: App, cache_seconds: float = 5.0) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        StateCollector(lambda: app.engine, app.clock, app.settings.metrics.stale_hours, cache_seconds)
    )
    return registry


def serve_http(app: App, registry: CollectorRegistry) -> Callable[[], None] | None:
    """Serve /metrics on `[metrics] port` (0: off); returns how to stop it."""
    m = app.settings.metrics
    if not m.port:
        return None
    server, thread = start_http_server(m.port, m.host, registry)
    log.info("metrics_serving", host=m.host, port=server.server_port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def write_textfile(app: App, registry: CollectorRegistry | None = None) -> Path | None:
    """After a one-shot run: write the metrics where node-exporter's textfile collector reads them."""
    target = app.settings.metrics.textfile
    if not target:
        return None
    path = Path(target)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(path), registry or registry_for(app, cache_seconds=0))
    except OSError as exc:  # metrics must never turn a good run into a failed one
        log.warning("metrics_textfile_failed", path=str(path), error=str(exc))
        return None
    return path


def describe(registry: CollectorRegistry) -> dict[str, Any]:
    """name{labels} -> value for every sample, for tests and `status`."""
    out: dict[str, Any] = {}
    for metric in registry.collect():
        for sample in metric.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def status_lines(engine: Engine, now: datetime, stale_hours: float = 24.0) -> list[str]:
    """What `csm-sync status` shows of the same figures: API budget, last successes, locks, shards."""
    snap = read_snapshot(engine, now, stale_hours * 3600)
    lines: list[str] = []
    if snap.api_max:
        used = snap.api_used or 0
        lines.append(
            f"Salesforce API today: {used:,} of {snap.api_max:,} used, {max(0, snap.api_max - used):,} left "
            "(as the latest run saw it)"
        )
    jobs = sorted({j for j, _, _ in snap.runs})
    success = dict(snap.last_success)
    if jobs:
        lines.append(
            "Last success: "
            + "  ·  ".join(
                f"{j} {datetime.fromtimestamp(success[j], UTC):%Y-%m-%d %H:%MZ}"
                if j in success
                else f"{j} never"
                for j in jobs
            )
        )
    for lock in job_locks(engine):
        expires = lock.expires_at
        state = "running" if expires > now else "stale lock (its process stopped; the next run takes it over)"
        run = f", run {lock.run_id}" if lock.run_id else ""
        lines.append(f"{lock.name}: {state}: {lock.owner}{run}, lock until {expires:%Y-%m-%d %H:%M:%SZ}")
    if snap.shards:
        lines.append("Shards of unfinished firings: " + ", ".join(f"{s} {n}" for s, n in snap.shards))
    return lines
