"""`csm-sync run` serves Prometheus metrics over HTTP while it runs, and stops serving when it stops."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from worker.app import App
from worker.runner import ExitCode, Outcome
from worker.scheduler import Scheduler, serve
from worker.settings import Settings
from worker.shards import ShardBody, ShardTask

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:  # noqa: S310
        assert resp.status == 200
        body = resp.read().decode()
    return {
        s.name + str(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def test_metrics_endpoint_reports_runs_while_the_scheduler_runs(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings.model_validate(
        {
            "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
            "salesforce": {"auth": "client_credentials", "client_id": "app", "client_secret": "test-secret"},
            "metrics": {"port": port, "host": "127.0.0.1"},
        }
    )
    app = App(settings, environ={}, clock=lambda: datetime.now(UTC))
    ran = threading.Event()

    def body_for(_job: str) -> ShardBody:
        def body(_task: ShardTask) -> Outcome:
            ran.set()
            return Outcome(counts={"applied": {"created": 2, "updated": 1}})

        return body

    stop = threading.Event()
    sched = Scheduler(app, body_for, stop=stop, triggers={"account_health": IntervalTrigger(seconds=0.2)})
    result: list[ExitCode] = []
    t = threading.Thread(
        target=lambda: result.append(
            serve(app, Console(file=StringIO()), scheduler=sched, install_signals=False)
        )
    )
    t.start()
    try:
        assert ran.wait(5)
        deadline = time.monotonic() + 15  # a loaded CI machine
        metrics: dict[str, float] = {}
        while time.monotonic() < deadline:
            metrics = scrape(port)
            firings = "csm_sync_scheduler_firings_total[('job', 'account_health'), ('role', 'owner')]"
            if metrics.get("csm_sync_runs_total[('job', 'account_health'), ('status', 'ok')]", 0) >= 1 and (
                firings in metrics
            ):
                break
            time.sleep(0.2)
        assert metrics["csm_sync_state_store_up[]"] == 1
        assert metrics["csm_sync_runs_total[('job', 'account_health'), ('status', 'ok')]"] >= 1
        assert metrics["csm_sync_records_written_total[('job', 'account_health'), ('op', 'create')]"] >= 2
        assert metrics["csm_sync_last_success_timestamp_seconds[('job', 'account_health')]"] > 0
        assert "csm_sync_scheduler_firings_total[('job', 'account_health'), ('role', 'owner')]" in metrics
    finally:
        stop.set()
        t.join(10)
    assert result == [ExitCode.OK]
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        scrape(port)  # the endpoint went away with the scheduler
