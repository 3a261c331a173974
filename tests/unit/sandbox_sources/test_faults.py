"""Fault knobs and counters: what a connector must survive, switched on at runtime or over HTTP."""

from __future__ import annotations

import json
import threading

import pytest
from werkzeug.test import Client

from sandbox.sources import SourcesApp

from .conftest import FakeClock, dutchie_auth, platform_auth


def _products(client: Client, app: SourcesApp, store_id: str) -> tuple[int, str, str]:
    response = client.get("/pos/dutchie/products?limit=30", headers=dutchie_auth(app, store_id))
    return response.status_code, response.mimetype, response.get_data(as_text=True)


def test_latency_is_added_to_every_request(client: Client, app: SourcesApp, sleeps: list[float]) -> None:
    app.set_faults("dutchie", latency_ms=50)
    for _ in range(3):
        _products(client, app, "NV-004")
    assert sleeps == [0.05, 0.05, 0.05]
    platform_auth(client, app)
    assert len(sleeps) == 3  # other systems are untouched


def test_every_nth_request_is_rate_limited(client: Client, app: SourcesApp) -> None:
    app.set_faults("dutchie", rate_limit_every=3, retry_after=7)
    statuses = []
    for _ in range(6):
        response = client.get("/pos/dutchie/whoami", headers=dutchie_auth(app, "NV-004"))
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["Retry-After"] == "7"
    assert statuses == [200, 200, 429, 200, 200, 429]


def test_error_rate_is_seeded_and_repeatable(client: Client, app: SourcesApp) -> None:
    def run() -> list[int]:
        app.reset_faults()
        app.set_faults("billing", error_rate=0.5)
        key = {"X-Api-Key": app.credentials.billing_api_key}
        return [
            client.get("/billing/v1/invoices?store_id=NV-004", headers=key).status_code for _ in range(20)
        ]

    first = run()
    assert set(first) == {200, 503} and 4 <= first.count(503) <= 16
    assert run() == first
    app.set_faults("billing", error_rate=1.0)
    key = {"X-Api-Key": app.credentials.billing_api_key}
    assert client.get("/billing/v1/invoices", headers=key).status_code == 503


def test_echo_rate_answers_500_repeating_the_request(client: Client, app: SourcesApp) -> None:
    app.set_faults("nps", echo_rate=1.0)
    resp = client.get(
        "/nps/v2/responses?store_id=MA-004&api_key=k-in-query", headers={"X-Api-Key": "k-in-header"}
    )
    assert resp.status_code == 500
    echoed = resp.json["request"]
    assert "api_key=k-in-query" in echoed["url"] and echoed["headers"]["X-Api-Key"] == "k-in-header"
    app.set_faults("nps", echo_rate=0.0)
    assert (
        client.get("/nps/v2/responses", headers={"X-Api-Key": app.credentials.nps_api_key}).status_code == 200
    )


def test_html_page_for_one_store_only(client: Client, app: SourcesApp) -> None:
    app.set_faults("dutchie", html_stores=["NV-004"])
    status, mimetype, body = _products(client, app, "NV-004")
    assert (status, mimetype) == (200, "text/html") and body.startswith("<!DOCTYPE html>")
    assert _products(client, app, "NV-005")[1] == "application/json"


def test_truncated_json_for_one_store(client: Client, app: SourcesApp) -> None:
    app.set_faults("platform", truncated_stores=["AZ-004"])
    headers = platform_auth(client, app)
    broken = client.get("/platform/v1/stores/AZ-004/menu", headers=headers)
    assert broken.status_code == 200 and broken.mimetype == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.get_data(as_text=True))
    json.loads(client.get("/platform/v1/stores/AZ-005/menu", headers=headers).get_data(as_text=True))


def test_malformed_records_are_sprinkled_among_good_ones(client: Client, app: SourcesApp) -> None:
    app.set_faults("dutchie", malformed_stores=["NV-004"])
    window = "fromLastModifiedDateUTC=2026-06-10T00:00:00Z&toLastModifiedDateUTC=2026-06-12T00:00:00Z"
    rows = client.get(
        f"/pos/dutchie/reporting/transactions?{window}&IncludeDetail=true",
        headers=dutchie_auth(app, "NV-004"),
    ).json
    missing_id = [r for r in rows if "transactionId" not in r]
    negative = [r for r in rows if isinstance(r.get("total"), float | int) and r["total"] < 0]
    wrong_type = [r for r in rows if isinstance(r.get("total"), str)]
    assert missing_id and negative and wrong_type
    assert len(missing_id) + len(negative) + len(wrong_type) <= len(rows) // 7 + 1
    clean = client.get(
        f"/pos/dutchie/reporting/transactions?{window}", headers=dutchie_auth(app, "NV-005")
    ).json
    assert all("transactionId" in r and r["total"] > 0 for r in clean)


