"""The demo summary's champion line: the open champion_change flags, and the accounts with a champion."""

from __future__ import annotations

from worker.demo import _champions_line


def test_the_line_names_each_open_champion_change_and_counts_recorded_champions() -> None:
    flags = [
        {
            "Account__c": "001B",
            "Rule__c": "champion_change",
            "Name": "Champion deactivated: Ann (GM)",
        },
        {"Account__c": "001A", "Rule__c": "billing:failed", "Name": "Payment failed"},
    ]
    accounts = [{"Id": "001A", "Champion_Contact__c": "003A"}, {"Id": "001B", "Champion_Contact__c": "003B"},
                {"Id": "001C"}]  # fmt: skip
    line = _champions_line(flags, accounts, {"001A": "AZ-001", "001B": "CA-002"}.__getitem__)
    assert (
        line
        == "Champion changes: 1 open (CA-002: Champion deactivated: Ann (GM)) · champions recorded on 2 accounts"
    )
    assert _champions_line([], [], str) == "Champion changes: 0 open · champions recorded on 0 accounts"
