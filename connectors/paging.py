"""Paginators (pure): from one page's body and headers to the next request, or None at the end."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from connectors.values import dig

PaginationKind = Literal["none", "page_number", "offset", "skip_take", "cursor", "next_link", "link_header"]


class PaginationConfig(BaseModel):
    """How a stream pages; every name is the API's own parameter or body path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: PaginationKind = "none"
    page_param: str = "page"  # page_number; a `{page}` in the path puts the number in the path instead
    start_page: int = Field(default=1, strict=True)
    size_param: str = ""  # page_number: e.g. "pagesize"; offset: the limit parameter (default "limit")
    # items per page; 0 = the API's default (short-page rule off)
    size: int = Field(default=0, ge=0, strict=True)
    offset_param: str = ""  # offset: default "offset"; skip_take: default "Skip"
    total_path: str = ""  # body path: page_number → total pages ("pages"); offset → total items ("total")
    cursor_param: str = "cursor"  # cursor: the query parameter carrying the next cursor
    cursor_path: str = "next_cursor"  # cursor: where the body holds it (null/"" ends)
    next_path: str = "next"  # next_link: where the body holds the next page's URL
    stop_on_short: bool = Field(default=True, strict=True)  # a page with fewer than `size` items is the last
    max_pages: int = Field(default=10_000, ge=1, strict=True)  # a runaway API must not page forever

    def limit_name(self) -> str:
        return self.size_param or ("Take" if self.kind == "skip_take" else "limit")

    def offset_name(self) -> str:
        return self.offset_param or ("Skip" if self.kind == "skip_take" else "offset")


class PaginationError(ValueError):
    """The API's paging went wrong (a cursor that does not advance, too many pages)."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What to fetch: a path (relative to the base URL) or an absolute URL, plus query parameters."""

    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    number: int = 1  # 1-based count of pages fetched so far, for the page limit
    template: str = ""  # page_number with `{page}` in the path: the path before substitution


@dataclass(frozen=True, slots=True)
class Page:
    body: Any
    headers: Mapping[str, str]  # lower-cased names
    items: list[Any]
    digest: bytes = b""  # of the raw response bytes: an unchanged snapshot is recognised before parsing


class Paginator(Protocol):
    def first(self, path: str, params: Mapping[str, str]) -> PageRequest: ...

    def next(self, request: PageRequest, page: Page) -> PageRequest | None: ...


@dataclass(frozen=True)
class _Base:
    cfg: PaginationConfig

    def _after(self, request: PageRequest, nxt: PageRequest | None) -> PageRequest | None:
        if nxt is None:
            return None
        if nxt.path == request.path and dict(nxt.params) == dict(request.params):
            raise PaginationError(f"the next page is the same request again ({request.path})")
        if request.number >= self.cfg.max_pages:
            raise PaginationError(f"more than {self.cfg.max_pages} pages; refusing to page on")
        return replace(nxt, number=request.number + 1)

    def _short(self, page: Page) -> bool:
        return self.cfg.stop_on_short and self.cfg.size > 0 and len(page.items) < self.cfg.size


class Single(_Base):
    def first(self, path: str, params: Mapping[str, str]) -> PageRequest:
        return PageRequest(path, dict(params))

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        return None


class PageNumber(_Base):
    """`page=1..`; ends on an empty or short page, or at the total page count the body gives."""

    def first(self, path: str, params: Mapping[str, str]) -> PageRequest:
        return self._at(path, params, self.cfg.start_page)

    def _at(self, template: str, params: Mapping[str, str], number: int) -> PageRequest:
        out = dict(params)
        if "{page}" in template:
            path = template.replace("{page}", str(number))
        else:
            path = template
            out[self.cfg.page_param] = str(number)
        if self.cfg.size_param and self.cfg.size:
            out[self.cfg.size_param] = str(self.cfg.size)
        return PageRequest(path, out, template=template)

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        if not page.items or self._short(page):
            return None
        current = self.cfg.start_page + request.number - 1
        if self.cfg.total_path:
            total = dig(page.body, self.cfg.total_path, None)
            if isinstance(total, int) and not isinstance(total, bool) and current >= total:
                return None
        return self._after(request, self._at(request.template or request.path, request.params, current + 1))


