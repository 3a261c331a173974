"""Shared fixtures: one default portfolio and the source sandboxes over werkzeug's test client."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import date

import pytest
from werkzeug.test import Client

from sandbox.portfolio import Portfolio
from sandbox.sources import SourcesApp, build_app
from tests.doubles import FakeClock

TODAY = date(2026, 6, 17)  # a Wednesday; 4/20 lies inside the 120-day history


@pytest.fixture(scope="session")
def portfolio() -> Portfolio:
    return Portfolio(7, TODAY)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(monotonic=1_000_000.0)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def app(portfolio: Portfolio, clock: FakeClock, sleeps: list[float]) -> Iterator[SourcesApp]:
    yield build_app(portfolio, clock=clock.clock, sleep=sleeps.append)


@pytest.fixture
def client(app: SourcesApp) -> Client:
    return Client(app)


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def dutchie_auth(app: SourcesApp, store_id: str) -> dict[str, str]:
    key = app.credentials.dutchie[store_id]
    return basic(key.location_key, key.integrator_key)


def platform_auth(client: Client, app: SourcesApp) -> dict[str, str]:
    creds = app.credentials
    response = client.post(
        "/platform/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": creds.platform_client_id,
            "client_secret": creds.platform_client_secret,
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def treez_auth(client: Client, app: SourcesApp, store_id: str) -> tuple[str, dict[str, str]]:
    key = app.credentials.treez[store_id]
    response = client.post(
        f"/pos/treez/v2.0/dispensary/{key.dispensary}/config/api/gettokens",
        data={"client_id": key.client_id, "apikey": key.api_key},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return key.dispensary, {"authorization": response.json["access_token"], "client_id": key.client_id}
