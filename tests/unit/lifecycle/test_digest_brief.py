"""The morning brief's content: each section's rule, its edges, and wording admins edit."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from jobs.digest_brief import Book, Csm, DigestFile, compose, lines, load
from mappings.lifecycle import FileError

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
TODAY = date(2026, 6, 17)
NOW = datetime(2026, 6, 17, 7, tzinfo=UTC)
SINCE = NOW - timedelta(hours=24)
CSM = Csm("005A", "Maya Ortiz", "Maya", "maya@example.com")


def sf_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@pytest.fixture(scope="module")
def cfg() -> DigestFile:
    return load(MAPPINGS)


def account(i: int, score: float | None, band: str) -> dict[str, object]:
    return {"Id": f"001{i}", "Name": f"Shop {i}", "Store_Id__c": f"NV-00{i}", "Health_Score__c": score,
            "Health_Band__c": band, "Health_Drivers__c": f"drivers {i}"}  # fmt: skip


def book() -> Book:
    return Book(
        accounts=[account(1, 42, "Red"), account(2, 60, "Yellow"), account(3, 80, "Green"), account(4, 35, "Red")],
        baseline={"0011": (71.0, "Green"), "0012": (70.0, "Green"), "0013": (89.0, "Green"), "0014": (40.0, "Red")},
        flags=[
            {"Account__c": "0011", "Name": "Menu sync failure", "Severity__c": "High", "Category__c": "Menu",
             "Status__c": "Open", "Opened_At__c": sf_time(NOW - timedelta(hours=3))},
            {"Account__c": "0012", "Name": "Old flag", "Severity__c": "Low", "Status__c": "Open",
             "Opened_At__c": sf_time(NOW - timedelta(days=3))},
            {"Account__c": "0013", "Name": "Stale feed", "Severity__c": "Medium", "Status__c": "Resolved",
             "Opened_At__c": sf_time(NOW - timedelta(days=5)), "Resolved_At__c": sf_time(NOW - timedelta(hours=1))},
        ],
        contracts=[
            {"AccountId": "0012", "ContractNumber": "00000100", "EndDate": str(TODAY + timedelta(days=30))},
            {"AccountId": "0013", "ContractNumber": "00000101", "EndDate": str(TODAY + timedelta(days=31))},
        ],
        milestones=[
            {"Account__c": "0014", "Name": "Menu live", "Status__c": "In Progress",
             "Due_Date__c": str(TODAY - timedelta(days=4))},
            {"Account__c": "0014", "Name": "Kickoff", "Status__c": "Done", "Due_Date__c": str(TODAY - timedelta(9))},
            {"Account__c": "0014", "Name": "Training", "Status__c": "Not Started", "Due_Date__c": str(TODAY)},
        ],
        tasks=[
            {"WhatId": "0011", "Subject": "Call the GM", "Priority": "High", "Status": "Not Started",
             "ActivityDate": str(TODAY)},
            {"WhatId": "0012", "Subject": "Tomorrow", "Priority": "Normal", "Status": "Not Started",
             "ActivityDate": str(TODAY + timedelta(days=1))},
        ],
    )  # fmt: skip


def test_each_section_takes_exactly_what_changed(cfg: DigestFile) -> None:
    items = lines(book(), cfg, TODAY, SINCE)
    assert [i["store"] for i in items["new_red"]] == ["NV-001"]  # NV-004 was Red already
    # NV-001 dropped 29, NV-002 10 (the threshold), NV-003 9 (not enough), NV-004 5.
    assert [(i["store"], i["drop"]) for i in items["score_drops"]] == [("NV-001", "29"), ("NV-002", "10")]
    assert [i["flag"] for i in items["flags_opened"]] == ["Menu sync failure"]
    assert [i["flag"] for i in items["flags_resolved"]] == ["Stale feed"]
    assert [(i["contract"], i["days"]) for i in items["renewals"]] == [("00000100", "30")]
    assert [(i["milestone"], i["days"]) for i in items["overdue_milestones"]] == [("Menu live", "4")]
    assert [i["subject"] for i in items["tasks_due_today"]] == ["Call the GM"]


def test_the_brief_reads_as_the_wording_says(cfg: DigestFile) -> None:
    brief = compose(CSM, book(), cfg, TODAY, SINCE)
    assert brief.subject == "Your book on 2026-06-17: 1 new Red, 2 score drops, 1 flags opened"
    body = brief.body.splitlines()
    assert body[0] == "Good morning Maya,"
    assert "New Red (1)" in body and "• Shop 1 (NV-001): 42, was Green 71. drivers 1" in body
    assert "• Shop 2 (NV-002): contract 00000100 ends 2026-07-17 (in 30 days), Yellow 60" in body
    assert "• Shop 4 (NV-004): Menu live, due 2026-06-13 (4 days late)" in body
    assert brief.seen["0011"] == (42.0, "Red")  # the next brief's baseline


def test_a_quiet_book_still_gets_a_brief_that_says_so(cfg: DigestFile) -> None:
    quiet = Book(accounts=[account(3, 80, "Green")], baseline={"0013": (80.0, "Green")})
    brief = compose(CSM, quiet, cfg, TODAY, SINCE)
    assert brief.empty
    assert "Nothing changed in your 1 accounts since 2026-06-16 07:00 UTC." in brief.body


def test_long_sections_are_cut_with_a_count(cfg: DigestFile) -> None:
    many = Book(accounts=[account(i, 30, "Red") for i in range(20)],
                baseline={f"001{i}": (75.0, "Green") for i in range(20)})  # fmt: skip
    brief = compose(CSM, many, cfg.model_copy(update={"max_lines": 5}), TODAY, SINCE)
    assert brief.body.count("• ") == 10  # new Red and score drops, five each
    assert brief.body.count("… and 15 more") == 2


def copy_mappings(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, target)
    return target


def test_admins_edit_the_wording(tmp_path: Path) -> None:
    folder = copy_mappings(tmp_path)
    path = folder / "digest.toml"
    path.write_text(path.read_text().replace('greeting = "Good morning {first_name},"', 'greeting = "Hi {csm}!"'))
    brief = compose(CSM, book(), load(folder), TODAY, SINCE)
    assert brief.body.splitlines()[0] == "Hi Maya Ortiz!"


@pytest.mark.parametrize(
    ("old", "new", "key", "said"),
    [
        ('line = "{subject} · {account} · {priority}"', 'line = "{subjet} · {account}"',
         "wording.tasks_due_today.line", "unknown placeholder {subjet}; did you mean {subject}?"),
        ('greeting = "Good morning {first_name},"', 'greeting = "Good morning {first_name,"',
         "wording.greeting", "unmatched \"{\" (write {{ for a literal brace)"),
        ("score_drop = 10 ", "score_drop = 0 ", "score_drop", "must be at least 1, got 0"),
    ],
)  # fmt: skip
def test_a_bad_digest_file_names_file_key_and_fix(tmp_path: Path, old: str, new: str, key: str, said: str) -> None:
    folder = copy_mappings(tmp_path)
    path = folder / "digest.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
    with pytest.raises(FileError) as err:
        load(folder)
    message = str(err.value)
    assert "mappings/digest.toml" in message and key in message and said in message
