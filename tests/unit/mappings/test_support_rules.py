"""Support patterns in the shipped risk rules: stuck high-priority tickets and a surge over the account's own
baseline raise flags with the tickets as evidence; fresh, low-priority or solved tickets and a steady volume
do not."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from jobs.plan import diff
from mappings.evaluate import evaluate_account, managed
from mappings.load import MappingSet, load_mapping_set

from .builders import NOW, TODAY, history, set_days, store_data


@pytest.fixture(scope="module")
def ms() -> MappingSet:
    return load_mapping_set()


def ticket(n: int, days_ago: int, priority: str = "high", status: str = "open") -> dict[str, Any]:
    opened = TODAY - timedelta(days=days_ago)
    return {"_key": f"TKT-{n:04d}", "_day": opened.isoformat(), "subject": f"Checkout error {n}",
            "priority": priority, "status": status, "opened_at": f"{opened.isoformat()}T15:00:00Z"}  # fmt: skip


def rules_fired(ms: MappingSet, **kw: Any) -> dict[str, Any]:
    out = evaluate_account(ms, store_data(**kw))
    return {str(d.fields["Rule__c"]): d for d in out.desired if d.sobject == "Risk_Flag__c"}


def test_a_high_priority_ticket_stuck_over_five_days_raises_a_flag_listing_it(ms: MappingSet) -> None:
    tickets = [ticket(1, 9), ticket(2, 12, "urgent", "pending"), ticket(3, 2), ticket(4, 20, "normal"),
               ticket(5, 20, "high", "solved")]  # fmt: skip
    fired = rules_fired(ms, records={"tickets": tickets})
    assert set(fired) == {"support_backlog"}
    flag = fired["support_backlog"]
    assert flag.fields["Severity__c"] == "High" and flag.fields["Category__c"] == "Support"
    evidence = flag.fields["Evidence__c"]
    assert "High or urgent tickets open or pending: 2" in evidence
    assert "TKT-0001 · Checkout error 1 · high · open" in evidence and "TKT-0002" in evidence
    assert not any(f"TKT-000{n}" in evidence for n in (3, 4, 5))
    out = evaluate_account(ms, store_data(records={"tickets": tickets}))
    (task,) = [d for d in out.desired if d.sobject == "Task"]
    assert "2 high-priority support tickets unresolved over 5 days" in task.create_only["Subject"]


@pytest.mark.parametrize(
    "tickets",
    [
        [ticket(1, 4)],  # not five days yet: the planted menu-sync ticket of the demo is 20 hours old
        [ticket(1, 30, "normal"), ticket(2, 30, "low", "pending")],
        [ticket(1, 30, "urgent", "solved"), ticket(2, 30, "high", "closed")],
        [],
    ],
)
def test_fresh_low_priority_or_resolved_tickets_raise_nothing(ms: MappingSet, tickets: list[Any]) -> None:
    assert rules_fired(ms, records={"tickets": tickets}) == {}


def volume(per_fortnight_before: float, last_14: float) -> Any:
    s = history(TODAY)  # day offsets from today: 1..14 are the last 14 complete days
    set_days(s, "tickets_opened", "", range(1, 99), 0)
    set_days(s, "tickets_opened", "", range(15, 15 + round(per_fortnight_before * 6)), 1)  # one a day
    set_days(s, "tickets_opened", "", range(1, 1 + round(last_14)), 1)
    return s


@pytest.mark.parametrize(
    ("before", "last", "fires"),
    [(2, 6, True), (2, 4, False), (4, 7, False), (0, 5, True), (0, 4, False), (6, 13, True)],
)
def test_a_surge_is_measured_against_the_accounts_own_baseline(
    ms: MappingSet, before: float, last: float, fires: bool
) -> None:
    fired = rules_fired(ms, series=volume(before, last))
    assert ("ticket_surge" in fired) is fires
    if fires:
        assert f"Tickets opened, last 14 days: {last:g}" in fired["ticket_surge"].fields["Evidence__c"]


def test_the_backlog_flag_resolves_when_the_tickets_are_solved(ms: MappingSet) -> None:
    first = evaluate_account(ms, store_data(records={"tickets": [ticket(1, 9)]}))
    plan = diff(first.desired, {}, managed(ms, NOW))
    current = {(c.sobject, c.key): {**c.fields, c.key_field: c.key} for c in plan.changes}
    for rec in current.values():
        rec.setdefault("IsClosed", False)
    solved = evaluate_account(ms, store_data(records={"tickets": [ticket(1, 9, status="solved")]}))
    closes = {(c.op, c.sobject) for c in diff(solved.desired, current, managed(ms, NOW)).changes}
    assert closes >= {("close", "Risk_Flag__c"), ("close", "Task")}
