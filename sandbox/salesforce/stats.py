"""Counts of calls by kind, so tests and the demo can say how many API calls a run cost."""

from __future__ import annotations

import threading
from collections import Counter

KINDS = (
    "login", "query", "query_more", "sobject", "collections", "composite", "bulk_create", "bulk_upload",
    "bulk_close", "bulk_poll", "bulk_results", "describe", "limits",
)  # fmt: skip


class CallStats:
    """Every call received is counted, including those answered with an injected fault or an error."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def count(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] += 1

    def snapshot(self) -> dict[str, int]:
        """All known kinds (zero when unused) plus any other kind seen."""
        with self._lock:
            return {k: self._counts.get(k, 0) for k in KINDS} | {
                k: v for k, v in self._counts.items() if k not in KINDS
            }

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
