"""Health snapshots: one Health_Snapshot__c per account per day, the history CSMs chart, with backfill."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from jobs.current import Reader
from jobs.job import JobBase
from jobs.portfolio import rows_in
from mappings.context import AccountData
from mappings.desired import Desired
from mappings.evaluate import evaluate_account
from mappings.lifecycle import mapping_dir
from mappings.load import MappingSet, load_mapping_set

KEY_FIELD = "Snapshot_Key__c"
MAX_BACKFILL_DAYS = 400


@dataclass(frozen=True)
class Score:
    """What the account_health evaluation says of one account on one day."""

    score: float | None
    band: str
    components: Mapping[str, Any] = field(default_factory=dict)  # name -> points/raw/weight, JSON-safe
    stale: bool = False


Scorer = Callable[[AccountData], Score | None]


def snapshot_key(store_id: str, day: date) -> str:
    return f"{store_id}:{day.isoformat()}"


def day_view(data: AccountData, day: date) -> AccountData:
    """The account as it looked on `day`: metric windows end the day before, the clock reads that day.

    AccountData is pure, so a past day is the same data with an earlier `today`; records (invoices,
    tickets) are only known as they are now, which is the one way a backfilled score can differ.
    """
    shift = data.today - day
    return replace(data, today=day, now=data.now - shift)


def snapshot(data: AccountData, result: Score) -> Desired | None:
    """The Health_Snapshot__c of `data.today`; a stale day is recorded too, with no score."""
    value = result.score
    if value is not None and not math.isfinite(float(value)):
        value = None
    if value is None and not result.stale:
        return None
    components: dict[str, Any] = dict(result.components)
    override = data.account.get("Health_Override__c")
    if override not in (None, ""):
        components["_override"] = override  # the CSM's score that Account shows instead
    return Desired(
        sobject="Health_Snapshot__c",
        key_field=KEY_FIELD,
        key=snapshot_key(data.store_id, data.today),
        fields={
            "Name": f"{data.store_id} {data.today.isoformat()}",
            "Snapshot_Date__c": data.today.isoformat(),
            "Score__c": None if value is None else round(float(value)),
            "Band__c": result.band or None,
            "Components__c": json.dumps(components, sort_keys=True, default=str, separators=(",", ":")),
            "Stale__c": bool(result.stale),
        },
        create_only={"Account__c": data.account.get("Id")},
        account_key=data.store_id,
        reason="daily health snapshot",
    )


class SnapshotsJob(JobBase):
    """Writes today's snapshot for every account, or every day of a backfill range.

    Thousands of accounts a day make this the bulk path: the writer switches to Bulk 2.0 above its
    threshold on its own. Scores come from the injected scorer (the account_health evaluation).
    """

    name = "snapshots"

    def __init__(self, scorer: Scorer, days: tuple[date, date] | None = None) -> None:
        if days is not None:
            start, end = days
            if end < start:
                raise ValueError(f"backfill range ends ({end}) before it starts ({start})")
            if (end - start).days + 1 > MAX_BACKFILL_DAYS:
                raise ValueError(f"backfill range is longer than {MAX_BACKFILL_DAYS} days")
        self.scorer = scorer
        self.days = days

    @classmethod
    def build(cls, source: Any, scorer: Scorer | None = None) -> SnapshotsJob:
        """From a loaded mapping set (its health scorer) or a folder; a scorer may be passed in."""
        return cls(scorer or health_scorer(source))

    def backfill(self, start: date, end: date) -> SnapshotsJob:
        """The same job producing the snapshots of every day from `start` to `end` (inclusive)."""
        return SnapshotsJob(self.scorer, (start, end))

    def history_days_for(self, today: date, base: int = 120) -> int:
        """History a run must load so the oldest backfilled day still has its full windows."""
        if self.days is None:
            return base
        return base + max(0, (today - self.days[0]).days)

    @property
    def account_fields(self) -> frozenset[str]:
        return frozenset({"Health_Override__c"})

    def dates(self, data: AccountData) -> list[date]:
        if self.days is None:
            return [data.today]
        start, end = self.days
        end = min(end, data.today)
        return [start + timedelta(days=i) for i in range((end - start).days + 1)]

    @property
    def read_by(self) -> Mapping[str, str]:
        return {"Health_Snapshot__c": "Snapshot_Date__c"}  # a day's snapshots of every store, kept

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        out: list[Desired] = []
        for day in self.dates(data):
            view = data if day == data.today else day_view(data, day)
            result = self.scorer(view)
            d = snapshot(view, result) if result is not None else None
            if d is not None:
                out.append(d)
        return out

    def explain(self, data: AccountData) -> dict[str, Any]:
        days = self.dates(data)
        scored = {}
        for day in days:
            view = data if day == data.today else day_view(data, day)
            result = self.scorer(view)
            scored[day.isoformat()] = (
                None
                if result is None
                else {"score": result.score, "band": result.band, "stale": result.stale,
                      "components": dict(result.components)}
            )  # fmt: skip
        return {"job": self.name, "store": data.store_id, "days": scored}


def read_history(
    org: Reader, accounts: Mapping[str, Mapping[str, Any]], today: date, days: int = 14
) -> dict[str, dict[str, dict[str, float]]]:
    """`attrs["health_history"]` ({day: score}) per store from the snapshots, for the health trend."""
    by_id = {str(a["Id"]): s for s, a in accounts.items() if a.get("Id")}
    since = today - timedelta(days=days)
    out: dict[str, dict[str, dict[str, float]]] = {}
    fields = ["Account__c", "Snapshot_Date__c", "Score__c"]
    where = "Snapshot_Date__c >= {since} AND Score__c != null"
    for row in rows_in(org, "Health_Snapshot__c", fields, "Account__c", sorted(by_id), where, since=since):
        store = by_id.get(str(row.get("Account__c")))
        if store is not None and row.get("Snapshot_Date__c"):
            history = out.setdefault(store, {}).setdefault("health_history", {})
            history[str(row["Snapshot_Date__c"])] = float(row["Score__c"])
    return out


def health_scorer(source: Any) -> Scorer:
    """The account_health evaluation of a mapping set (or of the folder it loads from) as a Scorer.

    The snapshot keeps the computed score, not a CSM's override (which goes into Components as
    `_override`), so the history charts what the data said.
    """
    ms = source if isinstance(source, MappingSet) else load_mapping_set(mapping_dir(source))
    bands = ms.health_file.health.bands

    def score(data: AccountData) -> Score | None:
        h = evaluate_account(ms, data).health
        if h is None:
            return None
        computed = h.computed
        band = (
            ""
            if computed is None
            else "Green"
            if computed >= bands.green
            else "Yellow"
            if computed >= bands.yellow
            else "Red"
        )
        parts = {
            c.name: {
                "raw": c.raw if isinstance(c.raw, int | float | str | bool) or c.raw is None else str(c.raw),
                "points": None if c.points is None else round(c.points, 1),
                "weight": c.weight,
            }
            for c in h.components
        }
        return Score(computed, band, parts, h.stale)

    return score
