"""The source sandboxes over real HTTPS: TLS verified against the generated CA, links that lead back."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
import requests

from sandbox.portfolio import Portfolio
from sandbox.server import RunningServer, serve
from sandbox.sources import SourcesApp, build_app
from sandbox.tls import TLSMaterial

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSMaterial:
    return TLSMaterial.create(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture(scope="module")
def app() -> SourcesApp:
    return build_app(Portfolio(7, date(2026, 6, 17)))


@pytest.fixture(scope="module")
def server(app: SourcesApp, tls: TLSMaterial) -> Iterator[RunningServer]:
    with serve(app, tls) as running:
        yield running


@pytest.fixture
def session(tls: TLSMaterial) -> requests.Session:
    return tls.client_session()


def test_tls_is_verified_against_the_sandbox_ca(server: RunningServer) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.url}/__sandbox/stats", timeout=5)  # the system trust store does not know it


def test_platform_menu_and_its_images_over_https(
    server: RunningServer, app: SourcesApp, session: requests.Session
) -> None:
    creds = app.credentials
    token = session.post(
        f"{server.url}/platform/oauth/token",
        timeout=5,
        data={
            "grant_type": "client_credentials",
            "client_id": creds.platform_client_id,
            "client_secret": creds.platform_client_secret,
        },
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    menu = session.get(
        f"{server.url}/platform/v1/stores/AZ-001/menu?limit=100", headers=headers, timeout=5
    ).json()
    assert menu["last_menu_sync_at"]
    statuses = {session.head(item["image_url"], timeout=5).status_code for item in menu["data"]}
    assert statuses == {200, 404}  # the image links lead to this same server, some planted broken
    assert all(item["image_url"].startswith(server.url + "/images/") for item in menu["data"])


def test_the_image_host_answers_304_to_a_conditional_request_that_still_matches(
    server: RunningServer, app: SourcesApp, session: requests.Session
) -> None:
    product = next(p for p in app.portfolio.products("AZ-001") if p.image_ok)
    url = server.url + product.image_path
    first = session.get(url, timeout=5)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.status_code == 200 and first.content.startswith(b"\x89PNG") and etag and modified
    for method in ("HEAD", "GET"):
        for asked in ({"If-None-Match": etag}, {"If-Modified-Since": modified}):
            again = session.request(method, url, headers=asked, timeout=5)
            assert (again.status_code, again.content) == (304, b""), (method, asked)
    changed = session.get(url, headers={"If-None-Match": '"older"'}, timeout=5)
    assert changed.status_code == 200 and changed.content == first.content
    broken = next(p for p in app.portfolio.products("AZ-001") if not p.image_ok)
    gone = session.head(server.url + broken.image_path, headers={"If-None-Match": etag}, timeout=5)
    assert gone.status_code == 404 and "ETag" not in gone.headers


def test_billing_link_header_leads_back_to_the_server(
    server: RunningServer, app: SourcesApp, session: requests.Session
) -> None:
    headers = {"X-Api-Key": app.credentials.billing_api_key}
    response = session.get(f"{server.url}/billing/v1/invoices?per_page=50", headers=headers, timeout=5)
    pages = 1
    while "next" in response.links:
        assert response.links["next"]["url"].startswith(server.url + "/billing/")
        response = session.get(response.links["next"]["url"], headers=headers, timeout=5)
        pages += 1
    assert pages >= 3


def test_concurrent_pos_pulls_and_counters(server: RunningServer, app: SourcesApp, tls: TLSMaterial) -> None:
    stores = list(app.credentials.dutchie)[:12]
    before = app.stats()["requests"]["dutchie"]

    def pull(store_id: str) -> int:
        key = app.credentials.dutchie[store_id]
        with tls.client_session() as s:
            s.auth = (key.location_key, key.integrator_key)
            window = "fromLastModifiedDateUTC=2026-06-14T00:00:00Z&toLastModifiedDateUTC=2026-06-16T00:00:00Z"
            response = s.get(
                f"{server.url}/pos/dutchie/reporting/transactions?{window}&IncludeDetail=true", timeout=10
            )
            response.raise_for_status()
            return len(response.json())

    with ThreadPoolExecutor(max_workers=6) as pool:
        counts = list(pool.map(pull, stores))
    assert all(c >= 0 for c in counts) and sum(counts) > 0
    assert app.stats()["requests"]["dutchie"] - before == len(stores)
