"""The console's pages in-process (no browser, no socket): what it reads through the API and how it escapes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from werkzeug.test import Client

from sandbox.console import ConsoleApp
from sandbox.console.pages import trend_svg
from sandbox.console.views import measure_label
from sandbox.salesforce import Org
from sandbox.server import WSGIAdapter

TODAY = date(2026, 6, 17)
NOW = datetime(2026, 6, 17, 12, tzinfo=UTC)


@pytest.fixture
def org() -> Org:
    org = Org.from_metadata(clock=lambda: NOW)
    aid = org.insert("Account", {"Name": "Quote's <Shop>", "Store_Id__c": "NV-9'9", "Health_Score__c": 44,
                                 "Health_Band__c": "Red"})  # fmt: skip
    org.insert("Risk_Flag__c", {"Account__c": aid, "Name": "Menu", "Status__c": "Open", "Severity__c": "High",
                                "Evidence__c": "<script>alert(1)</script>", "Sync_Key__c": "k1"})  # fmt: skip
    org.insert("Risk_Flag__c", {"Account__c": aid, "Name": "Old", "Status__c": "Resolved", "Severity__c": "Low",
                                "Sync_Key__c": "k2"})  # fmt: skip
    for days, score in ((100, 90), (60, 70), (1, 40)):
        org.insert("Health_Snapshot__c", {"Account__c": aid, "Score__c": score, "Band__c": "Red",
                                          "Snapshot_Date__c": str(TODAY - timedelta(days=days))})  # fmt: skip
    return org


def _client(org: Org) -> Client:
    session = requests.Session()
    session.mount("https://org.local", WSGIAdapter(org))
    return Client(ConsoleApp("https://org.local", org.login, session, TODAY))


def test_account_page_quotes_the_store_in_soql_and_escapes_record_text(org: Org) -> None:
    page = _client(org).get("/accounts/NV-9'9")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Quote&#x27;s &lt;Shop&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "Menu" in html and "Old" not in html  # open flags only
    assert "data-points='2'" in html  # the snapshots of the last 90 days, not the one 100 days back


def test_unknown_pages_and_stores(org: Org) -> None:
    client = _client(org)
    assert client.get("/nowhere").status_code == 404
    assert "No Account has Store_Id__c XX-1" in client.get("/accounts/XX-1").get_data(as_text=True)
    assert "No active user nobody@x.test" in client.get("/list-views?as=nobody@x.test").get_data(as_text=True)


def test_trend_places_points_by_day_and_score() -> None:
    start = TODAY - timedelta(days=90)
    svg = trend_svg([(start, 0.0, "Red"), (TODAY, 100.0, "Green"), (TODAY, None, "")], start, TODAY)
    assert "data-points='2'" in svg
    assert "points='24.0,136.0 536.0,24.0'" in svg  # bottom-left to top-right of the plot area


def test_measure_labels() -> None:
    assert measure_label("a!Account$Health_Score__c") == "Average Health Score"
    assert measure_label("s!Account.Quarterly_Reviews__r$Online_Orders__c") == "Sum Online Orders"
    assert measure_label("RowCount") == "Records"
