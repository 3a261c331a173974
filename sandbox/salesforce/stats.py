"""Counts of calls by kind, so tests and the demo can say how many API calls a run cost; and the
records those calls read and wrote per object, so a benchmark can say how few calls the work needed."""

from __future__ import annotations

import csv
import io
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

KINDS = (
    "login", "query", "query_more", "sobject", "collections", "composite", "bulk_create", "bulk_upload",
    "bulk_close", "bulk_poll", "bulk_results", "describe", "limits",
)  # fmt: skip


class CallStats:
    """Every call received is counted, including those answered with an injected fault or an error."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._read: Counter[str] = Counter()
        self._written: Counter[str] = Counter()
        self._described: set[str] = set()

    def count(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def tally(
        self,
        read: Mapping[str, int] | None = None,
        written: Mapping[str, int] | None = None,
        described: str = "",
    ) -> None:
        """Records a successful call returned or wrote, by object, and an object it described."""
        with self._lock:
            self._read.update(read or {})
            self._written.update(written or {})
            if described:
                self._described.add(described)

    def snapshot(self) -> dict[str, int]:
        """All known kinds (zero when unused) plus any other kind seen."""
        with self._lock:
            return {k: self._counts.get(k, 0) for k in KINDS} | {
                k: v for k, v in self._counts.items() if k not in KINDS
            }

    def volume(self) -> dict[str, Any]:
        """Records read (query pages) and written (Collections, Bulk) per object; objects described."""
        with self._lock:
            return {
                "read": dict(sorted(self._read.items())),
                "written": dict(sorted(self._written.items())),
                "described": sorted(self._described),
            }

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._read.clear()
            self._written.clear()
            self._described.clear()


def records_by_object(records: Any) -> Counter[str]:
    """Query or Collections records counted by their `attributes.type`."""
    counts: Counter[str] = Counter()
    for record in records if isinstance(records, list) else ():
        attributes = record.get("attributes") if isinstance(record, dict) else None
        kind = attributes.get("type") if isinstance(attributes, dict) else None
        counts[str(kind or "?")] += 1
    return counts


def csv_rows(data: bytes) -> int:
    """Data rows of a Bulk upload (its header not counted); quoted line breaks stay in their cell."""
    try:
        return max(0, sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8")))) - 1)
    except (UnicodeDecodeError, csv.Error):
        return 0
