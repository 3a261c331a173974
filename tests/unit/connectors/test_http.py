"""The shared HTTP client: auth kinds, retries honouring Retry-After, bounded give-up, clear errors."""

from __future__ import annotations

import base64
from email.utils import format_datetime

import pytest
import requests
import responses

from connectors.base import SourceError
from connectors.config import AuthConfig
from connectors.http import (
    Basic,
    Bearer,
    HeaderKey,
    HttpClient,
    HttpStatusError,
    NoAuth,
    OAuth2ClientCredentials,
    QueryKey,
    RateLimiter,
    RetryPolicy,
    build_auth,
    parse_retry_after,
)
from connectors.paging import PaginationConfig, make_paginator
from tests.unit.connectors.helpers import NOW, FakeClock

BASE = "https://api.example.com"


def client(clock: FakeClock, auth: object = None, **kwargs: object) -> HttpClient:
    return HttpClient(
        source="src",
        base_url=BASE,
        session=requests.Session(),
        auth=auth or NoAuth(),  # type: ignore[arg-type]
        runtime=clock.runtime(),
        **kwargs,  # type: ignore[arg-type]
    )


@responses.activate
def test_header_key_query_key_bearer_and_basic_are_sent() -> None:
    responses.get(f"{BASE}/x", json={"ok": 1})
    clock = FakeClock()
    client(clock, HeaderKey("X-Api-Key", "k1")).get_json("/x")
    client(clock, QueryKey("api_key", "k2")).get_json("/x", {"a": "b"})
    client(clock, Bearer("t3")).get_json("/x")
    client(clock, Basic("loc-key", "")).get_json("/x")
    calls = responses.calls
    assert calls[0].request.headers["X-Api-Key"] == "k1"
    assert "api_key=k2" in calls[1].request.url and "a=b" in calls[1].request.url
    assert calls[2].request.headers["Authorization"] == "Bearer t3"
    assert calls[3].request.headers["Authorization"] == "Basic " + base64.b64encode(b"loc-key:").decode()


@responses.activate
def test_every_call_has_a_timeout_and_verifies_tls_with_the_configured_bundle(tmp_path: object) -> None:
    responses.get(f"{BASE}/x", json=[])
    c = client(FakeClock(), timeout=12.5, verify="/etc/ssl/extra.pem")
    c.get_json("/x")
    kwargs = responses.calls[0].request.req_kwargs  # type: ignore[attr-defined]
    assert kwargs["timeout"] == 12.5
    assert kwargs["verify"] == "/etc/ssl/extra.pem"


@responses.activate
def test_oauth2_token_is_cached_refreshed_on_expiry_and_after_401() -> None:
    token_calls: list[str] = []

    def token(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        token_calls.append(str(request.body))
        return (
            200,
            {"Content-Type": "application/json"},
            f'{{"access_token": "t{len(token_calls)}", "expires_in": 3600}}',
        )

    responses.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token)
    responses.get(f"{BASE}/v1/stores", json={"data": []})
    clock = FakeClock()
    auth = OAuth2ClientCredentials("/oauth/token", "cid", "secret", "read")
    c = client(clock, auth)
    c.get_json("/v1/stores")
    c.get_json("/v1/stores")
    assert len(token_calls) == 1
    assert "grant_type=client_credentials" in token_calls[0] and "client_secret=secret" in token_calls[0]
    clock.elapsed += 3600  # expired
    c.get_json("/v1/stores")
    assert len(token_calls) == 2
    assert responses.calls[-1].request.headers["Authorization"] == "Bearer t2"
    # A 401 (revoked token) fetches a new one and retries once.
    responses.reset()
    responses.add_callback(responses.POST, f"{BASE}/oauth/token", callback=token)
    responses.get(f"{BASE}/v1/stores", status=401)
    responses.get(f"{BASE}/v1/stores", json={"data": [1]})
    body, _ = c.get_json("/v1/stores")
    assert body == {"data": [1]}
    assert len(token_calls) == 3


