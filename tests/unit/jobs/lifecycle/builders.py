"""Hand-built AccountData for the lifecycle job tests (the Salesforce stand-in is tests/doubles.py)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from jobs.plan import Plan, diff
from mappings.context import AccountData
from mappings.desired import Desired, Managed

MAPPINGS = Path(__file__).resolve().parents[4] / "mappings"
TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
ACCOUNT = {
    "Id": "001A",
    "Name": "Copper Leaf",
    "Store_Id__c": "IL-006",
    "OwnerId": "005AM",
    "CSM__c": "005CSM",
}

Series = dict[tuple[str, str], dict[date, float]]


def daily(series: Series, metric: str, dim: str, start: date, end: date, value: float) -> Series:
    """Set `value` on every day from start to end (inclusive)."""
    d = start
    while d <= end:
        series.setdefault((metric, dim), {})[d] = value
        d += timedelta(days=1)
    return series


def account_data(
    store_id: str = "IL-006",
    *,
    today: date = TODAY,
    account: Mapping[str, Any] | None = None,
    series: Series | None = None,
    last_success: Mapping[str, datetime | None] | None = None,
    freshness: Mapping[str, datetime | None] | None = None,
    records: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    attrs: Mapping[str, Any] | None = None,
    store: Mapping[str, Any] | None = None,
) -> AccountData:
    now = datetime.combine(today, NOW.timetz())
    return AccountData(
        store_id=store_id,
        today=today,
        now=now,
        account={**ACCOUNT, "Store_Id__c": store_id, **(account or {})},
        series=series or {},
        freshness=dict(freshness) if freshness is not None else {"platform": now, "billing": now},
        last_success=dict(last_success or {}),
        attrs=dict(attrs or {}),
        records={k: tuple(v) for k, v in (records or {}).items()},
        store={"store_id": store_id, "state": store_id[:2], "timezone": "UTC", **(store or {})},
    )


def written(
    plan: Plan, current: Mapping[tuple[str, str], Mapping[str, Any]] | None = None
) -> dict[tuple[str, str], dict[str, Any]]:
    """What Salesforce holds after the plan is applied (creates and updates; closes set their fields)."""
    out = {k: dict(v) for k, v in (current or {}).items()}
    for c in plan.changes:
        rec = out.setdefault((c.sobject, c.key), {c.key_field: c.key})
        rec.update(c.fields)
        if c.sobject == "Task":
            rec["IsClosed"] = rec.get("Status") == "Completed"
    return out


def rerun_is_noop(desired: Sequence[Desired], managed: Iterable[Managed] = ()) -> bool:
    """Apply the plan, plan again: nothing left to do."""
    first = diff(desired, {}, managed)
    return diff(desired, written(first), managed).changes == ()
