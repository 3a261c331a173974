"""Invalid lifecycle mapping files: every problem reported with its file, item and key, in plain words."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobs import compliance, expansion, onboarding, qbr, receivables, renewals
from mappings.lifecycle import FileError
from mappings.states import load_brands, load_states

from .builders import MAPPINGS


def default(name: str) -> str:
    return (MAPPINGS / name).read_text(encoding="utf-8")


def issues(load: Callable[[Path], Any], path: Path) -> list[str]:
    with pytest.raises(FileError) as err:
        load(path)
    return [str(i) for i in err.value.issues]


def test_the_default_files_load() -> None:
    for job in (onboarding.OnboardingJob, compliance.ComplianceJob, receivables.ReceivablesJob,
                renewals.RenewalsJob, qbr.QbrJob, expansion.ExpansionJob):  # fmt: skip
        assert job.build(MAPPINGS).name


ONBOARDING_CASES = [
    (('priority = "High"', 'priority = "Urgent"'),
     ['mappings/onboarding.toml: overdue_task.priority: "Urgent" is not a Task priority (High, Normal, Low)']),
    (('code = "menu_potency"\ntitle = "Menu: potency display"\ndue_days = 14\nstatus = "state_rules"\n'
      'state_group = "potency_display"',
      'code = "menu_potency"\ntitle = "Menu: potency display"\ndue_days = 14\nstatus = "state_rules"'),
     ['mappings/onboarding.toml: milestone "menu_potency": a milestone with status = "state_rules" needs '
      'state_group']),
    (('code = "pos_integration"', 'code = "kickoff"'),
     ['mappings/onboarding.toml: milestone "kickoff" → code: appears twice']),
    (('code = "kickoff"\ntitle = "Kickoff call"\ndue_days = 0', 'code = "kickoff"\ntitle = "Kickoff call"\ndue = 0'),
     ['mappings/onboarding.toml: milestone "kickoff": unknown key "due"',
      'mappings/onboarding.toml: milestone "kickoff" → due_days: required key is missing']),
    (('[[milestones]]\ncode = "go_live"', '[[milestones]]\ncode = "Go Live"'),
     ['mappings/onboarding.toml: milestone "Go Live" → code: "Go Live" is not a milestone code (lower_snake_case, '
      'at most 40 characters)']),
    (('due_days = 58', 'due_days = 400'),
     ['mappings/onboarding.toml: milestone "review_30d" → due_days: must be at most 365, got 400']),
    (('exclude = ["review_30d"]', 'exclude = ["review"]'),
     ['mappings/onboarding.toml: target → exclude: "review" is not a milestone code']),
    (('subject = "Onboarding overdue: {milestone} ({account})"', 'subject = "Overdue: {milstone}"'),
     ['mappings/onboarding.toml: overdue_task → subject: unknown placeholder {milstone} (known: account, code, '
      'days_overdue, detail, due, milestone, status, store, why)']),
    (('status = "pos_sync"', 'status = "pos"'),
     ['mappings/onboarding.toml: milestone "pos_integration" → status: "pos" is not a status source (on_create, '
      'pos_sync, first_online_order, state_rules, msrp, manual)']),
    (('[target]', '[target'),
     ['mappings/onboarding.toml: line 20, column 8: TOML syntax error: expected \']\' at the end of a table '
      'declaration']),
]  # fmt: skip


@pytest.mark.parametrize(("edit", "expected"), ONBOARDING_CASES)
def test_invalid_onboarding_files(tmp_path: Path, edit: tuple[str, str], expected: list[str]) -> None:
    text = default("onboarding.toml")
    assert edit[0] in text
    (tmp_path / "mappings").mkdir()
    path = tmp_path / "mappings" / "onboarding.toml"
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    assert issues(onboarding.load, path) == expected


OTHER_CASES = [
    ("receivables.toml", receivables.load, ("[[buckets]]\ndays = 60", "[[buckets]]\ndays = 20"),
     ["mappings/receivables.toml: buckets must be in increasing order of days, each once"]),
    ("receivables.toml", receivables.load,
     ('R01 = { meaning = "insufficient funds", severity = "Medium" }', 'R01 = { meaning = "nsf", severity = "Severe" }'),
     ['mappings/receivables.toml: return_codes.R01.severity: "Severe" is not a severity (Low, Medium, High, '
      'Critical)']),
    ("receivables.toml", receivables.load, ('owner = "account:OwnerId"', 'owner = "queue:Finance"'),
     ['mappings/receivables.toml: past_due_task.owner: "queue:Finance" is not an owner (account:CSM__c, '
      'account:OwnerId)']),
    ("renewals.toml", renewals.load, ("windows = [90, 60, 30]", "windows = [90, 90]"),
     ["mappings/renewals.toml: windows: windows must be distinct day counts between 1 and 365"]),
    ("renewals.toml", renewals.load, ('source = "contract"', 'source = "lease"'),
     ['mappings/renewals.toml: source: "lease" is not a renewal source (contract, opportunity)']),
    ("renewals.toml", renewals.load, ("Open risks: {risks}", "Open risks: {flags}"),
     ["mappings/renewals.toml: task → description: unknown placeholder {flags} (known: account, days_left, "
      "end_date, health, record, risks, roi, roi_days, roi_to, store, window)"]),
    ("qbr.toml", qbr.load, ("prep_days_before = 14", "prep_days_before = 0"),
     ["mappings/qbr.toml: prep_days_before: must be at least 1, got 0"]),
    ("qbr.toml", qbr.load, ("review_offset_days = 15", "review_offset = 15"),
     ['mappings/qbr.toml: unknown key "review_offset" — did you mean "review_offset_days"?']),
    ("expansion.toml", expansion.load, ('series = ["orders|channel=online", "online_orders"]\nweeks',
                                        'series = ["orders channel=online"]\nweeks'),
     ['mappings/expansion.toml: growth.series: "orders channel=online" is not a series ("metric" or '
      '"metric|dimension", e.g. "orders|channel=online")']),
    ("expansion.toml", expansion.load, ('growth = "sustained order growth"', 'grow = "sustained order growth"'),
     ["mappings/expansion.toml: titles → grow: not a signal (growth, plan_limit, new_locations, location_limit)"]),
    ("expansion.toml", expansion.load, ("min_growth = 0.20", "min_growth = -1"),
     ["mappings/expansion.toml: growth.min_growth: must be greater than 0, got -1"]),
    ("compliance.toml", compliance.load, ('high_priority = ["High", "Critical"]', 'high_priority = ["Urgent"]'),
     ['mappings/compliance.toml: high_priority[0]: "Urgent" is not a severity (Low, Medium, High, Critical)']),
    ("compliance.toml", compliance.load, ("stale_after_hours = 36", "stale_after_hours = 0"),
     ["mappings/compliance.toml: stale_after_hours: must be greater than 0, got 0"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "load", "edit", "expected"), OTHER_CASES)
def test_invalid_job_files(
    tmp_path: Path, name: str, load: Callable[[Path], Any], edit: tuple[str, str], expected: list[str]
) -> None:
    text = default(name)
    assert edit[0] in text
    (tmp_path / "mappings").mkdir()
    path = tmp_path / "mappings" / name
    path.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    assert issues(load, path) == expected


RULE = """state = "NV"
name = "Nevada"