@responses.activate
def test_401_twice_is_an_error_not_a_loop() -> None:
    responses.post(f"{BASE}/oauth/token", json={"access_token": "t", "expires_in": 3600})
    responses.get(f"{BASE}/x", status=401)
    c = client(FakeClock(), OAuth2ClientCredentials("/oauth/token", "cid", "secret"))
    with pytest.raises(HttpStatusError) as err:
        c.get_json("/x")
    assert err.value.status == 401


@responses.activate
def test_retry_after_seconds_is_honoured() -> None:
    responses.get(f"{BASE}/reporting/transactions", status=429, headers={"Retry-After": "7"})
    responses.get(f"{BASE}/reporting/transactions", json=[])
    clock = FakeClock()
    body, _ = client(clock).get_json("/reporting/transactions")
    assert body == []
    assert clock.sleeps == [7.0]


@responses.activate
def test_retry_after_http_date_is_honoured() -> None:
    later = format_datetime(NOW.replace(second=30), usegmt=True)
    responses.get(f"{BASE}/x", status=503, headers={"Retry-After": later})
    responses.get(f"{BASE}/x", json={})
    clock = FakeClock()
    client(clock).get_json("/x")
    assert clock.sleeps == [30.0]


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(format_datetime(NOW.replace(minute=1), usegmt=True), NOW) == 60.0
    assert parse_retry_after(format_datetime(NOW.replace(hour=17), usegmt=True), NOW) == 0.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


@responses.activate
def test_5xx_backs_off_exponentially_with_jitter() -> None:
    for _ in range(3):
        responses.get(f"{BASE}/x", status=502)
    responses.get(f"{BASE}/x", json={})
    clock = FakeClock()
    client(clock, retry=RetryPolicy(max_seconds=60, max_attempts=6, base_seconds=1.0)).get_json("/x")
    assert len(clock.sleeps) == 3
    for n, slept in enumerate(clock.sleeps):
        full = 2.0**n
        assert full / 2 <= slept <= full


@responses.activate
def test_connection_errors_are_retried() -> None:
    responses.get(f"{BASE}/x", body=requests.ConnectionError("reset"))
    responses.get(f"{BASE}/x", json={"ok": True})
    clock = FakeClock()
    assert client(clock).get_json("/x")[0] == {"ok": True}
    assert len(clock.sleeps) == 1


@responses.activate
def test_gives_up_after_the_bounded_time_with_a_clear_error() -> None:
    responses.get(f"{BASE}/x", status=503)
    clock = FakeClock()
    c = client(clock, retry=RetryPolicy(max_seconds=10, max_attempts=50, base_seconds=1.0, cap_seconds=4.0))
    with pytest.raises(SourceError, match=r"src: GET /x failed after \d+ attempt\(s\) over .*HTTP 503"):
        c.get_json("/x")
    assert sum(clock.sleeps) <= 10
    assert len(clock.sleeps) >= 3


@responses.activate
def test_retry_after_beyond_the_budget_gives_up_at_once() -> None:
    responses.get(f"{BASE}/x", status=429, headers={"Retry-After": "3600"})
    clock = FakeClock()
    with pytest.raises(SourceError, match="asked to wait 3600s, beyond the retry budget"):
        client(clock, retry=RetryPolicy(max_seconds=120)).get_json("/x")
    assert clock.sleeps == []


@responses.activate
def test_4xx_is_not_retried() -> None:
    responses.get(f"{BASE}/x", status=404, body="nope")
    clock = FakeClock()
    with pytest.raises(HttpStatusError, match="HTTP 404") as err:
        client(clock).get_json("/x")
    assert err.value.status == 404
    assert clock.sleeps == [] and len(responses.calls) == 1


