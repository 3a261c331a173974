"""The connectors against the source sandboxes over HTTPS: every source pulls, facts cover the vocabulary."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Collection, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.base import Runtime, Source
from connectors.catalog import SourceConfigError, build_sources, parse_sources
from connectors.images import ImageChecker, LinkCheck
from jobs.menu_health import StoreMenuHealth, run_menu_health
from jobs.pull import pull, refresh_directory, run_pull
from sandbox.portfolio import Portfolio
from sandbox.server import RunningServer, serve
from sandbox.sources import SourcesApp, build_app
from sandbox.tls import TLSMaterial
from state.engine import Engine, make_engine
from state.migrations import init_schema
from tests.integration.jobs.test_pull import facts, rows, state

pytestmark = pytest.mark.integration

TODAY = date(2026, 6, 17)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SourcesApp, RunningServer, Path]]:
    tmp = tmp_path_factory.mktemp("sandbox")
    app = build_app(Portfolio(7, TODAY, days=21, orders_per_day=12))
    with serve(app, TLSMaterial.create(tmp)) as server:
        yield app, server, tmp


def configs(app: SourcesApp, server: RunningServer, tmp: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    creds = app.credentials
    dutchie_keys = tmp / "dutchie.json"
    dutchie_keys.write_text(
        json.dumps(
            {s: {"username": k.location_key, "password": k.integrator_key} for s, k in creds.dutchie.items()}
        )
    )
    treez_keys = tmp / "treez.json"
    treez_keys.write_text(
        json.dumps({s: {"key": k.api_key, "client_id": k.client_id} for s, k in creds.treez.items()})
    )
    env = {
        "PLATFORM_SECRET": creds.platform_client_secret,
        "METRC_VENDOR": creds.metrc_vendor_key,
        "METRC_USER": creds.metrc_user_key,
        "BILLING_KEY": creds.billing_api_key,
        "SUPPORT_TOKEN": creds.support_token,
        "NPS_KEY": creds.nps_api_key,
    }
    common = {"ca_bundle": str(server.ca_path), "retry_max_seconds": 5, "history_days": 21, "concurrency": 4}

    def url(system: str) -> str:
        return app.url(server.url, system)

    raw = [
        {
            "name": "platform",
            "kind": "platform",
            "base_url": url("platform"),
            "auth": {
                "kind": "oauth2_client_credentials",
                "client_id": creds.platform_client_id,
                "client_secret_env": "PLATFORM_SECRET",
            },
        },
        {
            "name": "dutchie",
            "kind": "dutchie_pos",
            "base_url": url("dutchie"),
            "auth": {"kind": "basic", "per_store_file": str(dutchie_keys)},
        },
        {
            "name": "treez",
            "kind": "treez_pos",
            "base_url": url("treez"),
            "auth": {"kind": "treez_token", "per_store_file": str(treez_keys)},
        },
        {
            "name": "metrc",
            "kind": "metrc",
            "base_url": url("metrc"),
            "auth": {"kind": "basic", "username_env": "METRC_VENDOR", "password_env": "METRC_USER"},
        },
        {
            "name": "billing",
            "kind": "rest",
            "base_url": url("billing"),
            "auth": {"key_env": "BILLING_KEY"},
            "options": {"spec": "billing"},
        },
        {
            "name": "support",
            "kind": "rest",
            "base_url": url("support"),
            "auth": {"token_env": "SUPPORT_TOKEN"},
            "options": {"spec": "support"},
        },
        {
            "name": "nps",
            "kind": "rest",
            "base_url": url("nps"),
            "auth": {"key_env": "NPS_KEY"},
            "options": {"spec": "nps"},
        },
    ]
    return [{**common, **r} for r in raw], env


def pull_portfolio(
    tmp: Path,
    portfolio: Portfolio,
    stores: Collection[str],
    history_days: Callable[[str], int],
    sources: Collection[str] | None = None,
) -> Engine:
    """A fresh SQLite state holding what a pull of `stores` from the portfolio's sandbox APIs stored.

    `history_days(source)` is each source's window; `sources` keeps only those named (all by default).
    """
    app = build_app(portfolio)
    engine = make_engine(f"sqlite:///{tmp / 'state.db'}")
    init_schema(engine)
    with serve(app, TLSMaterial.create(tmp)) as server:
        raw, env = configs(app, server, tmp)
        raw = [
            {**r, "history_days": history_days(r["name"])}
            for r in raw
            if sources is None or r["name"] in sources
        ]
        built = build_sources(
            parse_sources(raw, "sandbox.toml", env), Runtime(env=env, now=lambda: portfolio.now)
        )
        report = pull(engine, built, portfolio.now, stores=set(stores))
        assert report.ok, report.summary()
    return engine


def subset(app: SourcesApp) -> set[str]:
    """Two Dutchie and two Treez stores keep the test quick; the directory still lists all 40."""
    return {*sorted(app.credentials.dutchie)[:2], *sorted(app.credentials.treez)[:2]}


def built(app: SourcesApp, server: RunningServer, tmp: Path) -> list[Source]:
    raw, env = configs(app, server, tmp)
    # The sources' clock is the portfolio's, as the worker gives them the same clock it passes to pull.
    runtime = Runtime(env=env, now=lambda: app.portfolio.now)
    return build_sources(parse_sources(raw, "sandbox.toml", env), runtime)


def test_every_source_pulls_from_the_sandbox_and_feeds_the_vocabulary(
    sandbox: tuple[SourcesApp, RunningServer, Path], tmp_path: Path
) -> None:
    app, server, tmp = sandbox
    app.reset_faults()
    engine = state(tmp_path)
    now = app.portfolio.now
    report = pull(engine, built(app, server, tmp), now, stores=subset(app))
    assert report.ok, report.summary()
    assert report.rejected == 0, rows(engine, "quarantine")[:3]
    metrics = {(k[0], k[2]) for k in facts(engine)}
    expected = (
        {
            ("platform", m)
            for m in (
                "sessions",
                "carts",
                "checkouts",
                "online_orders",
                "online_revenue",
                "logins",
                "active_users",
            )
        }
        | {("billing", "invoiced")}
        | {("support", "tickets_opened")}
        | {("nps", "nps_responses")}
        | {("metrc", "metrc_sales"), ("metrc", "metrc_receipts")}
    )
    pos = {("dutchie", m) for m in ("orders", "revenue", "units")} | {
        ("treez", m) for m in ("orders", "revenue", "units")
    }
    assert expected <= metrics, expected - metrics
    assert pos & metrics, "no POS facts"
    dims = {k[3] for k in facts(engine) if k[2] == "revenue" and k[0] in ("dutchie", "treez")}
    assert {"", "channel=online", "channel=in_store"} <= dims
    assert any(d.startswith("channel=online,category=") for d in dims)
    assert rows(engine, "freshness", "WHERE source='menu_sync'")
    # Menu health runs over what was pulled, checking the sandbox's image links.
    health = run_menu_health(engine, now, head=lambda url: 200, stores=subset(app))
    assert {h.store_id for h in health.stores} == subset(app)
    # A second pull of the same window changes nothing.
    before = facts(engine)
    again = pull(engine, built(app, server, tmp), now, stores=subset(app))
    assert again.ok and facts(engine) == before


def test_stores_answering_html_or_truncated_json_fail_alone(
    sandbox: tuple[SourcesApp, RunningServer, Path], tmp_path: Path
) -> None:
    app, server, tmp = sandbox
    html, truncated = sorted(app.credentials.dutchie)[:2]
    app.reset_faults()
    app.set_faults("dutchie", html_stores=[html], truncated_stores=[truncated])
    try:
        engine = state(tmp_path)
        sources = [s for s in built(app, server, tmp) if s.name in ("platform", "dutchie", "treez")]
        report = pull(engine, sources, app.portfolio.now, stores=subset(app))
    finally:
        app.reset_faults()
    failed = {(o.source, o.store_id): o.error for o in report.failed}
    assert sorted(failed) == sorted([("dutchie", html), ("dutchie", truncated)])
    assert "returned text/html, not JSON (first bytes: " in failed[("dutchie", html)]
    assert "returned truncated or invalid JSON (first bytes: " in failed[("dutchie", truncated)]
    fresh = {r["store_id"]: r["last_error"] for r in rows(engine, "freshness", "WHERE source='dutchie'")}
    assert fresh[html] == failed[("dutchie", html)]
    others = [o for o in report.outcomes if o.source == "treez"]
    assert others and all(o.ok and o.records > 0 for o in others)


def test_menu_health_finds_the_planted_menu_scenarios(
    sandbox: tuple[SourcesApp, RunningServer, Path], tmp_path: Path
) -> None:
    """NV-001: five top sellers with POS stock are out of stock or hidden online, menu synced 30 h ago.
    AZ-001: edibles hidden, out of stock, and three image links the image host answers 404 to."""
    app, server, tmp = sandbox
    app.reset_faults()
    engine = state(tmp_path)
    now = app.portfolio.now
    sources = [s for s in built(app, server, tmp) if s.name in ("platform", "dutchie", "treez")]
    assert pull(engine, sources, now, stores={"NV-001", "AZ-001"}).ok
    report = run_menu_health(engine, now, stores={"NV-001", "AZ-001"}, ca_bundle=str(server.ca_path))
    health = {h.store_id: h for h in report.stores}
    nv, az = health["NV-001"], health["AZ-001"]
    assert len(nv.unavailable) == 5
    assert sorted(t.menu_state for t in nv.unavailable) == [
        "hidden",
        "hidden",
        "out_of_stock",
        "out_of_stock",
        "out_of_stock",
    ]
    assert all(t.pos_stock > 0 for t in nv.unavailable)
    assert nv.last_menu_sync_at is not None and (now - nv.last_menu_sync_at).total_seconds() / 3600 >= 24
    assert az.counts[("menu_broken_images", "category=edibles")] == 3.0
    assert az.counts[("menu_items_hidden", "category=edibles")] == 2.0
    assert az.counts[("menu_items_out_of_stock", "category=edibles")] == 2.0


def test_a_recheck_after_the_age_is_answered_304_and_keeps_the_status(
    sandbox: tuple[SourcesApp, RunningServer, Path], tmp_path: Path
) -> None:
    """AZ-001's images over HTTPS: checked plainly once, then conditionally once they are older than the
    age; the image host answers 304 to the good ones, and its three broken links are asked again plainly."""
    app, server, tmp = sandbox
    app.reset_faults()
    engine = state(tmp_path)
    now, stores, age = app.portfolio.now, {"AZ-001"}, timedelta(hours=6)
    platform = [s for s in built(app, server, tmp) if s.name == "platform"]
    assert pull(engine, platform, now, stores=stores).ok

    def health(at: datetime) -> tuple[StoreMenuHealth, int, int, dict[str, int]]:
        app.reset_stats()
        report = run_menu_health(engine, at, stores=stores, ca_bundle=str(server.ca_path), image_max_age=age)
        (store,) = report.stores
        return (
            store,
            report.images_checked,
            report.images_unchanged,
            app.stats()["statuses"].get("images", {}),
        )

    first, checked, unchanged, answers = health(now)
    good = answers["200"]
    assert good > 0 and answers == {"200": good, "404": 3} and (checked, unchanged) == (good + 3, 0)
    assert health(now + timedelta(hours=1))[1:] == (0, 0, {})  # younger than the age: nothing asked
    later = now + age + timedelta(minutes=1)
    again, checked, unchanged, answers = health(later)
    assert answers == {"304": good, "404": 3} and (checked, unchanged) == (good + 3, good)
    assert again.counts == first.counts and again.counts[("menu_broken_images", "category=edibles")] == 3.0
    kept = rows(engine, "image_check")
    assert {str(r["checked_at"])[:16] for r in kept} == {later.strftime("%Y-%m-%d %H:%M")}  # refreshed
    assert all((r["etag"] is not None) == (r["status"] == 200) for r in kept)
    assert all((r["last_modified"] is not None) == (r["status"] == 200) for r in kept)
    # And again one age on: still 304s, the statuses unchanged.
    assert health(later + age + timedelta(minutes=1))[1:] == (good + 3, good, {"304": good, "404": 3})


def configured(
    sandbox: tuple[SourcesApp, RunningServer, Path], tmp_path: Path
) -> tuple[SourcesApp, list[dict[str, Any]], dict[str, str], Any]:
    """The sandbox without faults, its `[[sources]]` config and secrets, and an empty state store."""
    app, server, tmp = sandbox
    app.reset_faults()
    raw, env = configs(app, server, tmp)
    return app, raw, env, state(tmp_path)


def test_run_pull_builds_sources_from_config_and_runs_menu_health(
    sandbox: tuple[SourcesApp, RunningServer, Path], tmp_path: Path
) -> None:
    app, raw, env, engine = configured(sandbox, tmp_path)
    report = run_pull(raw, engine, app.portfolio.now, "run-1", stores=subset(app), environ=env)
    assert report.run_id == "run-1" and not report.partial, report.summary()
    assert report.menu_health_stores == len(subset(app))
    assert json.loads(json.dumps(report.data))["failures"] == []
    again = run_pull(
        raw, engine, app.portfolio.now, "run-2", since=date(2026, 6, 10), stores=subset(app), environ=env
    )
    assert again.ok
    with pytest.raises(SourceConfigError, match="unknown key"):
        run_pull([{**raw[0], "colour": "red"}], engine, app.portfolio.now, environ=env)


def test_image_checks_run_at_the_platforms_configured_concurrency(
    sandbox: tuple[SourcesApp, RunningServer, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, server, tmp = sandbox
    app.reset_faults()
    raw, env = configs(app, server, tmp)
    lock, in_flight, peak = threading.Lock(), [0], [0]
    check = ImageChecker.check

    def slow_check(self: ImageChecker, url: str, cached: LinkCheck | None = None) -> LinkCheck:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            time.sleep(0.02)  # long enough for every allowed check to be in flight together
            return check(self, url, cached)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(ImageChecker, "check", slow_check)
    peaks = {}
    for n, options in enumerate(({"image_check_concurrency": 3}, {})):
        peak[0] = 0
        platform = {**raw[0], "options": {**raw[0].get("options", {}), **options}}
        engine = state(tmp_path, f"state-{n}.db")  # a fresh image cache each time
        report = run_pull([platform], engine, app.portfolio.now, stores=subset(app), environ=env)
        assert report.ok and report.menu_health_stores == len(subset(app)), report.summary()
        peaks[n] = peak[0]
    assert peaks[0] == 3  # as configured
    assert peaks[1] > 3  # the default, 32, is higher
    with pytest.raises(SourceConfigError, match="image_check_concurrency"):
        run_pull(
            [{**raw[0], "options": {"image_check_concurrency": 0}}], engine, app.portfolio.now, environ=env
        )


def test_the_platforms_image_age_sets_when_links_are_rechecked(
    sandbox: tuple[SourcesApp, RunningServer, Path], tmp_path: Path
) -> None:
    app, raw, env, engine = configured(sandbox, tmp_path)
    platform = {**raw[0], "options": {**raw[0].get("options", {}), "image_max_age_hours": 1}}
    answers = []
    for minutes in (0, 30, 61):
        app.reset_stats()
        at = app.portfolio.now + timedelta(minutes=minutes)
        assert run_pull([platform], engine, at, stores=subset(app), environ=env).ok
        answers.append(app.stats()["statuses"].get("images", {}))
    assert "200" in answers[0] and "304" not in answers[0]
    assert answers[1] == {}  # half an hour old: reused
    assert "304" in answers[2] and "200" not in answers[2]  # an hour old: asked whether it changed
    with pytest.raises(SourceConfigError, match="image_max_age_hours"):
        run_pull(
            [{**raw[0], "options": {"image_max_age_hours": 0.5}}], engine, app.portfolio.now, environ=env
        )


def test_refresh_directory_lists_the_stores_without_pulling_data(
    sandbox: tuple[SourcesApp, RunningServer, Path], tmp_path: Path
) -> None:
    app, raw, env, engine = configured(sandbox, tmp_path)
    assert refresh_directory(raw, engine, app.portfolio.now, env) == 40
    assert len(rows(engine, "store")) == 40
    assert rows(engine, "source_record") == [] and rows(engine, "freshness") == []
