"""Loading mapping files: every bad-file fixture yields exactly its expected messages; valid files load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mappings.load import DEFAULT_DIRECTORY, FILES, MappingError, load_mapping_set

BAD = Path(__file__).parent / "bad"
BAD_CASES = sorted(BAD.glob("*.toml"))


def mapping_dir(tmp_path: Path, **replace: str) -> Path:
    """A copy of the shipped mapping files in a folder named `mappings`, with some files replaced."""
    d = tmp_path / "mappings"
    d.mkdir(parents=True)
    for name in FILES:
        shutil.copy(DEFAULT_DIRECTORY / name, d / name)
    for name, text in replace.items():
        (d / f"{name}.toml").write_text(text, encoding="utf-8")
    return d


def fixture(path: Path) -> tuple[str, list[str], str]:
    """(file it replaces, expected messages, its text) from a bad-file fixture's header comments."""
    text = path.read_text(encoding="utf-8")
    target = ""
    expected: list[str] = []
    for line in text.splitlines():
        if line.startswith("# file:"):
            target = line.split(":", 1)[1].strip()
        elif line.startswith("# expect:"):
            expected.append(line.split(":", 1)[1].strip())
    return target, expected, text


def test_there_are_at_least_thirty_bad_file_cases() -> None:
    assert len(BAD_CASES) >= 30


@pytest.mark.parametrize("case", BAD_CASES, ids=[p.stem for p in BAD_CASES])
def test_bad_file_reports_exactly_its_issues(case: Path, tmp_path: Path) -> None:
    target, expected, text = fixture(case)
    assert target in FILES and expected, f"{case.name} needs '# file:' and '# expect:' headers"
    d = mapping_dir(tmp_path, **{target.removesuffix(".toml"): text})
    with pytest.raises(MappingError) as caught:
        load_mapping_set(d)
    assert [str(i) for i in caught.value.issues] == expected


def test_the_shipped_files_load() -> None:
    ms = load_mapping_set()
    assert [r.name for r in ms.rules] == [
        "menu_sync", "category_drop", "feed_stale", "online_sales_drop", "support_backlog", "ticket_surge",
    ]  # fmt: skip
    assert [c.name for c in ms.components] == [
        "usage", "orders_trend", "conversion", "support_load", "nps", "payment", "onboarding",
    ]  # fmt: skip
    assert {n for n, _ in ms.fields} == {
        "Online_Orders_7d__c", "Online_Revenue_7d__c", "AOV_Online__c", "AOV_In_Store__c",
        "Online_Conversion__c", "Cart_Abandonment__c",
    }  # fmt: skip


def test_the_set_says_what_it_writes_and_sums_itself_up() -> None:
    ms = load_mapping_set()
    assert ms.objects == {"Account", "Risk_Flag__c", "Task", "Case"}
    assert ms.summary == (
        "mappings/: 6 KPI fields, 7 health components, 6 risk rules (5 with a Task, 1 with a Case), 7 sources"
    )


def test_issues_from_every_file_are_gathered_in_one_error(tmp_path: Path) -> None:
    health = (
        "[health.components.usage]\nweight = -1\nexpr = 'total(\"logins\", 28)'\nscale = [[0, 0], [9, 100]]\n"
    )
    risk = '[[rules]]\nname = "a"\ntitle = "A"\nseverity = "Huge"\nwhen = "total(\\"orders\\") > 1"\n'
    d = mapping_dir(tmp_path, account_health=health, risk_rules=risk)
    with pytest.raises(MappingError) as caught:
        load_mapping_set(d)
    assert [str(i) for i in caught.value.issues] == [
        'mappings/account_health.toml: component "usage" → weight: must be positive, got -1',
        'mappings/risk_rules.toml: rule "a" → severity: "Huge" is not a severity (Low, Medium, High, Critical)',
    ]
    assert str(caught.value).count("\n") == 1  # the exception's text lists every issue, one per line


def test_a_missing_file_is_an_issue_not_a_crash(tmp_path: Path) -> None:
    d = mapping_dir(tmp_path)
    (d / "sources.toml").unlink()
    with pytest.raises(MappingError) as caught:
        load_mapping_set(d)
    assert [str(i) for i in caught.value.issues] == ["mappings/sources.toml: file not found"]


def test_every_problem_in_one_rule_is_reported(tmp_path: Path) -> None:
    risk = """
[[rules]]
name = "many"
title = "Many {nope}"
severity = "Low"
when = 'wow_chnage("orders") < 0 and freshness("poss") > 1'
task = { subject = "S", priority = "Soon" }
"""
    d = mapping_dir(tmp_path, risk_rules=risk)
    with pytest.raises(MappingError) as caught:
        load_mapping_set(d)
    messages = [str(i) for i in caught.value.issues]
    # a structural error does not hide the rule's expression problems...
    assert messages == [
        'mappings/risk_rules.toml: rule "many" → task.priority: "Soon" is not a Task priority (High, Normal, Low)',
        'mappings/risk_rules.toml: rule "many" → when: unknown function "wow_chnage"; did you mean "wow_change"?',
        'mappings/risk_rules.toml: rule "many" → when: unknown source "poss"; did you mean "pos"? '
        "(known: billing, menu_sync, metrc, nps, platform, pos, support)",
    ]
    fixed = risk.replace('"Soon"', '"Low"')
    d2 = mapping_dir(tmp_path / "again", risk_rules=fixed)
    with pytest.raises(MappingError) as caught:
        load_mapping_set(d2)
    # ...and once it parses, its template problems are listed as well
    assert [str(i) for i in caught.value.issues] == [
        'mappings/risk_rules.toml: rule "many" → when: unknown function "wow_chnage"; did you mean "wow_change"?',
        'mappings/risk_rules.toml: rule "many" → when: unknown source "poss"; did you mean "pos"? '
        "(known: billing, menu_sync, metrc, nps, platform, pos, support)",
        'mappings/risk_rules.toml: rule "many" → title: unknown placeholder {nope}',
    ]


VALID_RISK = """
[params]
big_drop = 0.4
watched = ["edibles", "flower"]

[[rules]]
name = "base"
title = "Base"
severity = "Low"
when = 'total("orders", 7, "channel=online") > 0'

[[rules]]
name = "depends"
title = "Depends on {category}"
severity = "Medium"
for_each = { var = "category", in = "watched" }
suppress_if = 'fired("later")'
when = '''
wow_change("revenue", "channel=online,category=" + category) <= -big_drop  # a comment is fine
    and not fired("base")
'''
evidence = { wow = 'wow_change("revenue", "channel=online,category=" + category)' }
task = { subject = "{{literal braces}} {category} {wow}", owner = "queue:Support" }

[[rules]]
name = "later"
title = "Later"
severity = "High"
when = 'Plan__c == "Enterprise" and days_since(Onboarding_Start__c) > 30'
"""


def test_valid_variations_load_and_rules_run_after_what_they_read(tmp_path: Path) -> None:
    ms = load_mapping_set(mapping_dir(tmp_path, risk_rules=VALID_RISK))
    assert [r.name for r in ms.rules] == ["base", "later", "depends"]
    assert ms.rule("depends").var == "category"
    assert ms.rule("depends").evidence[0].label == "Wow"
    assert {"Plan__c", "Onboarding_Start__c"} <= ms.account_fields
    assert ms.risk_params["watched"] == ["edibles", "flower"]
