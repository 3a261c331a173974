"""The one redaction step: known secret values and credential-like parameters never survive it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
import responses

from connectors import redact
from connectors.base import Runtime, SourceError
from connectors.config import resolve_secret
from connectors.http import HttpClient, QueryKey, RetryPolicy

SECRET = "nps_live_4f9a0c2e7b1d"


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    redact.forget_all()
    redact.register([SECRET])
    yield
    redact.forget_all()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"refused key {SECRET}.", "refused key ***."),
        (f"{SECRET}{SECRET}", "******"),
        (
            "Max retries exceeded with url: /v2/responses?store_id=AZ-001&api_key=unregistered123&page=2",
            "Max retries exceeded with url: /v2/responses?store_id=AZ-001&api_key=***&page=2",
        ),
        (
            "GET /x?access_token=abc.def&X-Amz-Signature=0a1b2c&sort=name",
            "GET /x?access_token=***&X-Amz-Signature=***&sort=name",
        ),
        (
            "grant_type=client_credentials&client_secret=s3cr3t&scope=read",
            "grant_type=client_credentials&client_secret=***&scope=read",
        ),
        ("/x?password%3Dhunter22", "/x?password%3D***"),
        (
            '{"access_token": "eyJhbGciOi.payload.sig", "expires_in": 3600}',
            '{"access_token": "***", "expires_in": 3600}',
        ),
        ("Authorization: Bearer 00Dxx0000001gPF!AQ4AQ", "Authorization: Bearer ***"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "Authorization: Basic ***"),
        # Ordinary text is left alone: no credential-like names, no known values.
        ("store_id=NV-001&since=2026-01-01&page=3", "store_id=NV-001&since=2026-01-01&page=3"),
        ("a basic question about the Bearer of bad news", "a basic question about the Bearer of bad news"),
        ("", ""),
    ],
)
def test_text_masks_secrets_and_credential_parameters(raw: str, expected: str) -> None:
    assert redact.text(raw) == expected


def test_values_nested_and_sensitive_keys() -> None:
    got = redact.value(
        {"error": f"x {SECRET}", "counts": [{"detail": SECRET}], "api_key": "anything", "n": 3}
    )
    assert got == {"error": "x ***", "counts": [{"detail": "***"}], "api_key": "***", "n": 3}


def test_known_masks_only_registered_values() -> None:
    assert (
        redact.known(f"https://img.example.com/a.png?sig=abc {SECRET}")
        == "https://img.example.com/a.png?sig=abc ***"
    )


def test_a_pem_key_is_masked_line_by_line() -> None:
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
    pem = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    redact.register([pem])
    assert body not in redact.text(f"could not parse: {body[:64]}")


def test_short_values_are_not_registered() -> None:
    redact.register(["abc", "  "])
    assert redact.text("abc is fine") == "abc is fine"


def test_secrets_resolved_from_env_or_file_register_themselves(tmp_path: object) -> None:
    redact.forget_all()
    value = resolve_secret("K", "", {"K": "env-secret-998877"}, name="auth.key")
    assert redact.text(f"echo {value}") == "echo ***"


def test_ephemeral_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redact, "MAX_EPHEMERAL", 3)
    for i in range(5):
        redact.register_ephemeral(f"token-number-{i}")
    assert redact.text("token-number-0") == "token-number-0"  # forgotten: the oldest beyond the bound
    assert redact.text("token-number-4") == "***"
    assert redact.text(SECRET) == "***"  # configured secrets are never forgotten


def test_scan_cost_does_not_grow_with_the_number_of_secrets() -> None:
    redact.register(f"per-store-key-{i:06d}-xyz" for i in range(20_000))
    line = (
        "nps: GET /v2/responses failed after 6 attempt(s): ConnectionError: HTTPSConnectionPool(host='h') "
        * 2
    )
    start = time.perf_counter()
    for _ in range(200):
        redact.text(line)
    per_call = (time.perf_counter() - start) / 200
    assert per_call < 0.002  # a regex alternation of 20,000 values took ~13 ms a line
    assert redact.text("x per-store-key-019999-xyz y") == "x *** y"


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


@responses.activate
def test_http_errors_carry_no_key_in_message_or_cause() -> None:
    """A connection error's text has the full URL; a 500 may echo the request: both come out masked."""
    clock = _Clock()
    rt = Runtime(clock=clock, sleep=clock.sleep)
    responses.get(
        "https://nps.example.com/down",
        body=requests.ConnectionError(f"Max retries exceeded with url: /down?api_key={SECRET}"),
    )
    responses.get("https://nps.example.com/echo", status=404, body=f"no route for /echo?api_key={SECRET}")
    c = HttpClient(
        source="nps",
        base_url="https://nps.example.com",
        session=requests.Session(),
        auth=QueryKey("api_key", SECRET),
        runtime=rt,
        retry=RetryPolicy(max_attempts=2),
    )
    for path in ("/down", "/echo"):
        with pytest.raises(SourceError) as info:
            c.get_json(path)
        assert SECRET not in str(info.value) and "***" in str(info.value)
        # nothing chained either: a traceback would print the original, URL and all
        assert info.value.__cause__ is None
        assert info.value.__context__ is None or info.value.__suppress_context__
