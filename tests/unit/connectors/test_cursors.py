"""The one cursor comparison: times as times, counts as numbers, other cursors unordered."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.values import Invalid, counting_cursor, cursor_after, cursor_time, later_cursor, shift_cursor


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
        # counting cursors (an incrementing id, a sequence) compare as numbers, not as text
        ("10", "9", True),
        ("9", "10", False),
        ("1781700120000", "1781700060000", True),
        ("20260618", "20260617", True),  # digits are a count, never a basic-format date
        ("7", "7", False),
    ],
)
def test_cursor_after(a: str, b: str, after: bool) -> None:
    assert cursor_after(a, b) is after


def test_later_cursor_keeps_the_later_time_and_the_newer_ledger() -> None:
    assert later_cursor("2026-11-20T12:00:00Z", "2026-11-20T11:59:59Z") == "2026-11-20T12:00:00Z"
    assert later_cursor("2026-11-20T12:00:00Z", "2026-11-20T14:00:00+02:00") == "2026-11-20T12:00:00Z"
    assert later_cursor("raw:1f", "2026-11-20T12:00:00Z") == "2026-11-20T12:00:00Z"
    assert later_cursor("2026-11-20T12:00:00Z", "") == "2026-11-20T12:00:00Z"


def test_counting_cursors_are_whole_numbers_not_times_and_take_no_lookback() -> None:
    assert counting_cursor("0042", what="seq") == "42"
    assert counting_cursor(1781700120000.0, what="seq") == "1781700120000"
    assert cursor_time("20260617") is None
    assert shift_cursor("1042", timedelta(hours=-1)) == "1042"
    assert later_cursor("99", "100") == "100"
    for bad, reason in ((1.5, "expected a whole number for the cursor, got 1.5"), ("x", "expected a number"),
                        (-3, "seq: "), (1e20, "expected a whole number for the cursor")):  # fmt: skip
        with pytest.raises(Invalid, match=reason):
            counting_cursor(bad, what="seq")
