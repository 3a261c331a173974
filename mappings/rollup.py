"""MSO roll-ups: a parent Account summarises its locations' outcomes (pure, run after the children)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from mappings.desired import Desired
from mappings.evaluate import AccountOutcome
from mappings.load import MappingSet

MAX_WEAKEST = 3  # locations named in the parent's drivers


def parent_key(outcome: AccountOutcome) -> str:
    """The MSO parent's store key of a location ("" when it has none), from the store directory."""
    store = outcome.data.store
    return str(store.get("parent_id") or store.get("parent_store_id") or "")


def group_by_parent(outcomes: Iterable[AccountOutcome]) -> dict[str, list[AccountOutcome]]:
    """Locations by parent key, in input order; stand-alone stores are left out."""
    groups: dict[str, list[AccountOutcome]] = {}
    for o in outcomes:
        key = parent_key(o)
        if key:
            groups.setdefault(key, []).append(o)
    return groups


def rollup_parent(
    mapping_set: MappingSet,
    parent: str,
    children: Sequence[AccountOutcome],
    now: datetime,
    parent_account: Mapping[str, Any] | None = None,
) -> Desired:
    """The parent Account's roll-up fields: locations total and live, onboarding progress, average health.

    The parent is keyed like any store (account_health.toml `match_key`, e.g. `Store_Id__c = "MSO-1"`).
    Its score is the plain mean of the scores its locations show (a CSM override on a location counts
    as that location's score). A CSM override on the parent (`parent_account`, its current fields)
    wins over the average, as it does on a store; the override field itself is never written.
    """
    hf = mapping_set.health_file
    r, t = hf.rollup, hf.health.targets
    scores = [
        (o.store_id, o.health.score, o.health.band)
        for o in children
        if o.health and o.health.score is not None
    ]
    progress = [o.onboarding_progress for o in children if o.onboarding_progress is not None]
    fields: dict[str, Any] = {
        r.locations_total_field: len(children),
        r.locations_live_field: sum(1 for o in children if o.live),
        r.onboarding_progress_field: round(100.0 * sum(progress) / len(progress), 2) if progress else None,
        hf.open_risk_count_field: sum(o.open_risks for o in children),
    }
    touch: dict[str, Any] = {}
    override = (parent_account or {}).get(t.override)
    if scores:
        mean = round(sum(s for _, s, _ in scores) / len(scores))
        weakest = sorted(scores, key=lambda x: (x[1], x[0]))[:MAX_WEAKEST]
        names = "; ".join(f"{store} {score:.0f} {band}" for store, score, band in weakest)
        drivers = f"Average of {len(scores)} locations; lowest: {names}"
        shown: float = mean
        if isinstance(override, int | float) and not isinstance(override, bool):
            shown = float(override)
            drivers = f"CSM override {shown:g} (locations average {mean}); {drivers}"
        fields[t.score] = shown
        fields[t.band] = _band(mapping_set, shown)
        fields[t.drivers] = drivers
        touch[t.updated_at] = now
    return Desired(
        sobject=hf.object,
        key_field=hf.match_key,
        key=parent,
        fields=fields,
        touch=touch,
        account_key=parent,
        reason=f"MSO roll-up of {len(children)} locations",
    )


def rollup_all(mapping_set: MappingSet, outcomes: Iterable[AccountOutcome], now: datetime) -> list[Desired]:
    """One roll-up Desired per parent found among the outcomes."""
    return [
        rollup_parent(mapping_set, key, kids, now) for key, kids in sorted(group_by_parent(outcomes).items())
    ]


def _band(ms: MappingSet, score: float) -> str:
    bands = ms.health_file.health.bands
    if score >= bands.green:
        return "Green"
    return "Yellow" if score >= bands.yellow else "Red"
