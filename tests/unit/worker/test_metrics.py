"""Metrics read from the run ledger and state store, for Prometheus and node-exporter's textfile collector."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from io import StringIO
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from sqlalchemy import create_engine
from sqlmodel import Session

from state.tables import Freshness, OutboxEntry, Quarantine, RunRecord
from tests.doubles import FakeClock
from tests.unit.worker.conftest import MARCH
from worker.app import App
from worker.locks import JobLock
from worker.metrics import StateCollector, describe, registry_for, write_textfile
from worker.render import status_board


def seed(app: App, clock: FakeClock) -> None:
    now = clock()
    applied = {"created": 3, "updated": 5, "closed": 1, "failed": 2}
    with Session(app.engine) as s:
        s.add_all(
            [
                RunRecord(
                    id="h1",
                    job="account_health",
                    started_at=now - timedelta(hours=2),
                    finished_at=now - timedelta(hours=2),
                    status="ok",
                    exit_code=0,
                    api_calls=12,
                    api_used=1200,
                    api_max=15000,
                    counts={"applied": applied},
                ),
                RunRecord(
                    id="h2",
                    job="account_health",
                    started_at=now - timedelta(hours=1),
                    finished_at=now - timedelta(hours=1),
                    status="partial",
                    exit_code=1,
                    api_calls=8,
                    api_used=1300,
                    api_max=15000,
                    counts={"applied": {"created": 1}, "resumed": {"updated": 4, "failed": 1}},
                ),
                RunRecord(
                    id="p1",
                    job="pull",
                    started_at=now - timedelta(minutes=30),
                    finished_at=now - timedelta(minutes=29),
                    status="failed",
                    exit_code=3,
                    counts={"records": 400, "rejected": 3},
                ),
                RunRecord(id="p2", job="pull", started_at=now, status="running"),
                OutboxEntry(
                    run_id="h2", seq=1, sobject="Account", key_field="Store_Id__c", key="NV-1", op="update"
                ),
                OutboxEntry(
                    run_id="h2",
                    seq=2,
                    sobject="Task",
                    key_field="Sync_Key__c",
                    key="t",
                    op="create",
                    status="dead",
                ),
                Freshness(source="pos", store_id="NV-1", newest_data_at=now - timedelta(hours=2)),
                Freshness(source="pos", store_id="NV-2", newest_data_at=now - timedelta(hours=30)),
                Freshness(source="pos", store_id="NV-3", newest_data_at=None),
                Freshness(source="nps", store_id="NV-1", newest_data_at=now - timedelta(days=3)),
                Quarantine(run_id="p1", source="pos", stream="orders", store_id="NV-1", reason="bad"),
            ]
        )
        s.commit()


def test_metrics_describe_the_ledger_and_the_store(make_app: Callable[..., App]) -> None:
    clock = FakeClock(MARCH)
    app = make_app(clock)
    seed(app, clock)
    JobLock(app.engine, "pull", timedelta(minutes=5), clock).acquire()
    m = describe(registry_for(app))
    assert m["csm_sync_state_store_up"] == 1
    assert m['csm_sync_runs_total{job="account_health",status="ok"}'] == 1
    assert m['csm_sync_runs_total{job="account_health",status="partial"}'] == 1
    assert m['csm_sync_runs_total{job="pull",status="running"}'] == 1
    assert m['csm_sync_run_failures_total{job="pull"}'] == 1
    assert m['csm_sync_run_failures_total{job="account_health"}'] == 0
    assert m['csm_sync_records_written_total{job="account_health",op="create"}'] == 4
    assert m['csm_sync_records_written_total{job="account_health",op="update"}'] == 9
    assert m['csm_sync_records_written_total{job="account_health",op="close"}'] == 1
    assert m['csm_sync_records_write_failed_total{job="account_health"}'] == 3
    assert not any(k.startswith("csm_sync_records_written_total") and 'job="pull"' in k for k in m)
    assert m['csm_sync_records_pulled_total{job="pull"}'] == 400
    assert m['csm_sync_records_quarantined_total{job="pull"}'] == 3
    assert m['csm_sync_api_calls_total{job="account_health"}'] == 20
    assert m["csm_sync_salesforce_api_used"] == 1300  # the latest reading
    assert m["csm_sync_salesforce_api_remaining"] == 13700
    assert (
        m['csm_sync_last_success_timestamp_seconds{job="account_health"}']
        == (clock() - timedelta(hours=2)).timestamp()
    )
    assert 'csm_sync_last_success_timestamp_seconds{job="pull"}' not in m
    assert m['csm_sync_last_run_exit_code{job="account_health"}'] == 1
    assert m['csm_sync_last_run_exit_code{job="pull"}'] == 3
    assert m['csm_sync_outbox_rows{status="pending"}'] == 1
    assert m['csm_sync_outbox_rows{status="dead"}'] == 1
    assert m['csm_sync_data_max_age_seconds{source="pos"}'] == 30 * 3600
    assert m['csm_sync_data_stale_stores{source="pos"}'] == 2  # 30 h old, and never any data
    assert m['csm_sync_data_stale_stores{source="nps"}'] == 1
    assert m['csm_sync_data_stores{source="pos"}'] == 3
    assert m["csm_sync_quarantine_rows"] == 1
    assert m['csm_sync_job_lock_held{job="pull"}'] == 1


def test_stale_threshold_comes_from_settings(make_app: Callable[..., App]) -> None:
    clock = FakeClock(MARCH)
    app = make_app(clock, metrics={"port": 0, "stale_hours": 48})
    seed(app, clock)
    m = describe(registry_for(app))
    assert m['csm_sync_data_stale_stores{source="pos"}'] == 1


def test_an_unreachable_state_store_is_reported_not_raised(
    make_app: Callable[..., App], tmp_path: Path
) -> None:
    broken = create_engine(f"sqlite:///{tmp_path}/missing-dir/x.db")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(lambda: broken, FakeClock(MARCH)))
    assert describe(registry) == {"csm_sync_state_store_up": 0}


def test_scrapes_are_cached_briefly(make_app: Callable[..., App]) -> None:
    clock = FakeClock(MARCH)
    app = make_app(clock)
    ticks = [0.0]
    collector = StateCollector(lambda: app.engine, clock, cache_seconds=5, monotonic=lambda: ticks[0])
    first = collector.snapshot()
    seed(app, clock)
    assert collector.snapshot() is first
    ticks[0] = 6
    assert collector.snapshot() is not first


def test_run_job_writes_a_textfile_node_exporter_can_read(
    make_app: Callable[..., App], tmp_path: Path
) -> None:
    clock = FakeClock(MARCH)
    target = tmp_path / "textfile" / "csm_sync.prom"
    app = make_app(clock, metrics={"port": 0, "textfile": str(target)})
    seed(app, clock)
    assert write_textfile(app) == target
    families = {f.name: f for f in text_string_to_metric_families(target.read_text())}
    assert families["csm_sync_runs"].type == "counter"
    assert {s.labels["status"] for s in families["csm_sync_runs"].samples} >= {"ok", "partial", "failed"}
    assert not list(tmp_path.glob("textfile/*.tmp*"))  # written atomically


def test_no_textfile_when_not_configured(make_app: Callable[..., App]) -> None:
    assert write_textfile(make_app()) is None


def test_status_shows_the_budget_last_successes_and_who_holds_a_lock(make_app: Callable[..., App]) -> None:
    clock = FakeClock(MARCH)
    app = make_app(clock)
    seed(app, clock)
    lock = JobLock(app.engine, "pull", timedelta(minutes=5), clock, owner="worker-2:41:ab12")
    lock.acquire()
    lock.bind_run("p2")
    JobLock(app.engine, "qbr", timedelta(minutes=5), clock, owner="worker-1:7:cd34").acquire()
    clock.advance(600)  # qbr's holder died ten minutes ago; pull's kept renewing
    assert lock.renew()
    out = StringIO()
    status_board(Console(file=out, width=200), app.engine, clock())
    text = out.getvalue()
    assert "Salesforce API today: 1,300 of 15,000 used, 13,700 left" in text
    assert "Last success: account_health 2026-03-02 07:00Z  ·  pull never" in text
    assert "pull: running: worker-2:41:ab12, run p2, lock until 2026-03-02 09:15:00Z" in text
    assert "qbr: stale lock (its process stopped; the next run takes it over): worker-1:7:cd34" in text
