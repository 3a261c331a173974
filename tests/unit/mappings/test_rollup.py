"""MSO roll-ups: a parent Account sums up its locations' outcomes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from mappings.evaluate import AccountOutcome, evaluate_account
from mappings.load import MappingSet, load_mapping_set
from mappings.rollup import group_by_parent, rollup_all, rollup_parent

from .builders import NOW, Series, sales_drop, store_data


@pytest.fixture(scope="module")
def ms() -> MappingSet:
    return load_mapping_set()


def location(ms: MappingSet, store_id: str, parent: str | None, **kw: Any) -> AccountOutcome:
    data = store_data(store_id=store_id, **kw)
    return evaluate_account(ms, replace(data, store={**data.store, "parent_id": parent}))


def not_live(s: Series) -> None:
    for key in [k for k in s if k[1].startswith("channel=online")]:
        s[key] = {d: 0.0 for d in s[key]}


def test_a_parent_sums_up_its_locations(ms: MappingSet) -> None:
    kids = [
        location(ms, "NV-001", "MSO-1"),
        location(ms, "NV-002", "MSO-1", account_fields={"Health_Override__c": 35}),
        location(ms, "AZ-001", "MSO-1", change=not_live, attrs={"onboarding_progress": 0.5}),
        location(ms, "IL-001", None, change=sales_drop),
    ]
    groups = group_by_parent(kids)
    assert list(groups) == ["MSO-1"] and [o.store_id for o in groups["MSO-1"]] == [
        "NV-001",
        "NV-002",
        "AZ-001",
    ]
    d = rollup_parent(ms, "MSO-1", groups["MSO-1"], NOW)
    assert (d.sobject, d.key_field, d.key) == ("Account", "Store_Id__c", "MSO-1")
    fields = dict(d.fields)
    assert fields["Locations_Total__c"] == 3
    assert fields["Locations_Live__c"] == 2
    assert fields["Onboarding_Progress__c"] == pytest.approx(100 * (1 + 1 + 0.5) / 3, abs=0.01)
    scores = [k.health.score for k in groups["MSO-1"] if k.health]
    assert fields["Health_Score__c"] == round(sum(s for s in scores if s is not None) / 3)
    assert fields["Health_Band__c"] in ("Green", "Yellow", "Red")
    assert fields["Health_Drivers__c"].startswith("Average of 3 locations; lowest: NV-002 35 Red; AZ-001")
    assert "Health_Override__c" not in fields
    assert d.touch == {"Health_Updated_At__c": NOW}
    assert [x.key for x in rollup_all(ms, kids, NOW)] == ["MSO-1"]


def test_a_csm_override_on_the_parent_wins(ms: MappingSet) -> None:
    kids = [location(ms, "NV-001", "MSO-1"), location(ms, "NV-002", "MSO-1")]
    d = rollup_parent(ms, "MSO-1", kids, NOW, parent_account={"Health_Override__c": 55})
    assert d.fields["Health_Score__c"] == 55.0
    assert d.fields["Health_Band__c"] == "Yellow"
    assert d.fields["Health_Drivers__c"].startswith("CSM override 55 (locations average 88)")


def test_locations_without_a_score_leave_the_parents_score_alone(ms: MappingSet) -> None:
    stale = {"pos": NOW - timedelta(hours=80), "platform": NOW - timedelta(hours=80)}
    kids = [location(ms, "NV-001", "MSO-1", freshness=stale)]
    d = rollup_parent(ms, "MSO-1", kids, NOW)
    assert "Health_Score__c" not in d.fields and d.touch == {}
    assert d.fields["Locations_Total__c"] == 1