[[rules]]
id = "nv-serving-cap"
group = "potency_display"
kind = "serving_max_mg"
title = "Edible serving at most 10 mg THC"
categories = ["edibles"]
max_mg = 10
effective_from = 2017-07-01
source = "NRS 453D.310"
checked = 2026-11-23
verified = true
"""

STATE_CASES = [
    ("NV.toml", ("max_mg = 10\n", ""),
     ['mappings/states/NV.toml: rule "nv-serving-cap": a serving_max_mg rule needs max_mg']),
    ("NV.toml", ("verified = true\n", ""),
     ['mappings/states/NV.toml: rule "nv-serving-cap" → verified: required key is missing']),
    ("NV.toml", ('categories = ["edibles"]', 'categories = ["gummies"]'),
     ['mappings/states/NV.toml: rule "nv-serving-cap" → categories: "gummies" is not a category (flower, '
      'pre_rolls, vapes, concentrates, edibles, beverages, tinctures, topicals, accessories)']),
    ("NV.toml", ("effective_from = 2017-07-01", 'effective_from = "soon"'),
     ['mappings/states/NV.toml: rule "nv-serving-cap" → effective_from: expected a date (2026-01-31), got "soon"']),
    ("NV.toml", ('group = "potency_display"', 'group = "labels"'),
     ['mappings/states/NV.toml: rule "nv-serving-cap" → group: "labels" is not a rule group (potency_display, '
      'purchase_limits, marketing_language)']),
    ("NV.toml", ('id = "nv-serving-cap"', 'id = "az-serving-cap"'),
     ['mappings/states/NV.toml: rule "az-serving-cap" → id: must start with "nv-"']),
    ("NV.toml", ('id = "nv-serving-cap"', 'id = "NV serving"'),
     ['mappings/states/NV.toml: rule "NV serving" → id: "NV serving" is not a rule id (the state code, a dash, '
      'then lower-kebab-case: nv-serving-cap)']),
    ("AZ.toml", ("", ""), ['mappings/states/AZ.toml: state: "NV" does not match the file name AZ.toml']),
    ("NV.toml", ("checked = 2026-11-23\n", ""),
     ['mappings/states/NV.toml: rule "nv-serving-cap" → checked: required key is missing']),
    ("NV.toml", ('source = "NRS 453D.310"\n', ""),
     ['mappings/states/NV.toml: rule "nv-serving-cap" → source: required key is missing']),
    ("NV.toml", ('source = "NRS 453D.310"', 'source = ""'),
     ['mappings/states/NV.toml: rule "nv-serving-cap" → source: expected at least 3 characters, got ""']),
]  # fmt: skip


@pytest.mark.parametrize(("filename", "edit", "expected"), STATE_CASES)
def test_invalid_state_files(
    tmp_path: Path, filename: str, edit: tuple[str, str], expected: list[str]
) -> None:
    folder = tmp_path / "mappings" / "states"
    folder.mkdir(parents=True)
    (folder / filename).write_text(RULE.replace(edit[0], edit[1], 1) if edit[0] else RULE, encoding="utf-8")
    with pytest.raises(FileError) as err:
        load_states(folder)
    assert [str(i) for i in err.value.issues] == expected


def test_invalid_brand_lists(tmp_path: Path) -> None:
    folder = tmp_path / "mappings" / "brands"
    folder.mkdir(parents=True)
    (folder / "ridge.toml").write_text(
        'brand = "Ridge"\nsource = "Ridge MSRP sheet"\neffective_from = 2026-01-01\ndirection = "above"\n'
        '[[items]]\nname = "Cart"\nmsrp = 40\n[[items]]\nname = "cart"\nmsrp = 0\n',
        encoding="utf-8",
    )  # fmt: skip
    with pytest.raises(FileError) as err:
        load_brands(folder)
    assert [str(i) for i in err.value.issues] == [
        'mappings/brands/ridge.toml: direction: "above" is not an MSRP direction (below, both)',
        'mappings/brands/ridge.toml: item "cart" → msrp: must be greater than 0, got 0',
    ]


def test_a_good_brand_list_loads_by_lower_case_brand(tmp_path: Path) -> None:
    folder = tmp_path / "brands"
    folder.mkdir()
    (folder / "ridge.toml").write_text(
        'brand = "Ridge"\nsource = "Ridge MSRP sheet"\neffective_from = 2026-01-01\n[[items]]\nname = "Cart"\nmsrp = 40\n',
        encoding="utf-8",
    )  # fmt: skip
    assert load_brands(folder)["ridge"].rule_id == "msrp-ridge"
    assert load_brands(tmp_path / "missing") == {}