class Offset(_Base):
    """`offset`/`limit` (or `Skip`/`Take`); ends on an empty or short page, or past the body's total."""

    def first(self, path: str, params: Mapping[str, str]) -> PageRequest:
        return PageRequest(path, self._params(params, 0))

    def _params(self, params: Mapping[str, str], offset: int) -> dict[str, str]:
        out = dict(params)
        out[self.cfg.offset_name()] = str(offset)
        if self.cfg.size:
            out[self.cfg.limit_name()] = str(self.cfg.size)
        return out

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        if not page.items or self._short(page):
            return None
        try:
            offset = int(request.params.get(self.cfg.offset_name(), "0")) + len(page.items)
        except ValueError:
            offset = len(page.items)
        if self.cfg.total_path:
            total = dig(page.body, self.cfg.total_path, None)
            if isinstance(total, int) and not isinstance(total, bool) and offset >= total:
                return None
        return self._after(request, PageRequest(request.path, self._params(request.params, offset)))


class BodyCursor(_Base):
    """`{"data": […], "next_cursor": "…"}`: pass the cursor back as a parameter; null or "" ends."""

    def first(self, path: str, params: Mapping[str, str]) -> PageRequest:
        return PageRequest(path, dict(params))

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        token = dig(page.body, self.cfg.cursor_path, None)
        if token is None or token == "" or isinstance(token, bool) or not isinstance(token, str | int):
            return None
        params = dict(request.params)
        params[self.cfg.cursor_param] = str(token)
        return self._after(request, PageRequest(request.path, params))


class BodyNextLink(_Base):
    """`{"next": "https://…?page=2"}`: follow the URL as given (it carries its own parameters)."""

    def first(self, path: str, params: Mapping[str, str]) -> PageRequest:
        return PageRequest(path, dict(params))

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        url = dig(page.body, self.cfg.next_path, None)
        if not isinstance(url, str) or not url:
            return None
        return self._after(request, PageRequest(url, {}))


class LinkHeader(_Base):
    """RFC 8288 `Link: <…>; rel="next"`: follow it; no next link ends."""

    def first(self, path: str, params: Mapping[str, str]) -> PageRequest:
        return PageRequest(path, dict(params))

    def next(self, request: PageRequest, page: Page) -> PageRequest | None:
        url = parse_link_header(page.headers.get("link", "")).get("next")
        if not url:
            return None
        return self._after(request, PageRequest(url, {}))


_PARAM = re.compile(r'\s*;\s*([A-Za-z0-9_*!#$%&+.^`|~-]+)\s*(?:=\s*(?:"((?:[^"\\]|\\.)*)"|([^;,\s]*)))?')


def parse_link_header(value: str) -> dict[str, str]:
    """`<u1>; rel="next", <u2>; rel="last"` → {"next": u1, "last": u2}; a rel may list several names.

    Parameters may be quoted and hold commas (`title="a, b"`), so this walks the header rather than
    splitting it on commas.
    """
    links: dict[str, str] = {}
    text = value or ""
    pos = 0
    while True:
        open_at = text.find("<", pos)
        if open_at < 0:
            return links
        close_at = text.find(">", open_at)
        if close_at < 0:
            return links
        url = text[open_at + 1 : close_at].strip()
        pos = close_at + 1
        while (match := _PARAM.match(text, pos)) is not None:
            pos = match.end()
            name, quoted, bare = match.group(1), match.group(2), match.group(3)
            if name.lower() == "rel":
                for rel in (quoted if quoted is not None else bare or "").split():
                    links.setdefault(rel.lower(), url)


def make_paginator(cfg: PaginationConfig) -> Paginator:
    kinds: dict[str, type[_Base]] = {
        "none": Single,
        "page_number": PageNumber,
        "offset": Offset,
        "skip_take": Offset,
        "cursor": BodyCursor,
        "next_link": BodyNextLink,
        "link_header": LinkHeader,
    }
    paginator: Paginator = kinds[cfg.kind](cfg)  # type: ignore[assignment]
    return paginator
