"""An in-process sandbox org with a fixed clock, and clients mounted on it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from sandbox.salesforce import Org, OrgAdapter

NOW = datetime(2026, 3, 4, 15, 30, tzinfo=UTC)  # a Wednesday
BASE = "https://sandbox.local"
API = f"{BASE}/services/data/v59.0"


@pytest.fixture
def org() -> Org:
    return Org.from_metadata(clock=lambda: NOW, sleep=lambda _s: None)


@pytest.fixture
def http(org: Org) -> requests.Session:
    """A session whose requests to https://sandbox.local are answered by the org, authenticated."""
    session = requests.Session()
    session.mount(BASE, OrgAdapter(org))
    session.headers["Authorization"] = f"Bearer {org.login()}"
    return session


@pytest.fixture
def sf(org: Org) -> Salesforce:
    session = requests.Session()
    session.mount(BASE, OrgAdapter(org))
    return Salesforce(instance_url=BASE, session_id=org.login(), session=session)


@pytest.fixture
def account(org: Org) -> Callable[..., str]:
    counter = iter(range(1, 10_000))

    def make(**fields: Any) -> str:
        n = next(counter)
        return org.insert("Account", {"Name": f"Store {n}", "Store_Id__c": f"NV-{n:03d}"} | fields)

    return make
