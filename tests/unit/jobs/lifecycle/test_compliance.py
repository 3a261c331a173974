"""Compliance: each state file loads; each check fires on the item and clears when it is fixed."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from jobs.compliance import ComplianceJob
from jobs.plan import Close, diff
from mappings.states import (
    MenuItem,
    Promotion,
    brands_from_records,
    check_menu,
    check_msrp,
    check_promotions,
    load_states,
)
from tests.doubles import FakeOrg

from .builders import MAPPINGS, NOW, TODAY, account_data, rerun_is_noop, written

STATES = load_states(MAPPINGS / "states")
JOB = ComplianceJob.build(MAPPINGS)


def item(**kw: Any) -> dict[str, Any]:
    base = {"id": "m1", "name": "Citrus Gummies", "brand": "Sunny", "category": "edibles", "visible": True,
            "price": 20.0, "potency": {"thc": 10.0, "unit": "mg"}, "package_thc_mg": 100}  # fmt: skip
    return {**base, **kw}


def promo(title: str, description: str = "", **kw: Any) -> dict[str, Any]:
    return {"id": "p1", "title": title, "description": description, "starts_on": "2026-11-01",
            "ends_on": "2026-12-31", **kw}  # fmt: skip


@pytest.mark.parametrize("state", ["NV", "AZ", "IL", "CA", "MI", "MA", "CO", "NY", "WA"])
def test_each_state_file_loads_with_sources_dates_and_every_rule_group(state: str) -> None:
    f = STATES[state]
    assert f.state == state
    assert {r.group for r in f.rules} >= {"potency_display", "purchase_limits"}
    assert {r.kind for r in f.rules} >= {"potency_unit", "serving_max_mg", "package_max_mg", "purchase_limit"}
    for r in f.rules:
        assert r.id.startswith(state.lower() + "-") and r.source and r.effective_from <= TODAY
        assert r.checked <= TODAY, f"{r.id}: checked {r.checked} is after today"
        assert r.verified or r.citation.endswith("(unverified: confirm with the regulator)")


def test_numbers_the_research_could_not_confirm_are_marked_unverified() -> None:
    unverified = {r.id for f in STATES.values() for r in f.rules if not r.verified}
    assert {"il-serving-cap", "mi-serving-cap", "mi-package-cap", "az-no-potency-ads"} <= unverified
    assert {"nv-limit-flower", "ma-serving-cap", "ca-no-free-goods"}.isdisjoint(unverified)
    nv = {r.id: r for r in STATES["NV"].rules}
    assert (nv["nv-limit-flower"].amount, nv["nv-limit-flower"].unit) == (2.5, "oz")
    assert nv["nv-limit-flower"].effective_from == date(2024, 1, 1)
    assert {r.id: r.max_mg for r in STATES["MA"].rules if r.kind == "serving_max_mg"} == {"ma-serving-cap": 5}


@pytest.mark.parametrize(
    ("state", "rec", "rule", "finding"),
    [
        ("NV", item(package_thc_mg=200), "nv-package-cap", "200 mg THC per package; NV caps a package at 100 mg"),
        ("NV", item(potency={"thc": 20, "unit": "mg"}), "nv-serving-cap", "20 mg THC per serving; NV caps a serving at 10 mg"),
        ("MA", item(), "ma-serving-cap", "10 mg THC per serving; MA caps a serving at 5 mg"),
        ("CO", item(category="flower", potency={"thc": 200, "unit": "mg"}), "co-potency-units",
         "potency shown as 200 mg; CO menus show flower potency in %"),
        ("WA", item(potency=None), "wa-potency-units", "no potency shown; WA menus show edibles potency in mg"),
    ],
)  # fmt: skip
def test_menu_checks_fire_on_the_item(state: str, rec: dict[str, Any], rule: str, finding: str) -> None:
    found = check_menu(STATES[state], [MenuItem.of(rec)], TODAY)
    assert [(v.rule_id, v.finding) for v in found] == [(rule, finding)]


def test_a_clean_menu_and_hidden_items_raise_nothing() -> None:
    items = [MenuItem.of(item()), MenuItem.of(item(id="m2", package_thc_mg=500, visible=False))]
    assert check_menu(STATES["NV"], items, TODAY) == []


@pytest.mark.parametrize(
    ("state", "title", "rule", "word"),
    [
        ("CA", "BOGO Pre-Roll Fridays", "ca-no-free-goods", "BOGO"),
        ("CA", "Free Lighter With Purchase", "ca-no-free-goods", "Free"),
        ("IL", "Gummies that cure stress", "il-no-health-claims", "cure"),
        ("MA", "Spring giveaway", "ma-no-giveaways", "giveaway"),
        ("NV", "Buy 2, one donated", "nv-no-free", "donated"),
    ],
)
def test_promotion_wording_checks_fire(state: str, title: str, rule: str, word: str) -> None:
    found = check_promotions(STATES[state], [Promotion.of(promo(title))], TODAY)
    assert [(v.rule_id, v.finding) for v in found] == [(rule, f'the promotion says "{word}"')]


def test_allowed_phrases_ended_promotions_and_rules_not_yet_in_force_raise_nothing() -> None:
    assert check_promotions(STATES["CA"], [Promotion.of(promo("Sugar-free gummies 20% off"))], TODAY) == []
    assert check_promotions(STATES["CA"], [Promotion.of(promo("BOGO", ends_on="2026-11-01"))], TODAY) == []
    az = [Promotion.of(promo("Highest potency THC vapes", starts_on="2026-01-01"))]
    assert check_promotions(STATES["AZ"], az, date(2026, 6, 30)) == []
    assert [v.rule_id for v in check_promotions(STATES["AZ"], az, date(2026, 7, 1))] == ["az-no-potency-ads"]


def test_msrp_checks_prices_against_the_brand_list_with_its_tolerance() -> None:
    brands = brands_from_records([{"brand": "Ridge", "items": [{"name": "Ridge Cart 1g", "msrp": 40.0,
                                                                "tolerance_percent": 10}]}], TODAY)  # fmt: skip
    low = MenuItem.of(item(name="Ridge Cart 1g", brand="Ridge", category="vapes", price=28.0))
    ok = MenuItem.of(item(id="m2", name="Ridge Cart 1g", brand="ridge", category="vapes", price=37.0))
    found = check_msrp(brands, [low, ok], TODAY)
    assert [(v.rule_id, v.item_id, v.finding) for v in found] == [
        ("msrp-ridge", "m1", "menu price $28.00 is 30.0% below the MSRP $40.00 (tolerance 10%)")
    ]


def nv_store(menu: list[dict[str, Any]], **kw: Any) -> Any:
    return account_data("NV-002", records={"menu_items": menu}, **kw)


def test_each_violation_is_a_flag_and_a_csm_task_with_the_evidence() -> None:
    out = JOB.evaluate(nv_store([item(name="Mega Bar", package_thc_mg=200)]))
    flag, task = out
    assert (flag.sobject, flag.key) == ("Risk_Flag__c", "compliance:NV-002:nv-package-cap:m1")
    assert flag.fields["Rule__c"] == "compliance:nv-package-cap"
    assert flag.fields["Severity__c"] == "High" and flag.fields["Status__c"] == "Open"
    assert flag.fields["Evidence__c"] == (
        "Item: Mega Bar (edibles)\n"
        "Finding: 200 mg THC per package; NV caps a package at 100 mg\n"
        "Rule: Edible package at most 100 mg THC (nv-package-cap)\n"
        "Source: NRS 453D.310, effective 2017-07-01, checked 2026-11-23"
    )
    assert json.loads(flag.fields["Evidence_Data__c"]) == {
        "rule": "nv-package-cap", "item": "Mega Bar (edibles)", "verified": True,
        "finding": "200 mg THC per package; NV caps a package at 100 mg",
    }  # fmt: skip
    assert flag.create_only["Account__c"] == "001A"
    assert (task.sobject, task.key) == ("Task", "compliance:NV-002:nv-package-cap:m1")
    assert task.create_only["OwnerId"] == "005CSM" and task.fields["Priority"] == "High"
    assert task.create_only["Subject"] == "Compliance: Edible package at most 100 mg THC — Mega Bar (edibles)"


def test_unverified_rules_say_so_in_the_evidence() -> None:
    out = JOB.evaluate(
        account_data("IL-001", records={"menu_items": [item(potency={"thc": 12, "unit": "mg"})]})
    )
    flag = next(d for d in out if d.sobject == "Risk_Flag__c")
    assert flag.fields["Rule__c"] == "compliance:il-serving-cap"
    assert "(unverified: confirm with the regulator)" in flag.fields["Evidence__c"]
    assert flag.fields["Severity__c"] == "Low"


def test_flags_and_tasks_clear_when_the_item_is_fixed() -> None:
    before = written(diff(JOB.evaluate(nv_store([item(package_thc_mg=200)])), {}))
    for rec in before.values():
        rec["_account_key"] = "NV-002"
    after = diff(JOB.evaluate(nv_store([item()])), before, JOB.managed(NOW))
    assert [(type(c), c.sobject, c.key) for c in after.changes] == [
        (Close, "Risk_Flag__c", "compliance:NV-002:nv-package-cap:m1"),
        (Close, "Task", "compliance:NV-002:nv-package-cap:m1"),
    ]
    assert after.changes[0].fields["Status__c"] == "Resolved"
    assert after.changes[1].fields == {"Status": "Completed"}


def test_stale_menu_data_holds_open_findings_instead_of_clearing_them() -> None:
    key = "compliance:NV-002:nv-package-cap:m1"
    stale = nv_store([], freshness={"platform": NOW - timedelta(days=3)},
                     attrs={"open_keys": {"Risk_Flag__c": [key], "Task": [key]}})  # fmt: skip
    held = JOB.evaluate(stale)
    assert [(d.sobject, d.key, dict(d.fields)) for d in held] == [
        ("Risk_Flag__c", key, {}),
        ("Task", key, {}),
    ]
    current: dict[tuple[str, str], dict[str, Any]] = {("Risk_Flag__c", key): {"Sync_Key__c": key, "Status__c": "Open"},
               ("Task", key): {"Sync_Key__c": key, "IsClosed": False}}  # fmt: skip
    assert diff(held, current, JOB.managed(NOW)).changes == ()


def test_a_snoozed_flag_is_left_alone() -> None:
    flag = JOB.evaluate(nv_store([item(package_thc_mg=200)]))[0]
    current = {("Risk_Flag__c", flag.key): {"Status__c": "Snoozed", "Snoozed_Until__c": "2026-12-01",
                                             "Severity__c": "Low"}}  # fmt: skip
    plan = diff([flag], current)
    assert plan.changes == () and plan.kept[0].why == "snoozed by a CSM"


def test_compliance_is_idempotent() -> None:
    data = nv_store([item(package_thc_mg=200), item(id="m2", category="flower", potency=None)])
    assert JOB.evaluate(data) == JOB.evaluate(data)
    assert rerun_is_noop(JOB.evaluate(data))


def test_prepare_reads_open_findings_of_the_run_accounts_only() -> None:
    org = FakeOrg({"Risk_Flag__c": [{"Sync_Key__c": "compliance:NV-002:x:y", "Account__c": "001A"}],
                   "Task": [{"Sync_Key__c": "compliance:NV-002:x:y", "WhatId": "001A"}]})  # fmt: skip
    out = JOB.prepare(org, {"NV-002": {"Id": "001A"}}, NOW)
    assert out == {"NV-002": {"open_keys": {"Risk_Flag__c": ["compliance:NV-002:x:y"],
                                            "Task": ["compliance:NV-002:x:y"]}}}  # fmt: skip
    assert (
        "WHERE Account__c IN ('001A') AND (Status__c = 'Open' AND Sync_Key__c LIKE 'compliance:%')"
        in org.queries[0]
    )
    assert (
        "WHERE WhatId IN ('001A') AND (IsClosed = false AND Sync_Key__c LIKE 'compliance:%')"
        in org.queries[1]
    )


def test_explain_names_the_rules_in_force_and_the_findings() -> None:
    out = JOB.explain(nv_store([item(package_thc_mg=200)]))
    assert out["state"] == "NV" and "nv-package-cap" in out["rules_in_force"]
    assert out["violations"] == [{"rule": "nv-package-cap", "item": "Citrus Gummies (edibles)",
                                  "finding": "200 mg THC per package; NV caps a package at 100 mg",
                                  "source": "NRS 453D.310, effective 2017-07-01, checked 2026-11-23"}]  # fmt: skip