@responses.activate
def test_html_is_a_clear_source_error() -> None:
    responses.get(
        f"{BASE}/reporting/transactions", body="<html><body>Sign in</body></html>", content_type="text/html"
    )
    with pytest.raises(SourceError) as err:
        client(FakeClock()).get_json("/reporting/transactions", {"a": "1"})
    assert str(err.value) == (
        "src: GET /reporting/transactions returned text/html, not JSON (first bytes: '<html><body>Sign in</body></html>')"
    )


@responses.activate
def test_truncated_json_is_a_clear_source_error() -> None:
    responses.get(f"{BASE}/x", body='{"data": [{"id": 1}, {"id"', content_type="application/json")
    with pytest.raises(SourceError, match=r"returned truncated or invalid JSON \(first bytes: '\{\"data\""):
        client(FakeClock()).get_json("/x")


@responses.activate
def test_query_secrets_never_appear_in_errors() -> None:
    responses.get(f"{BASE}/v2/responses", status=500)
    c = client(FakeClock(), QueryKey("api_key", "s3cret"), retry=RetryPolicy(max_seconds=1, max_attempts=2))
    with pytest.raises(SourceError) as err:
        c.get_json("/v2/responses")
    assert "s3cret" not in str(err.value)


def test_rate_limiter_spaces_calls() -> None:
    clock = FakeClock()
    limiter = RateLimiter(60, clock.runtime())
    for _ in range(4):
        limiter.acquire()
    assert clock.sleeps == [1.0, 1.0, 1.0]


def test_rate_limiter_allows_a_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(120, clock.runtime(), burst=2)
    for _ in range(3):
        limiter.acquire()
    assert clock.sleeps == [0.5]


@responses.activate
def test_rate_limiter_applies_to_requests() -> None:
    responses.get(f"{BASE}/x", json={})
    clock = FakeClock()
    c = client(clock, limiter=RateLimiter(30, clock.runtime()))
    c.get_json("/x")
    c.get_json("/x")
    assert clock.sleeps == [2.0]


@responses.activate
def test_a_next_link_to_another_host_is_refused() -> None:
    responses.get(
        f"{BASE}/v1/invoices", json=[1], headers={"Link": '<https://evil.example.net/steal>; rel="next"'}
    )
    c = client(FakeClock(), HeaderKey("X-Api-Key", "k"))
    with pytest.raises(SourceError, match="another host"):
        list(c.pages("/v1/invoices", {}, make_paginator(PaginationConfig(kind="link_header"))))


@responses.activate
def test_pages_follow_the_link_header_and_read_the_record_path() -> None:
    responses.get(
        f"{BASE}/v1/invoices",
        json={"items": [1, 2]},
        headers={"Link": f'<{BASE}/v1/invoices?page=2>; rel="next"'},
        match=[responses.matchers.query_param_matcher({"store_id": "S"})],
    )
    responses.get(
        f"{BASE}/v1/invoices",
        json={"items": [3]},
        match=[responses.matchers.query_param_matcher({"page": "2"})],
    )
    c = client(FakeClock())
    pages = list(
        c.pages(
            "/v1/invoices", {"store_id": "S"}, make_paginator(PaginationConfig(kind="link_header")), "items"
        )
    )
    assert [p.items for p in pages] == [[1, 2], [3]]


@responses.activate
def test_a_body_without_the_record_list_is_a_source_error() -> None:
    responses.get(f"{BASE}/x", json={"error": "maintenance"})
    with pytest.raises(SourceError, match="no list at 'data.ticketList'"):
        list(client(FakeClock()).pages("/x", {}, make_paginator(PaginationConfig()), "data.ticketList"))


def test_build_auth_resolves_secrets_from_env() -> None:
    clock = FakeClock()
    rt = clock.runtime({"KEY": "abc"})
    auth = build_auth(AuthConfig(kind="api_key_header", header="X-Key", key_env="KEY"), "", rt)
    assert auth == HeaderKey("X-Key", "abc")
    with pytest.raises(ValueError, match="auth.token: environment variable MISSING is not set"):
        build_auth(AuthConfig(kind="bearer", token_env="MISSING"), "", rt)
