"""The demo summary's onboarding on-time line, from the figures `outcome()` carries."""

from __future__ import annotations

from typing import Any

from worker.demo import on_time_line


def figures(on_time: int, judged: int, by_csm: dict[str, list[int]]) -> dict[str, Any]:
    return {
        "onboarding_on_time": {
            "on_time": on_time, "judged": judged, "target_days": 30, "goal": 0.9, "in_progress": 4,
        },
        "onboarding_on_time_by_csm": by_csm,
    }  # fmt: skip


def test_the_line_gives_the_share_against_the_benchmark_and_each_csms() -> None:
    line = on_time_line(figures(10, 12, {"Marcus Bell": [0, 2], "Maya Ortiz": [2, 2]}))
    assert line == (
        "Onboarding on time: 83% of 12 complete within 30 days (benchmark 90%; 4 still inside them, "
        "not counted); by CSM: Marcus Bell 0% of 2, Maya Ortiz 100% of 2"
    )


def test_nothing_judged_yet_shows_no_share() -> None:
    line = on_time_line(figures(0, 0, {}))
    assert line.startswith("Onboarding on time: — of 0 complete") and line.endswith("by CSM: none")
