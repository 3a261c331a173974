"""Build the per-store evaluation inputs (AccountData) from the state store and Salesforce Accounts."""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.salesforce.soql import IN_CHUNK, select_in
from connectors.salesforce.soql import select as soql_select
from jobs.current import Reader
from jobs.portfolio import KeptReader
from mappings.context import AccountData
from mappings.series import DaySeries
from state import facts
from state.engine import Engine
from state.tables import StoreRow

QUERY_PAGE = 2_000  # records per page of a Salesforce query (its default batch size)
ALL_STORES = "Store_Id__c != null"  # every store Account and MSO parent
STREAM_ROWS = 5_000  # rows fetched at a time when reading a chunk's facts and records

# What every job may rely on; mappings add the fields they read and write.
BASE_ACCOUNT_FIELDS = frozenset(
    {
        "Id",
        "Name",
        "Store_Id__c",
        "OwnerId",
        "CSM__c",
        "ParentId",
        "BillingState",
        "Plan__c",
        "Onboarding_Start__c",
        "Health_Override__c",
    }
)


def read_accounts(
    reader: Reader, fields: Iterable[str], stores: Sequence[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Accounts by Store_Id__c: store accounts and the MSO parents above them.

    All of them in one paged query, or with `stores` those stores' Accounts and their parents only:
    a shard of a large portfolio need not page through (and hold) every Account of it. All of them
    through a KeptReader are served from an earlier job's or shard's read while no write changed them.
    """
    wanted = set(fields) | BASE_ACCOUNT_FIELDS
    out: dict[str, dict[str, Any]] = {}
    if stores is None and isinstance(reader, KeptReader):
        for rec in reader.rows("Account", wanted, ALL_STORES):
            out[str(rec["Store_Id__c"])] = rec
        return out
    if stores is None:
        queries: Iterable[str] = [soql_select("Account", wanted, ALL_STORES)]
    else:
        queries = select_in("Account", wanted, "Store_Id__c", sorted(set(stores)))
    for soql in queries:
        for rec in reader.query(soql):
            out[str(rec["Store_Id__c"])] = rec
    if stores is not None:
        have = {str(r.get("Id")) for r in out.values()}
        parents = sorted({str(r["ParentId"]) for r in out.values() if r.get("ParentId")} - have)
        for soql in select_in("Account", wanted, "Id", parents, "Store_Id__c != null"):
            for rec in reader.query(soql):
                out[str(rec["Store_Id__c"])] = rec
    return out


def scoped_read(shard: int, portfolio: int) -> bool:
    """Read only a shard's Accounts when that takes fewer calls than paging through all of them.

    One query per IN_CHUNK stores plus one for their parents, against one call per page of
    QUERY_PAGE Accounts: a 250-store shard reads its own from about 6,000 stores on.
    """
    return math.ceil(shard / IN_CHUNK) + 1 < math.ceil(portfolio / QUERY_PAGE)


def local_today(now: datetime, timezone: str) -> date:
    try:
        return now.astimezone(ZoneInfo(timezone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.date()


def record_windows(jobs: Iterable[object]) -> dict[str, int]:
    """Streams every reading job bounds to recent days (`record_days`), with the longest such bound."""
    out: dict[str, int] = {}
    unbounded: set[str] = set()
    for job in jobs:
        days: Mapping[str, int] = getattr(job, "record_days", {})
        for stream in getattr(job, "streams", ()):
            if stream in days:
                out[stream] = max(out.get(stream, 0), days[stream])
            else:
                unbounded.add(stream)
    return {s: n for s, n in out.items() if s not in unbounded}


def build_account_data(
    engine: Engine,
    store_ids: Sequence[str],
    accounts: Mapping[str, Mapping[str, Any]],
    directory: Mapping[str, StoreRow],
    now: datetime,
    history_days: int,
    streams: Sequence[str] = (),
    extra_attrs: Mapping[str, Mapping[str, Any]] | None = None,
    freshness_aliases: Mapping[str, str] | None = None,
    record_days: Mapping[str, int] | None = None,
) -> list[AccountData]:
    """AccountData for a chunk of stores, with three queries whatever the chunk size.

    `record_days` bounds event streams (online orders) to their recent days: the rest is never read.
    """
    start = now.date() - timedelta(days=history_days + 1)
    base = start.toordinal()
    # Each series straight into a dense array spanning its first to last fact day ([values, offset of
    # values[0] from `start`]), the form the metric functions read: no {day: value} dict to build and
    # densify per store, and no longer than the days the series has (facts come back roughly in day order).
    cells: dict[str, dict[tuple[str, str], list[Any]]] = defaultdict(dict)
    fresh: dict[str, dict[str, datetime | None]] = defaultdict(dict)
    success: dict[str, dict[str, datetime | None]] = defaultdict(dict)
    records: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    ids = list(store_ids)
    with facts.reading(engine, yield_per=STREAM_ROWS) as reads:
        for store_id, metric, dimension, day, value in reads.facts(ids, start):
            i = day.toordinal() - base
            by_key = cells[store_id]
            cell = by_key.get((metric, dimension))
            if cell is None:
                by_key[(metric, dimension)] = [array("d", (0.0 + value,)), i]  # -0.0 reads as 0.0
                continue
            values, offset = cell
            if i < offset:
                values[0:0] = array("d", bytes(8 * (offset - i)))
                cell[1] = offset = i
            elif i - offset >= len(values):
                values.extend(array("d", bytes(8 * (i - offset + 1 - len(values)))))
            values[i - offset] += value
        held: list[tuple[str, str]] = []
        for store_id, source, newest, succeeded, implausible in reads.freshness(ids):
            for name in (source, (freshness_aliases or {}).get(source)):
                if name:
                    _newest(fresh[store_id], name, _aware(newest))
                    _newest(success[store_id], name, _aware(succeeded))
                    if implausible is not None:
                        held.append((store_id, name))
        # Data quarantined as implausible holds the source stale for the store: a score must never
        # rise on the rest of a feed that just sent 1e40 sessions.
        for store_id, name in held:
            fresh[store_id][name] = success[store_id][name] = None
        if streams:
            windows = {s: n for s, n in (record_days or {}).items() if s in streams}
            whole = [s for s in streams if s not in windows]
            reads_of = [reads.records(ids, whole)] if whole else []
            reads_of += [
                reads.records(ids, [s], since=now.date() - timedelta(days=n)) for s, n in windows.items()
            ]
            for found in reads_of:
                for store_id, stream, key, day, attrs in found:
                    records[store_id][stream].append({**attrs, "_key": key, "_day": day.isoformat()})
    out: list[AccountData] = []
    for sid in ids:
        row = directory.get(sid)
        tz = row.timezone if row else "UTC"
        out.append(
            AccountData(
                store_id=sid,
                today=local_today(now, tz),
                now=now,
                account=dict(accounts.get(sid, {})),
                series={
                    k: DaySeries(start + timedelta(days=offset), values)
                    for k, (values, offset) in cells[sid].items()
                },
                freshness=dict(fresh[sid]),
                last_success=dict(success[sid]),
                attrs=dict((extra_attrs or {}).get(sid, {})),
                records={k: tuple(v) for k, v in records[sid].items()},
                store=_store_dict(row),
            )
        )
    return out


def _store_dict(row: StoreRow | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "store_id": row.store_id,
        "name": row.name,
        "state": row.state,
        "timezone": row.timezone,
        "source": row.source,
        **row.attrs,
    }


def _newest(into: dict[str, datetime | None], name: str, t: datetime | None) -> None:
    have = into.get(name)
    into[name] = t if have is None or (t is not None and t > have) else have


def _aware(t: datetime | None) -> datetime | None:
    # SQLite hands datetimes back naive; they were stored as UTC.
    if t is None or t.tzinfo is not None:
        return t
    return t.replace(tzinfo=UTC)
