"""The anchored clock (`--as-of` / CSM_SYNC_AS_OF): parsed strictly, advancing from its anchor."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from sandbox.portfolio import catalog
from worker.cli import main
from worker.clock import AsOfError, anchored_clock, as_of_text, parse_as_of
from worker.demo import demo_day


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-04T12:00:00Z", datetime(2026, 12, 4, 12, tzinfo=UTC)),
        ("2026-12-04T07:00:00-05:00", datetime(2026, 12, 4, 12, tzinfo=UTC)),
        (" 2026-12-04 12:00:00+00:00 ", datetime(2026, 12, 4, 12, tzinfo=UTC)),
    ],
)
def test_as_of_is_an_iso_time_with_an_offset(text: str, expected: datetime) -> None:
    at = parse_as_of(text)
    assert at == expected and at.tzinfo == UTC
    assert as_of_text(at) == "2026-12-04T12:00:00Z"


@pytest.mark.parametrize(
    ("text", "says"),
    [("2026-12-04T12:00:00", "has no UTC offset; add Z"), ("yesterday", "is not a time; use ISO 8601")],
)
def test_an_unusable_as_of_is_refused_not_guessed(text: str, says: str) -> None:
    with pytest.raises(AsOfError, match=says):
        parse_as_of(text)


def test_the_anchored_clock_starts_at_its_anchor_and_advances() -> None:
    at = datetime(2026, 3, 8, 9, 59, 59, tzinfo=UTC)
    clock = anchored_clock(at)
    first = clock()
    assert at <= first < at + timedelta(seconds=1)
    time.sleep(0.02)
    assert clock() - first >= timedelta(seconds=0.015)


def test_a_bad_as_of_exits_2_before_reading_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-config.toml"
    assert main(["--config", str(missing), "--as-of", "2026-12-04 noon", "status"]) == 2
    assert "--as-of / CSM_SYNC_AS_OF: '2026-12-04 noon' is not a time" in capsys.readouterr().out
    monkeypatch.setenv("CSM_SYNC_AS_OF", "2026-12-04T12:00")
    assert main(["--config", str(missing), "status"]) == 2
    assert "has no UTC offset" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("today", "day"),
    [
        (date(2026, 12, 4), date(2026, 12, 4)),  # an ordinary Friday: today
        (
            date(2026, 11, 27),
            date(2026, 11, 25),
        ),  # Black Friday: yesterday Thanksgiving, before it Green Wednesday
        (date(2027, 1, 1), date(2026, 12, 31)),  # New Year's Day opens a quarter; yesterday is New Year's Eve
        (date(2026, 10, 1), date(2026, 9, 30)),  # a quarter begun today has nothing to review yet
        (date(2026, 12, 26), date(2026, 12, 23)),  # Christmas, Christmas Eve and Dec 23 are no baseline days
        (date(2027, 3, 15), date(2027, 3, 15)),  # the day after DST starts: ordinary
    ],
)
def test_the_demo_is_dated_to_the_latest_day_the_rules_can_judge(today: date, day: date) -> None:
    assert demo_day(today, sorted(catalog.STATES)) == day
