"""The latency floor of a cycle: the least time its calls could take at the concurrency each API allows.

Pure arithmetic over what the sandbox counted, so `bench_cycle.py` can read every figure against the
limit its own parameters set. The Salesforce part counts the *minimum* calls the work needs, not the
calls made: one login per replica, a query page per 2,000 records read of each object, a Collections
call per 200 records written of an object (or one Bulk job, five calls, above 2,000), each object
described once, `/limits` once; single-record calls (a File upload) and the rest as they were made.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

QUERY_PAGE = 2_000  # records a query page returns (the REST API's default batch size)
COLLECTIONS_BATCH = 200  # records an sObject Collections call takes
BULK_ABOVE = 2_000  # the writer sends more changed records of an object than this as one Bulk job
BULK_JOB_CALLS = 5  # create, upload, close, one status poll, results
# Calls the work needs as made: each is one record or one question (counted by the sandbox's kinds).
AS_MADE = ("sobject", "composite", "analytics", "listviews", "identity")
# Enterprise Edition's daily API allocation: a base plus so many calls per Salesforce licence.
DAILY_BASE, DAILY_PER_LICENCE = 100_000, 1_000


@dataclass(frozen=True)
class SalesforceMinimum:
    """The fewest calls a cycle's Salesforce work needs, by kind."""

    logins: int
    queries: int
    writes: int
    describes: int
    other: int

    @property
    def total(self) -> int:
        return self.logins + self.queries + self.writes + self.describes + self.other


def salesforce_minimum(
    calls: Mapping[str, int], volume: Mapping[str, Any], replicas: int
) -> SalesforceMinimum:
    """The minimum for the records the cycle read and wrote (`volume` is the sandbox's per-object tally)."""
    read: Mapping[str, int] = volume.get("read", {})
    written: Mapping[str, int] = volume.get("written", {})
    queried = calls.get("query", 0) > 0
    pages = sum(math.ceil(n / QUERY_PAGE) for n in read.values())
    writes = sum(
        BULK_JOB_CALLS if n > BULK_ABOVE else math.ceil(n / COLLECTIONS_BATCH) for n in written.values()
    )
    limits = min(calls.get("limits", 0), replicas)
    return SalesforceMinimum(
        logins=replicas if sum(calls.values()) else 0,
        queries=max(pages, 1 if queried else 0),
        writes=writes,
        describes=len(volume.get("described", ())),
        other=limits + sum(calls.get(kind, 0) for kind in AS_MADE),
    )


@dataclass(frozen=True)
class ImageChecks:
    """A cycle's image link checks by answer: each is a round trip in the images floor, but a 304
    (a conditional recheck of an unchanged image) carries no body."""

    unchanged: int  # answered 304
    full: int  # answered with the status itself (200 with the image's headers, 404, ...)

    @property
    def total(self) -> int:
        return self.unchanged + self.full


def image_checks(statuses: Mapping[str, int]) -> ImageChecks:
    """The image host's answers by status code (the sandbox's `statuses["images"]`), 304s apart."""
    unchanged = int(statuses.get("304", 0))
    return ImageChecks(unchanged, sum(int(n) for n in statuses.values()) - unchanged)


def api_calls(calls: Mapping[str, int]) -> int:
    """Calls made, logins included (a login counts against no allocation, but it costs a round trip)."""
    return sum(calls.values())


def source_floor(calls: int, latency_s: float, in_flight: int, replicas: int = 1) -> float:
    """Seconds a source's calls take at best: calls / concurrency x latency, the replicas sharing them."""
    return calls / max(1, in_flight) / max(1, replicas) * latency_s


@dataclass(frozen=True)
class CycleFloor:
    """A cycle's floor: the slowest source (sources run side by side), then Salesforce in series."""

    pull: float
    slowest: str
    salesforce: float
    minimum: SalesforceMinimum

    @property
    def total(self) -> float:
        return self.pull + self.salesforce


def cycle_floor(
    source_calls: Mapping[str, int],
    in_flight: Mapping[str, int],
    source_latency_s: float,
    minimum: SalesforceMinimum,
    sf_latency_s: float,
    sf_parallel: int = 1,
    replicas: int = 1,
) -> CycleFloor:
    """`in_flight` gives each source's concurrency (a missing source: that of key `*`)."""
    floors = {
        name: source_floor(n, source_latency_s, in_flight.get(name, in_flight.get("*", 1)), replicas)
        for name, n in source_calls.items()
    }
    slowest = max(floors, key=lambda name: floors[name]) if floors else "-"
    return CycleFloor(
        pull=floors.get(slowest, 0.0),
        slowest=slowest,
        salesforce=minimum.total * sf_latency_s / max(1, sf_parallel),
        minimum=minimum,
    )


def daily_share(calls_per_cycle: int, cycles_per_day: int, licences: int) -> float:
    """The share of an Enterprise org's daily API allocation a schedule uses (logins excluded)."""
    return calls_per_cycle * cycles_per_day / (DAILY_BASE + DAILY_PER_LICENCE * licences)
