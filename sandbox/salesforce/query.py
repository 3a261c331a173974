"""Query results paged the way Salesforce pages them: `nextRecordsUrl` cursors over a snapshot."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.ids import IdMinter

MIN_BATCH, MAX_BATCH = 200, 2000
OPEN_CURSOR_LIMIT = 50


@dataclass
class _Cursor:
    records: list[dict[str, Any]]
    page_size: int
    endpoint: str


def batch_size(header: str | None, page_size: int) -> int:
    """`Sforce-Query-Options: batchSize=N` (200..2000), never above the org's configured page size."""
    if not header:
        return page_size
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return min(max(int(value), MIN_BATCH), MAX_BATCH, page_size)
    return page_size


class Cursors:
    """Open query cursors; like Salesforce, old ones are dropped once too many are open."""

    def __init__(self, ids: IdMinter) -> None:
        self._ids = ids
        self._open: OrderedDict[str, _Cursor] = OrderedDict()

    def first_page(
        self, total: int, records: list[dict[str, Any]], page_size: int, version: str, endpoint: str
    ) -> dict[str, Any]:
        if len(records) <= page_size:
            return {"totalSize": total, "done": True, "records": records}
        locator = self._ids.mint("01g")
        self._open[locator] = _Cursor(records, page_size, endpoint)
        while len(self._open) > OPEN_CURSOR_LIMIT:
            self._open.popitem(last=False)
        return self._page(locator, 0, version)

    def next_page(self, token: str, version: str) -> dict[str, Any]:
        locator, _, offset = token.rpartition("-")
        if locator not in self._open or not offset.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(locator, int(offset), version)

    def _page(self, locator: str, offset: int, version: str) -> dict[str, Any]:
        cursor = self._open[locator]
        end = offset + cursor.page_size
        page: dict[str, Any] = {
            "totalSize": len(cursor.records),
            "done": end >= len(cursor.records),
            "records": cursor.records[offset:end],
        }
        # The cursor stays open after its last page so a client retrying that page still gets it.
        if not page["done"]:
            page["nextRecordsUrl"] = f"/services/data/v{version}/{cursor.endpoint}/{locator}-{end}"
        return page
