"""The demo ends the same on every date, and the README says what it ends with.

The portfolio is dated back from the run's today (sandbox/portfolio/seasons.py), and every job runs on
the sandbox over HTTPS as `csm-sync demo` runs them. The full demo (120 days, ~340,000 records) takes a
few minutes a date, so these are long tests (a quicker one runs the whole portfolio at a lower volume
and a shorter history on two dates far apart). The default suite's variant compares the portfolio's
data day by day on eight dates (tests/unit/sandbox/sources/test_calendar.py).
"""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import structlog

from worker import demo
from worker.logging import configure
from worker.output import Output
from worker.runner import ExitCode

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[3] / "README.md"
STORE = r"(?:NV|AZ|CA|IL|MA|MI)-\d{3}"
# A Thursday in October; Black Friday; New Year's Day (a holiday, a month, quarter and year start); the
# Monday after DST ends; the day after DST starts; 4/21, after the 4/20 peak.
DATES = (date(2026, 10, 15), date(2026, 11, 27), date(2027, 1, 1), date(2026, 11, 2), date(2027, 3, 15),
         date(2027, 4, 21))  # fmt: skip


def run_demo_on(
    tmp: Path, today: date, days: int = demo.DEMO_DAYS, orders: float | None = None
) -> dict[str, Any]:
    """Every job once on the demo's sandbox dated `today`; what `csm-sync demo` reports it ended with."""
    configure("warning", "json", io.StringIO())
    try:
        with demo._environment(tmp / str(today), 7, today, days, orders) as env:
            assert demo._run_all(Output("demo", stream=io.StringIO()), env) == ExitCode.OK
            return demo.outcome(env)
    finally:
        structlog.reset_defaults()


def readme_figures() -> dict[str, Any]:
    """The figures the README states for the demo, read from its text."""
    text = " ".join(README.read_text().split())
    said = text[text.index("What the demo ends with") :]
    said = said[: said.index("A rerun with nothing changed")]

    def number(pattern: str) -> int:
        found = re.search(pattern, said)
        assert found, f"README no longer says {pattern!r}"
        return int(found.group(1))

    bands = re.search(r"Green (\d+), Yellow (\d+), Red (\d+) \(and (\d+) with no data yet\)", said)
    assert bands, "README no longer states the bands"
    renewals = re.search(
        r"renewal Tasks for ([A-Z]{2}-\d{3}) \(High: red\), ([A-Z]{2}-\d{3}) and ([A-Z]{2}-\d{3})", said
    )
    upsell = re.search(r"upsell Tasks for ((?:[A-Z0-9-]+, )*[A-Z0-9-]+) and ([A-Z0-9-]+)", said)
    touch = re.search(r"Touchpoint Tasks for ((?:[A-Z0-9-]+, )*[A-Z0-9-]+) and ([A-Z0-9-]+)", said)
    assert renewals and upsell and touch, "README no longer names the renewal, upsell and touchpoint Tasks"
    requests = re.search(
        r"Product requests for promotional bundling \((\d+) accounts\) and an automated promotion "
        r"compliance check \((\d+) accounts\)",
        said,
    )
    assert requests, "README no longer states the product requests"
    on_time = re.search(
        r"onboarding on time (\d+) of (\d+) complete within (\d+) days \(benchmark (\d+)%\), (\d+) still inside",
        said,
    )
    nps = re.search(
        r"(\d+) NPS detractor follow-up Tasks \((\d+) open\) and (\d+) reference candidates", said
    )
    assert on_time and nps, "README no longer states onboarding on time and the NPS follow-ups"
    return {
        "bands": dict(zip(("Green", "Yellow", "Red", "—"), map(int, bands.groups()), strict=True)),
        "renewal_tasks": sorted(
            [(renewals.group(1), "High"), (renewals.group(2), "Normal"), (renewals.group(3), "Normal")]
        ),
        "upsell_tasks": sorted([*upsell.group(1).split(", "), upsell.group(2)]),
        "touchpoint_tasks": sorted([*touch.group(1).split(", "), touch.group(2)]),
        "milestones": number(r"(\d+) onboarding milestones"),
        "overdue_milestones": number(r"with (\d+) overdue"),
        "snapshots": number(r"(\d+) health snapshots"),
        "qbr_accounts": number(r"QBR records on (\d+) accounts"),
        "product_requests": {"Promotional bundling": int(requests.group(1)),
                             "Automated promotion compliance check": int(requests.group(2))},
        "onboarding_on_time": {"on_time": int(on_time.group(1)), "judged": int(on_time.group(2)),
                               "target_days": int(on_time.group(3)), "goal": int(on_time.group(4)) / 100,
                               "in_progress": int(on_time.group(5))},
        "nps": dict(zip(("detractor_tasks", "open", "reference_candidates"), map(int, nps.groups()), strict=True)),
        "without_account": re.findall(r"([A-Z]{2}-\d{3}) reported as a store without an Account", said),
        "flag_stores": sorted({*re.findall(rf"\b({STORE})'s", said), *re.findall(rf"\(({STORE}(?:, {STORE})+)\)", said)[0].split(", ")}),
    }  # fmt: skip


@pytest.mark.long
def test_the_demo_portfolio_ends_the_same_on_dates_far_apart(tmp_path: Path) -> None:
    """The whole portfolio, every job, at a lower volume and six weeks of history (what fits the suite)."""
    first, second = (run_demo_on(tmp_path, d, days=63, orders=6.0) for d in (DATES[1], DATES[2]))
    assert first == second
    assert first["flags"] and first["renewal_tasks"] and first["snapshots"]


@pytest.mark.long
def test_the_demo_ends_the_same_on_six_dates_and_as_the_readme_says(tmp_path: Path) -> None:
    outcomes = {d: run_demo_on(tmp_path, d) for d in DATES}
    first = outcomes[DATES[0]]
    for d, got in outcomes.items():
        assert got == first, f"the demo on {d} differs from {DATES[0]}"
    said = readme_figures()
    flag_stores = sorted({store for store, _name, _sev in first["flags"]})
    assert {**{k: first[k] for k in said if k != "flag_stores"}, "flag_stores": flag_stores} == said
