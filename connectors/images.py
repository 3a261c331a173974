"""Image link checks: HTTP HEAD with bounded concurrency; anything but 200 (0 = unreachable) is broken.

A recheck of a link seen before is conditional (If-None-Match / If-Modified-Since with the validators
the last 200 carried): a 304 says the image is unchanged, so the cached status still holds and no body
is sent, which is what keeps rechecking hundreds of thousands of unchanged links cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests
import structlog
from requests.adapters import HTTPAdapter

log = structlog.get_logger(__name__)

NOT_MODIFIED = 304


@dataclass(frozen=True)
class LinkCheck:
    """A link's status and the validators to ask with next time whether it changed."""

    status: int
    etag: str | None = None
    last_modified: str | None = None
    unchanged: bool = False  # answered 304: `status` is the cached one

    def conditional_headers(self) -> dict[str, str]:
        """The headers that ask "changed since?"; none when the last answer carried no validators."""
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


HeadFn = Callable[[str], int]
CheckFn = Callable[[str, LinkCheck | None], LinkCheck]


def answered(status: int, headers: Mapping[str, str], cached: LinkCheck | None) -> LinkCheck:
    """What an answer says about a link: a 304 keeps the cached status, refreshing validators it sends.

    Validators are kept of a 200 only: a broken link is rechecked plainly, so a fixed image shows at once.
    """
    if status == NOT_MODIFIED and cached is not None:
        return LinkCheck(
            cached.status,
            headers.get("ETag") or cached.etag,
            headers.get("Last-Modified") or cached.last_modified,
            unchanged=True,
        )
    if status != 200:
        return LinkCheck(status)
    return LinkCheck(status, headers.get("ETag") or None, headers.get("Last-Modified") or None)


class ImageChecker:
    """One session for a run's checks; HEAD, falling back to a streamed GET where HEAD is not allowed."""

    def __init__(self, *, timeout: float = 10.0, ca_bundle: str = "", concurrency: int = 8) -> None:
        self.timeout = timeout
        self.verify: bool | str = ca_bundle or True
        self.concurrency = max(1, concurrency)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_maxsize=self.concurrency * 2, max_retries=1)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def check(self, url: str, cached: LinkCheck | None = None) -> LinkCheck:
        """The link's status now; conditional on `cached`'s validators when it has any."""
        if not url.startswith(("http://", "https://")):
            return LinkCheck(0)
        headers = cached.conditional_headers() if cached is not None else {}
        try:
            resp = self.session.head(
                url, headers=headers, timeout=self.timeout, allow_redirects=True, verify=self.verify
            )
            if resp.status_code in (405, 501):
                # Streamed and closed unread: a 200's body is not downloaded, and a 304 has none.
                with self.session.get(
                    url, headers=headers, timeout=self.timeout, allow_redirects=True, verify=self.verify,
                    stream=True,
                ) as got:  # fmt: skip
                    return answered(got.status_code, got.headers, cached if headers else None)
            return answered(resp.status_code, resp.headers, cached if headers else None)
        except requests.RequestException as exc:
            log.info("image_check_failed", url=url, error=type(exc).__name__)
            return LinkCheck(0)

    def status(self, url: str) -> int:
        """A plain check's status."""
        return self.check(url).status

    def close(self) -> None:
        self.session.close()


def plain(head: HeadFn) -> CheckFn:
    """A status-only check (no validators, never conditional), as tests inject one."""
    return lambda url, cached: LinkCheck(head(url))


def check_all(
    due: Mapping[str, LinkCheck | None], check: CheckFn, concurrency: int = 8
) -> dict[str, LinkCheck]:
    """Each URL of `due` checked once (conditionally on its cached check), at most `concurrency` in flight."""
    urls = sorted(due)
    if not urls:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(urls)))) as pool:
        return dict(zip(urls, pool.map(lambda u: check(u, due[u]), urls), strict=True))
