"""Strict mapping validation: non-finite numbers, wrong types, unbounded windows and list-valued fields
are refused at load (or against the describe), each with the file, the key and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs import renewals
from mappings.describe import validate_against_describe
from mappings.evaluate import evaluate_account
from mappings.lifecycle import FileError
from mappings.load import DEFAULT_DIRECTORY, MappingError, load_mapping_set
from tests.unit.mappings.builders import store_data
from tests.unit.mappings.test_describe import org
from tests.unit.mappings.test_load import mapping_dir

H = "mappings/account_health.toml"
R = "mappings/risk_rules.toml"
S = "mappings/sources.toml"
FIELD = 'Online_Orders_7d__c = \'total("orders", 7, "channel=online")\''

# (id, file, text in the shipped file, replacement, exactly the messages expected)
VARIANTS: list[tuple[str, str, str, str, list[str]]] = [
    (
        "weight inf",
        "account_health",
        "weight = 20\nexpr",
        "weight = inf\nexpr",
        [f'{H}: component "usage" → weight: must be a finite number, got inf'],
    ),
    (
        "weight nan",
        "account_health",
        "weight = 15\nexpr",
        "weight = nan\nexpr",
        [f'{H}: component "conversion" → weight: must be a finite number, got nan'],
    ),
    (
        "weight as text",
        "account_health",
        "weight = 10\nexpr",
        'weight = "10"\nexpr',
        [f'{H}: component "support_load" → weight: expected a number, got "10" — write a number, without quotes'],
    ),
    (
        "weight as bool",
        "account_health",
        "weight = 10\nexpr",
        "weight = true\nexpr",
        [f'{H}: component "support_load" → weight: expected a number, got true'],
    ),
    (
        "scale with nan",
        "account_health",
        "scale = [[0, 0], [1, 100]]",
        "scale = [[0, 0], [nan, 100]]",
        [f'{H}: component "onboarding" → scale.1.0: must be a finite number, got nan'],
    ),
    (
        "scale points inf",
        "account_health",
        "scale = [[0, 0], [1, 100]]",
        "scale = [[0, 0], [1, inf]]",
        [f'{H}: component "onboarding" → scale.1.1: must be a finite number, got inf'],
    ),
    (
        "band as text",
        "account_health",
        "green = 80 ",
        'green = "80" ',
        [f'{H}: health.bands.green: expected a number, got "80" — write a number, without quotes'],
    ),
    (
        "stale hours as text",
        "sources",
        "stale_after_hours = 72",
        'stale_after_hours = "72"',
        [f'{S}: sources.billing.stale_after_hours: expected a number, got "72" — write a number, without quotes'],
    ),
    (
        "default stale -inf",
        "sources",
        "default_stale_after_hours = 36",
        "default_stale_after_hours = -inf",
        [f"{S}: default_stale_after_hours: must be a finite number, got -inf"],
    ),
    (
        "feed flag as text",
        "sources",
        "stale_after_hours = 72",
        'stale_after_hours = 72\nfeed = "yes"',
        [f'{S}: sources.billing.feed: expected true or false, got "yes" — write true or false, without quotes'],
    ),
    (
        "param nan",
        "risk_rules",
        "menu_online_drop = 0.40",
        "menu_online_drop = nan",
        [f"{R}: params.menu_online_drop: must be a finite number, got nan"],
    ),
    (
        "version as float",
        "risk_rules",
        'title = "Menu sync failure"\nversion = 1',
        'title = "Menu sync failure"\nversion = 1.0',
        [f'{R}: rule "menu_sync" → version: expected a whole number, got 1.0'],
    ),
    (
        "version as bool",
        "risk_rules",
        'title = "Menu sync failure"\nversion = 1',
        'title = "Menu sync failure"\nversion = true',
        [f'{R}: rule "menu_sync" → version: expected a whole number, got true'],
    ),
    (
        "cooldown as text",
        "risk_rules",
        "cooldown_days = 3",
        'cooldown_days = "3"',
        [f'{R}: rule "menu_sync" → cooldown_days: expected a whole number, got "3" — write a whole number, without quotes'],
    ),
    (
        "window too long",
        "account_health",
        FIELD,
        'Online_Orders_7d__c = \'total("orders", 100000, "channel=online")\'',
        [f'{H}: field "Online_Orders_7d__c": total() needs "days" between 1 and 730, got 100000'],
    ),
    (
        "window zero",
        "account_health",
        FIELD,
        "Online_Orders_7d__c = 'avg(\"orders\", 0)'",
        [f'{H}: field "Online_Orders_7d__c": avg() needs "days" between 1 and 730, got 0'],
    ),
    (
        "window fraction",
        "account_health",
        FIELD,
        "Online_Orders_7d__c = 'total(\"orders\", 7.5)'",
        [f'{H}: field "Online_Orders_7d__c": total() needs "days" as a whole number, got 7.5'],
    ),
    (
        "negative offset",
        "account_health",
        FIELD,
        "Online_Orders_7d__c = 'daily(\"orders\", offset=-3)'",
        [f'{H}: field "Online_Orders_7d__c": daily() needs "offset" between 0 and 730, got -3'],
    ),
    (
        "weeks too many",
        "account_health",
        FIELD,
        "Online_Orders_7d__c = 'baseline(\"orders\", weeks=500)'",
        [f'{H}: field "Online_Orders_7d__c": baseline() needs "weeks" between 1 and 104, got 500'],
    ),
    (
        "huge exponent",
        "account_health",
        FIELD,
        "Online_Orders_7d__c = 'total(\"orders\") ** 1000'",
        [f'{H}: field "Online_Orders_7d__c": the exponent of ** must be a constant number up to 100'],
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"), [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS]
)
def test_bad_variant_is_refused_with_its_message(
    tmp_path: Path, file: str, old: str, new: str, expected: list[str]
) -> None:
    text = (DEFAULT_DIRECTORY / f"{file}.toml").read_text(encoding="utf-8")
    assert old in text, f"the shipped {file}.toml no longer has {old!r}"
    d = mapping_dir(tmp_path, **{file: text.replace(old, new, 1)})
    with pytest.raises(MappingError) as caught:
        load_mapping_set(d)
    assert [str(i) for i in caught.value.issues] == expected


def test_integers_are_fine_numbers_and_constant_windows_in_range_load(tmp_path: Path) -> None:
    text = (DEFAULT_DIRECTORY / "account_health.toml").read_text(encoding="utf-8")
    text = text.replace(
        FIELD, 'Online_Orders_7d__c = \'total("orders", 730, "channel=online", 0) + 2 ** -2\''
    )
    ms = load_mapping_set(mapping_dir(tmp_path, account_health=text))
    assert dict(ms.fields)["Online_Orders_7d__c"].type == "number"


def test_a_list_into_a_number_field_is_refused_against_the_describe(tmp_path: Path) -> None:
    text = (DEFAULT_DIRECTORY / "account_health.toml").read_text(encoding="utf-8")
    ms = load_mapping_set(
        mapping_dir(tmp_path, account_health=text.replace(FIELD, "Online_Orders_7d__c = 'sources()'"))
    )
    assert [str(i) for i in validate_against_describe(ms, org())] == [
        f'{H}: field "Online_Orders_7d__c": Account.Online_Orders_7d__c is a double field but the mapping '
        "gives a list; a field takes one value (join a list into text, or count it)"
    ]


def test_a_value_of_unknown_type_that_is_a_list_is_a_per_record_error(tmp_path: Path) -> None:
    """`attr()` can give anything: the loader cannot tell, so the store's evaluation refuses the list."""
    text = (DEFAULT_DIRECTORY / "account_health.toml").read_text(encoding="utf-8")
    ms = load_mapping_set(
        mapping_dir(tmp_path, account_health=text.replace(FIELD, "Online_Orders_7d__c = 'attr(\"tags\")'"))
    )
    assert validate_against_describe(ms, org()) == []  # "any": not statically known
    listed = evaluate_account(ms, store_data(attrs={"tags": ["a", "b"]}))
    assert "Online_Orders_7d__c" not in listed.fields
    assert listed.desired[0].fields.get("Online_Orders_7d__c", "absent") == "absent"
    assert any(
        e.startswith(
            'field Online_Orders_7d__c: attr("tags"): gives a list, but a Salesforce field takes one'
        )
        for e in listed.errors
    )
    single = evaluate_account(ms, store_data(attrs={"tags": 3}))
    assert single.fields["Online_Orders_7d__c"] == 3 and not any("tags" in e for e in single.errors)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("roi_days = 90", 'roi_days = "90"', 'roi_days: expected a whole number, got "90" — write a whole number, without quotes'),
        ("windows = [90, 60, 30]", "windows = [90, nan, 30]", "windows[1]: expected a whole number, got NaN"),
        (
            "high_priority_with_open_risk = true",
            "high_priority_with_open_risk = 1",
            "high_priority_with_open_risk: expected true or false, got 1",
        ),
    ],
)
def test_the_lifecycle_files_are_as_strict(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = (DEFAULT_DIRECTORY / "renewals.toml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "renewals.toml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(FileError) as caught:
        renewals.load(path)
    assert [
        str(i).removeprefix(f"{path.as_posix()}: ").removeprefix("renewals.toml: ")
        for i in caught.value.issues
    ] == [expected]
