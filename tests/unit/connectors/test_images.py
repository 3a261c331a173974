"""The image link checker: plain first checks, conditional rechecks, a 304 keeping the cached status."""

from __future__ import annotations

import pytest
import responses
from pydantic import ValidationError
from responses import matchers

from connectors.images import ImageChecker, LinkCheck, check_all
from connectors.platform import PlatformOptions

URL = "https://img.example.com/NV-001/p001.png"
ETAG = '"7c98"'
MODIFIED = "Wed, 27 May 2026 00:00:00 GMT"
CACHED = LinkCheck(200, ETAG, MODIFIED)
CONDITIONAL = {"If-None-Match": ETAG, "If-Modified-Since": MODIFIED}


def sent(call: int) -> dict[str, str]:
    headers = responses.calls[call].request.headers
    return {k: headers[k] for k in ("If-None-Match", "If-Modified-Since") if k in headers}


@responses.activate
def test_a_first_check_is_plain_and_keeps_the_validators_of_a_200() -> None:
    responses.head(URL, status=200, headers={"ETag": ETAG, "Last-Modified": MODIFIED})
    assert ImageChecker().check(URL) == LinkCheck(200, ETAG, MODIFIED)
    assert sent(0) == {}


@responses.activate
def test_a_304_reuses_the_cached_status_and_keeps_the_validators() -> None:
    responses.head(URL, status=304, headers={"ETag": ETAG}, match=[matchers.header_matcher(CONDITIONAL)])
    got = ImageChecker().check(URL, CACHED)
    assert got == LinkCheck(200, ETAG, MODIFIED, unchanged=True)  # Last-Modified not resent: the cached one


@responses.activate
def test_a_changed_image_is_the_new_status_with_its_new_validators() -> None:
    newer = "Thu, 03 Dec 2026 08:00:00 GMT"
    responses.head(
        URL, status=200, headers={"ETag": '"new"', "Last-Modified": newer},
        match=[matchers.header_matcher(CONDITIONAL)],
    )  # fmt: skip
    assert ImageChecker().check(URL, CACHED) == LinkCheck(200, '"new"', newer)


@responses.activate
def test_an_image_gone_since_is_broken_and_keeps_no_validators() -> None:
    responses.head(URL, status=404, headers={"ETag": '"error-page"'})
    assert ImageChecker().check(URL, CACHED) == LinkCheck(404)
    assert sent(0) == CONDITIONAL


@responses.activate
def test_the_get_fallback_asks_the_same_question_and_reads_no_body() -> None:
    responses.head(URL, status=405)
    responses.get(URL, status=304, match=[matchers.header_matcher(CONDITIONAL)])
    assert ImageChecker().check(URL, CACHED) == LinkCheck(200, ETAG, MODIFIED, unchanged=True)
    assert [c.request.method for c in responses.calls] == ["HEAD", "GET"]
    assert sent(1) == CONDITIONAL


@responses.activate
def test_the_get_fallback_of_a_changed_image_is_its_new_status() -> None:
    responses.head(URL, status=501)
    responses.get(URL, status=200, body=b"\x89PNG" * 1000, headers={"ETag": '"new"'})
    assert ImageChecker().check(URL, CACHED) == LinkCheck(200, '"new"')
    assert sent(1) == CONDITIONAL


@responses.activate
def test_a_link_without_validators_is_rechecked_plainly() -> None:
    responses.head(URL, status=200)
    assert ImageChecker().check(URL, LinkCheck(200)) == LinkCheck(200)
    assert sent(0) == {}


@responses.activate
def test_only_the_validators_there_are_are_sent() -> None:
    responses.head(URL, status=304)
    assert ImageChecker().check(URL, LinkCheck(200, etag=ETAG)).unchanged
    assert sent(0) == {"If-None-Match": ETAG}


@responses.activate
def test_an_unreachable_host_or_a_non_http_link_is_status_0() -> None:
    assert ImageChecker().check("ftp://img.example.com/a.png") == LinkCheck(0)
    assert ImageChecker().check(URL, CACHED) == LinkCheck(0)  # nothing registered: the connection is refused


def test_check_all_checks_each_url_once_with_its_own_cached_check() -> None:
    seen: list[tuple[str, LinkCheck | None]] = []

    def check(url: str, cached: LinkCheck | None) -> LinkCheck:
        seen.append((url, cached))
        return LinkCheck(200, unchanged=cached is not None)

    got = check_all({"b": CACHED, "a": None}, check, concurrency=4)
    assert got == {"a": LinkCheck(200), "b": LinkCheck(200, unchanged=True)}
    assert sorted(seen, key=lambda s: s[0]) == [("a", None), ("b", CACHED)]
    assert check_all({}, check) == {}


@pytest.mark.parametrize("hours", [0, 0.5, 721, -1])
def test_the_image_age_is_bounded(hours: float) -> None:
    with pytest.raises(ValidationError, match="image_max_age_hours"):
        PlatformOptions.model_validate({"image_max_age_hours": hours})


def test_the_image_age_defaults_to_a_day() -> None:
    assert PlatformOptions().image_max_age_hours == 24
    assert PlatformOptions.model_validate({"image_max_age_hours": 6}).image_max_age_hours == 6
