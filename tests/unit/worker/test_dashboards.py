"""The Grafana dashboard and the Prometheus alert rules query only metrics (and labels) that the worker's
exporter really serves: scraped over HTTP from `serve_http` on a seeded state store, as Prometheus would."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import Session

from state.tables import ShardLease
from tests.doubles import FakeClock
from tests.unit.worker.conftest import MARCH
from tests.unit.worker.test_metrics import seed
from worker.app import App
from worker.locks import JobLock
from worker.metrics import SchedulerMetrics, registry_for, serve_http

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "csm-sync.json"
RULES = DEPLOY / "prometheus" / "alerts.yml"
# A metric selector in PromQL: the name, then optionally {label matchers}.
SELECTOR = re.compile(r"\b(csm_sync_[a-z_]+)\b(\{[^}]*\})?")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
PROMQL_LABELS = {"__name__"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def scraped(make_app: Callable[..., App]) -> Iterator[dict[str, set[str]]]:
    """metric name -> label names, from one scrape of the real exporter over HTTP."""
    clock = FakeClock(MARCH)
    app = make_app(clock, metrics={"port": free_port(), "host": "127.0.0.1"})
    seed(app, clock)
    JobLock(app.engine, "pull", timedelta(minutes=5), clock).acquire()
    with Session(app.engine) as session:  # a firing in progress, as on PostgreSQL with several replicas
        session.add(ShardLease(job="account_health", fire_key="k", shard=0, stores=["NV-1"], state="running"))
        session.commit()
    registry = registry_for(app, cache_seconds=0)
    scheduler = SchedulerMetrics(registry)  # what `csm-sync run` adds to the same registry
    scheduler.firings.labels("pull", "owner").inc()
    scheduler.skipped.labels("pull", "overrun").inc()
    stop = serve_http(app, registry)
    assert stop is not None
    try:
        reply = requests.get(f"http://127.0.0.1:{app.settings.metrics.port}/metrics", timeout=10)
        reply.raise_for_status()
    finally:
        stop()
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    yield names


def dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


def rule_exprs() -> list[str]:
    doc = yaml.safe_load(RULES.read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def unknown(exprs: list[str], scraped: dict[str, set[str]]) -> list[str]:
    problems = []
    for expr in exprs:
        try:
            promql_parser.parse(expr)  # what Prometheus would refuse to load
        except ValueError as exc:
            problems.append(f"{expr}: not PromQL: {exc}")
        used = SELECTOR.findall(expr)
        if not used:
            problems.append(f"{expr}: queries no csm_sync metric")
        labels_of_expr: set[str] = set()
        for name, matchers in used:
            if name not in scraped:
                problems.append(f"{expr}: {name} is not exported")
                continue
            labels_of_expr |= scraped[name]
            for label in re.findall(r"([a-z_]+)\s*(?:=~|!~|!=|=)", matchers):
                if label not in scraped[name] | PROMQL_LABELS:
                    problems.append(f"{expr}: {name} has no label {label}")
        for group in GROUPING.findall(expr):
            for label in filter(None, (x.strip() for x in group.split(","))):
                if label not in labels_of_expr:
                    problems.append(f"{expr}: groups by {label}, which none of its metrics carry")
    return problems


def test_the_exporter_serves_what_operations_md_lists(scraped: dict[str, set[str]]) -> None:
    assert {"csm_sync_runs_total", "csm_sync_outbox_rows", "csm_sync_salesforce_api_remaining"} <= set(
        scraped
    )
    assert scraped["csm_sync_runs_total"] == {"job", "status"}


def test_every_dashboard_query_uses_exported_metrics_and_labels(scraped: dict[str, set[str]]) -> None:
    exprs = dashboard_exprs()
    assert len(exprs) >= 15
    assert unknown(exprs, scraped) == []


def test_every_alert_rule_uses_exported_metrics_and_labels(scraped: dict[str, set[str]]) -> None:
    assert unknown(rule_exprs(), scraped) == []


def test_the_check_catches_a_misspelt_metric_or_label(scraped: dict[str, set[str]]) -> None:
    assert unknown(["max(csm_sync_run_total)"], scraped) == [
        "max(csm_sync_run_total): csm_sync_run_total is not exported"
    ]
    assert unknown(['csm_sync_outbox_rows{state="dead"}'], scraped)
    assert unknown(["max by (source) (csm_sync_runs_total)"], scraped)
    assert unknown(["max by (job (csm_sync_runs_total)"], scraped)  # not PromQL


def panel_titles(doc: dict[str, Any]) -> list[str]:
    return [p["title"].lower() for p in doc["panels"]]


def test_the_dashboard_covers_what_operators_look_for() -> None:
    doc = json.loads(DASHBOARD.read_text())
    exprs = " ".join(dashboard_exprs())
    for metric in (
        "csm_sync_runs_total",  # runs per job
        "csm_sync_run_failures_total",  # failures per job
        "csm_sync_records_written_total",  # records
        "csm_sync_records_pulled_total",
        "csm_sync_api_calls_total",  # API calls used
        "csm_sync_salesforce_api_remaining",  # and remaining
        "csm_sync_outbox_rows",  # outbox depth
        "csm_sync_data_max_age_seconds",  # freshness per source
        "csm_sync_data_stale_stores",
    ):
        assert metric in exprs, metric
    cells: dict[tuple[int, int], str] = {}
    for p in doc["panels"]:  # laid out on Grafana's 24-column grid without overlaps
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for cell in ((x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])):
            assert cell not in cells, f"{p['title']} overlaps {cells[cell]}"
            cells[cell] = p["title"]
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids))
    assert doc["uid"] == "csm-sync"
    # Every panel reads the datasource chosen in the dashboard's variable, so it imports anywhere.
    assert all(
        p.get("datasource", {}).get("uid") == "${datasource}" for p in doc["panels"] if p["type"] != "row"
    )


def test_the_alert_rules_cover_failing_jobs_stale_data_and_the_api_allocation() -> None:
    doc = yaml.safe_load(RULES.read_text())
    rules = {r["alert"]: r for g in doc["groups"] for r in g["rules"]}
    assert "csm_sync_last_run_exit_code" in rules["CsmSyncJobFailing"]["expr"]
    assert "csm_sync_data_stale_stores" in rules["CsmSyncDataStale"]["expr"]
    assert "csm_sync_salesforce_api_remaining" in rules["CsmSyncApiAllocationNearlySpent"]["expr"]
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name


def test_compose_provisions_the_dashboard_and_loads_the_rules() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    grafana, prometheus = compose["services"]["grafana"], compose["services"]["prometheus"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in grafana["volumes"] if v.startswith("./")}
    assert (DEPLOY / mounts["./grafana/dashboards"].replace("/var/lib/grafana", "grafana")).exists()
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/csm-sync.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == mounts["./grafana/dashboards"]
    source = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    assert source["datasources"][0]["url"] == "http://prometheus:9090"
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    assert "/etc/prometheus/alerts.yml" in config["rule_files"]
    assert "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in prometheus["volumes"]
    (scrape,) = config["scrape_configs"]
    assert scrape["honor_labels"] is True  # keeps csm-sync's own `job` label
    assert scrape["dns_sd_configs"][0]["names"] == ["worker"]
    assert scrape["dns_sd_configs"][0]["port"] == int(compose["services"]["worker"]["expose"][0])
