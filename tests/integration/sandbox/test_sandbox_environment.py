"""SandboxEnvironment: the config it writes loads, logs in to the org by JWT and pulls one store cleanly."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from connectors.catalog import parse_sources
from jobs.pull import run_pull
from sandbox.environment import SandboxEnvironment
from worker.app import App
from worker.settings import load_settings

pytestmark = pytest.mark.integration


def test_environment_end_to_end(tmp_path: Path) -> None:
    with SandboxEnvironment.start(tmp_path / "env") as env:
        assert len(env.portfolio.stores) == 40
        key = env.workdir / "secrets" / "salesforce_jwt_key.pem"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert "NV-001" in env.account_ids and "CA-006" not in env.account_ids

        settings = load_settings(env.config_path, {})
        assert settings.salesforce.login_url == env.org_server.url
        configs = parse_sources(settings.sources, str(env.config_path), {})
        assert {c.name for c in configs} == {
            "platform",
            "pos",
            "treez",
            "flowhub",
            "blaze",
            "metrc",
            "billing",
            "support",
            "nps",
        }
        assert all(c.ca_bundle == str(env.tls.ca_path) for c in configs)
        platform = next(c for c in configs if c.name == "platform")
        assert platform.options == {"portfolio_feeds": True}

        app = App(settings, environ={})
        client = app.org()
        rows = list(client.query("SELECT Id, Store_Id__c FROM Account"))
        assert len(rows) >= 39
        assert {r["Store_Id__c"] for r in rows} >= {"NV-001", "AZ-001", "MSO-1"}

        now = datetime.now(UTC)
        report = run_pull(settings.sources, app.engine, now, "env-test", False, None, ["NV-001"], {})
        assert report.ok, report.summary()
        by_source = {o.source: o for o in report.outcomes if o.store_id == "NV-001"}
        assert {"platform", "pos", "metrc"} <= set(by_source)
        assert all(o.records > 0 for o in by_source.values()), by_source
        # The company's own feeds (billing, support, NPS, platform analytics) list every store in one pull.
        feeds = {o.source: o for o in report.outcomes if o.store_id == "*"}
        assert set(feeds) == {"billing", "support", "nps", "platform"}
        assert feeds["billing"].streams.get("invoices", 0) >= 5
        assert feeds["platform"].streams["analytics_daily"] >= 1000  # many stores, their whole history
        assert set(by_source["platform"].streams) == {"menu_items", "promotions", "brand_msrp"}
        with app.engine.connect() as conn:
            fresh = conn.execute(
                text("SELECT source, last_success_at FROM freshness WHERE store_id = 'NV-001'")
            ).all()
        assert {"billing", "support", "nps"} <= {source for source, at in fresh if at is not None}

        url = env.sources_server.url
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/__sandbox/stats", verify=str(env.tls.ca_path), timeout=2)
    env.stop()  # idempotent
