"""Image link checks: HTTP HEAD with bounded concurrency; anything but 200 (0 = unreachable) is broken."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

import requests
import structlog
from requests.adapters import HTTPAdapter

log = structlog.get_logger(__name__)

HeadFn = Callable[[str], int]


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

    def status(self, url: str) -> int:
        if not url.startswith(("http://", "https://")):
            return 0
        try:
            resp = self.session.head(url, timeout=self.timeout, allow_redirects=True, verify=self.verify)
            if resp.status_code in (405, 501):
                with self.session.get(
                    url, timeout=self.timeout, allow_redirects=True, verify=self.verify, stream=True
                ) as got:
                    return got.status_code
            return resp.status_code
        except requests.RequestException as exc:
            log.info("image_check_failed", url=url, error=type(exc).__name__)
            return 0

    def statuses(self, urls: Iterable[str]) -> dict[str, int]:
        return check_all(urls, self.status, self.concurrency)

    def close(self) -> None:
        self.session.close()


def check_all(urls: Iterable[str], head: HeadFn, concurrency: int = 8) -> dict[str, int]:
    """Status per distinct URL, at most `concurrency` checks in flight."""
    unique = sorted(set(urls))
    if not unique:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(unique)))) as pool:
        return dict(zip(unique, pool.map(head, unique), strict=True))
