"""The one cursor comparison: times as times, other cursors unordered."""

from __future__ import annotations

import pytest

from connectors.values import cursor_after, later_cursor


@pytest.mark.parametrize(
    ("a", "b", "after"),
    [
        ("2026-11-20T12:00:01Z", "2026-11-20T12:00:00Z", True),
        ("2026-11-20T12:00:00Z", "2026-11-20T12:00:00Z", False),
        # text order would say the opposite: the same instant seen from another offset or precision
        ("2026-11-20T13:30:00+02:00", "2026-11-20T11:00:00Z", True),
        ("2026-11-20T11:00:00.500Z", "2026-11-20T12:00:00+02:00", True),
        ("2026-11-20T09:00:00-05:00", "2026-11-20T13:00:00Z", True),
        ("2026-11-20T12:00:00Z", "", True),  # anything is after no cursor
        ("", "2026-11-20T12:00:00Z", False),
        ("ledger-2", "ledger-1", True),  # a ledger or digest has no order: a new one replaces the old
        ("ledger-1", "ledger-2", True),
        ("ledger-1", "ledger-1", False),
        ("2026-11-20T12:00:00Z", "digest:ab12", True),
    ],
)
def test_cursor_after(a: str, b: str, after: bool) -> None:
    assert cursor_after(a, b) is after


def test_later_cursor_keeps_the_later_time_and_the_newer_ledger() -> None:
    assert later_cursor("2026-11-20T12:00:00Z", "2026-11-20T11:59:59Z") == "2026-11-20T12:00:00Z"
    assert later_cursor("2026-11-20T12:00:00Z", "2026-11-20T14:00:00+02:00") == "2026-11-20T12:00:00Z"
    assert later_cursor("raw:1f", "2026-11-20T12:00:00Z") == "2026-11-20T12:00:00Z"
    assert later_cursor("2026-11-20T12:00:00Z", "") == "2026-11-20T12:00:00Z"