def test_faults_over_http(client: Client, app: SourcesApp) -> None:
    response = client.post(
        "/__sandbox/faults", json={"*": {"latency_ms": 5}, "treez": {"rate_limit_every": 4}}
    )
    assert response.status_code == 200
    assert response.json["dutchie"]["latency_ms"] == 5 and response.json["treez"]["rate_limit_every"] == 4
    refused = client.post("/__sandbox/faults", json={"dutchie": {"latency_ms": 1, "explode": True}})
    assert refused.status_code == 400 and "explode" in refused.json["message"]
    assert app.faults("dutchie").latency_ms == 5  # a bad request changes nothing
    assert client.post("/__sandbox/faults", json={"metrc": {"html_stores": "NV-001"}}).status_code == 400
    assert client.post("/__sandbox/faults", json={"mainframe": {}}).status_code == 400
    client.post("/__sandbox/faults", json={"reset": True, "nps": {"malformed_stores": ["MA-004"]}})
    current = client.get("/__sandbox/faults").json
    assert current["dutchie"]["latency_ms"] == 0 and current["nps"]["malformed_stores"] == ["MA-004"]


def test_tokens_can_be_expired_and_shortened(client: Client, app: SourcesApp) -> None:
    headers = platform_auth(client, app)
    assert client.post("/__sandbox/tokens/expire", json={"system": "platform"}).status_code == 200
    assert client.get("/platform/v1/stores", headers=headers).status_code == 401
    app.set_faults("platform", token_ttl_seconds=0)
    short = client.post(
        "/platform/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app.credentials.platform_client_id,
            "client_secret": app.credentials.platform_client_secret,
        },
    )
    assert short.json["expires_in"] == 0
    assert (
        client.get(
            "/platform/v1/stores", headers={"Authorization": f"Bearer {short.json['access_token']}"}
        ).status_code
        == 401
    )


def test_stats_count_requests_by_system_and_status(client: Client, app: SourcesApp) -> None:
    client.get("/pos/dutchie/whoami", headers=dutchie_auth(app, "NV-004"))
    client.get("/pos/dutchie/whoami")
    client.get("/nps/v2/responses")
    stats = client.get("/__sandbox/stats").json
    assert stats["requests"]["dutchie"] == 2 and stats["requests"]["nps"] == 1 and stats["total"] == 3
    assert stats["statuses"]["dutchie"] == {"200": 1, "401": 1}
    client.post("/__sandbox/stats/reset")
    assert client.get("/__sandbox/stats").json["total"] == 0


def test_concurrent_requests_are_all_counted(app: SourcesApp) -> None:
    app.set_faults("dutchie", rate_limit_every=5)
    statuses: list[int] = []
    lock = threading.Lock()

    def worker(store_id: str) -> None:
        client = Client(app)
        for _ in range(10):
            status = client.get("/pos/dutchie/whoami", headers=dutchie_auth(app, store_id)).status_code
            with lock:
                statuses.append(status)

    threads = [
        threading.Thread(target=worker, args=(sid,)) for sid in ("NV-001", "NV-004", "IL-001", "MI-001")
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert app.stats()["requests"]["dutchie"] == 40
    assert statuses.count(429) == 8 and statuses.count(200) == 32


def test_per_store_budget_per_rolling_minute(client: Client, app: SourcesApp, clock: FakeClock) -> None:
    app.set_faults("dutchie", per_store_per_minute=3)
    window = "fromLastModifiedDateUTC=2026-06-10T00:00:00Z&toLastModifiedDateUTC=2026-06-10T06:00:00Z"
    url = f"/pos/dutchie/reporting/transactions?{window}"

    def status(store_id: str) -> int:
        return client.get(url, headers=dutchie_auth(app, store_id)).status_code

    assert [status("NV-004") for _ in range(3)] == [200, 200, 200]
    clock.now += 20
    limited = client.get(url, headers=dutchie_auth(app, "NV-004"))
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "40" and "Message" in limited.json
    assert status("NV-005") == 200  # the budget is per location key
    clock.now += 41
    assert status("NV-004") == 200
