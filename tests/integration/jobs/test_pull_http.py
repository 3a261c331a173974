"""The pull job against HTTP sources (recorded shapes via `responses`): directory, per-store errors, resume."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import responses

from connectors.base import Runtime
from connectors.catalog import build_sources, parse_sources
from connectors.values import iso_utc, parse_time
from jobs.pull import pull
from tests.integration.jobs.test_pull import cursor, facts, rows, state
from tests.unit.connectors.helpers import NOW, FakeClock, fixture

pytestmark = pytest.mark.integration

PLAT = "https://platform.example.com"
POS = "https://pos.example.com"
KEYS = {"NV-001": "key-1201", "NV-002": "key-1202"}
LOCATIONS = {"key-1201": 1201, "key-1202": 1202}


def directory_body() -> dict[str, Any]:
    body = fixture("platform_stores")
    nv2 = dict(
        body["data"][0],
        id="NV-002",
        name="Desert Bloom Henderson",
        pos={"kind": "dutchie_pos", "location_id": 1202},
    )
    return {"data": [*body["data"], nv2], "next_cursor": None}


def history() -> list[dict[str, Any]]:
    """Two dozen sales spread over the last 115 days, each modified a minute after it happened."""
    sample = fixture("dutchie_transactions")[1]
    out = []
    for i in range(24):
        when = NOW - timedelta(days=115, hours=1) + timedelta(days=5 * i)
        out.append(
            dict(
                sample,
                transactionId=7000 + i,
                transactionDate=iso_utc(when),
                lastModifiedDateUtc=iso_utc(when + timedelta(minutes=1)),
                total=100.0 + i,
            )
        )
    return out


class FakePos:
    """Dutchie-shaped answers per location key; `html_for` answers a login page; `down_after` fails windows."""

    def __init__(self, html_for: str = "", down_after: int | None = None) -> None:
        self.html_for = html_for
        self.down_after = down_after
        self.windows: list[tuple[str, str, str]] = []
        self.sales = history()

    def key(self, request: requests.PreparedRequest) -> str:
        user = base64.b64decode(str(request.headers["Authorization"]).split()[1]).decode().split(":")[0]
        return user

    def whoami(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        return (
            200,
            {"Content-Type": "application/json"},
            json.dumps({"LocationId": LOCATIONS[self.key(request)]}),
        )

    def transactions(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        key = self.key(request)
        if key == self.html_for:
            return (
                200,
                {"Content-Type": "text/html; charset=utf-8"},
                "<!DOCTYPE html><html><title>Maintenance</title>",
            )
        params = dict(p.split("=", 1) for p in str(request.url).split("?", 1)[1].split("&"))
        start = parse_time(requests.utils.unquote(params["fromLastModifiedDateUTC"]))
        end = parse_time(requests.utils.unquote(params["toLastModifiedDateUTC"]))
        self.windows.append((key, iso_utc(start), iso_utc(end)))
        if self.down_after is not None and len(self.windows) > self.down_after:
            return 503, {}, "unavailable"
        found = [s for s in self.sales if start <= parse_time(s["lastModifiedDateUtc"]) <= end]
        return 200, {"Content-Type": "application/json"}, json.dumps(found)

    def install(self) -> None:
        responses.add_callback(responses.GET, f"{POS}/whoami", callback=self.whoami)
        responses.add_callback(responses.GET, f"{POS}/reporting/transactions", callback=self.transactions)
        responses.get(re.compile(f"{POS}/products.*"), json=[])
        responses.get(re.compile(f"{POS}/reporting/inventory.*"), json=[])


def install_platform() -> None:
    responses.post(f"{PLAT}/oauth/token", json=fixture("platform_token"))
    responses.get(f"{PLAT}/v1/stores", json=directory_body())
    responses.get(re.compile(f"{PLAT}/v1/stores/[^/]+/.+"), json={"data": [], "next_cursor": None})


def sources(tmp_path: Path, clock: FakeClock, **pos: Any) -> list[Any]:
    keys = tmp_path / "dutchie-keys.json"
    keys.write_text(json.dumps(KEYS))
    raw = [
        {
            "name": "platform",
            "kind": "platform",
            "base_url": PLAT,
            "auth": {
                "kind": "oauth2_client_credentials",
                "client_id": "csm",
                "client_secret_env": "PLAT_SECRET",
            },
        },
        {
            "name": "dutchie",
            "kind": "dutchie_pos",
            "base_url": POS,
            "auth": {"kind": "basic", "per_store_file": str(keys)},
            "retry_max_seconds": 30,
            **pos,
        },
    ]
    env = {"PLAT_SECRET": "s"}
    runtime: Runtime = clock.runtime(env)
    return build_sources(parse_sources(raw, "config.toml", env), runtime)


@responses.activate
def test_html_from_one_store_is_its_error_and_the_others_succeed(tmp_path: Path) -> None:
    install_platform()
    FakePos(html_for="key-1202").install()
    engine = state(tmp_path)
    report = pull(engine, sources(tmp_path, FakeClock()), NOW)
    by_store = {(o.source, o.store_id): o for o in report.outcomes}
    assert set(by_store) == {
        ("platform", "NV-001"),
        ("platform", "AZ-001"),
        ("platform", "NV-002"),
        ("dutchie", "NV-001"),
        ("dutchie", "NV-002"),
    }
    bad = by_store[("dutchie", "NV-002")]
    assert bad.error == (
        "transactions: dutchie: GET /reporting/transactions returned text/html, not JSON "
        "(first bytes: '<!DOCTYPE html><html><title>Maintenance</title>')"
    )
    assert by_store[("dutchie", "NV-001")].ok and by_store[("dutchie", "NV-001")].records == 24
    fresh = {r["store_id"]: r for r in rows(engine, "freshness", "WHERE source='dutchie'")}
    assert fresh["NV-002"]["last_error"] == bad.error and fresh["NV-002"]["last_success_at"] is None
    assert fresh["NV-001"]["last_error"] == "" and fresh["NV-001"]["newest_data_at"] is not None
    stores = {r["store_id"]: r for r in rows(engine, "store")}
    assert json.loads(stores["NV-002"]["attrs"])["pos_location_id"] == "1202"
    orders = sum(
        v for k, v in facts(engine, "dutchie").items() if k[1] == "NV-001" and k[2] == "orders" and k[3] == ""
    )
    assert orders == 24
    assert not any(k[1] == "NV-002" for k in facts(engine, "dutchie"))


@responses.activate
def test_a_pull_interrupted_between_windows_resumes_without_double_counting(tmp_path: Path) -> None:
    install_platform()
    reference_pos = FakePos()
    reference_pos.install()
    reference = state(tmp_path, "reference.db")
    pull(reference, sources(tmp_path, FakeClock(), lookback_minutes=0), NOW, stores={"NV-001"})
    responses.reset()

    install_platform()
    broken = FakePos(down_after=2)  # the third 31-day window keeps answering 503 until the budget runs out
    broken.install()
    engine = state(tmp_path)
    report = pull(engine, sources(tmp_path, FakeClock(), lookback_minutes=0), NOW, stores={"NV-001"})
    [failed] = [o for o in report.outcomes if o.source == "dutchie"]
    assert (
        "transactions: dutchie: GET /reporting/transactions failed after" in failed.error
        and "HTTP 503" in failed.error
    )
    stored = cursor(engine, "dutchie", "transactions", "NV-001")
    assert stored == broken.windows[1][2]  # the end of the last window that came through
    responses.reset()

    install_platform()
    resumed = FakePos()
    resumed.install()
    pull(engine, sources(tmp_path, FakeClock(), lookback_minutes=0), NOW, stores={"NV-001"})
    first_from = resumed.windows[0][1]
    assert first_from == iso_utc(
        parse_time(stored) - timedelta(seconds=60)
    )  # the cursor less the 60 s back-buffer
    assert facts(engine) == facts(reference)
    assert cursor(engine, "dutchie", "transactions", "NV-001") == cursor(
        reference, "dutchie", "transactions", "NV-001"
    )
