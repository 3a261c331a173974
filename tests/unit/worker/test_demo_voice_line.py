"""The demo summary's product requests line: each request with its accounts and ARR, the largest first."""

from __future__ import annotations

from typing import Any

from worker.demo import voice_line


class Records:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def records(self, sobject: str) -> list[dict[str, Any]]:
        return self.rows if sobject == "Product_Request__c" else []


def test_the_line_lists_requests_by_arr() -> None:
    org = Records([
        {"Name": "Automated promotion compliance check", "Accounts_Count__c": 3, "ARR_Total__c": 37164.0,
         "Mentions__c": 4, "Status__c": "Open"},
        {"Name": "Promotional bundling", "Accounts_Count__c": 4, "ARR_Total__c": 76752.0, "Mentions__c": 5,
         "Status__c": "Planned"},
    ])  # fmt: skip
    assert voice_line(org) == (
        "Product requests: 2 (promotional bundling: 4 accounts, $76,752 ARR, 5 mentions, Planned; "
        "automated promotion compliance check: 3 accounts, $37,164 ARR, 4 mentions, Open)"
    )


def test_no_request_says_none() -> None:
    assert voice_line(Records([])) == "Product requests: 0"
