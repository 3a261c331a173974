"""Compliance on sales: POS vs Metrc receipts per day, and online orders against purchase limits."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.compliance import ComplianceJob
from jobs.plan import Close, diff
from mappings.lifecycle import FileError
from mappings.purchase_limits import LimitCheck, Order, check_orders
from mappings.reconciliation import ReconciliationRule, reconcile
from mappings.states import load_states

from .builders import MAPPINGS, NOW, TODAY, account_data, daily, rerun_is_noop, written

STATES = load_states(MAPPINGS / "states")
JOB = ComplianceJob.build(MAPPINGS)
RULE = ReconciliationRule()
LIMITS = LimitCheck()
START = TODAY - timedelta(days=30)
YESTERDAY = TODAY - timedelta(days=1)


# -- reconciliation arithmetic --------------------------------------------------------------------
def pos_and_metrc(**metrc_by_day: float) -> tuple[dict[date, float], dict[date, float]]:
    """$3,000 a day in both from START to yesterday; `d3=1500.0` sets Metrc 3 days ago."""
    pos = daily({}, "revenue", "", START, YESTERDAY, 3000.0)[("revenue", "")]
    metrc = dict(pos)
    for name, value in metrc_by_day.items():
        metrc[TODAY - timedelta(days=int(name[1:]))] = value
    return pos, metrc


def test_days_beyond_tolerance_are_the_gaps_with_both_amounts() -> None:
    pos, metrc = pos_and_metrc(d2=1500.0, d3=0.0, d4=2990.0)
    result = reconcile(pos, metrc, TODAY, RULE)
    assert result.checked == tuple(TODAY - timedelta(days=d) for d in range(7, 0, -1))
    assert [(g.day, g.pos, g.metrc, g.allowed) for g in result.gaps] == [
        (TODAY - timedelta(days=3), 3000.0, 0.0, 60.0),
        (TODAY - timedelta(days=2), 3000.0, 1500.0, 60.0),
    ]
    assert result.fires(RULE)


def test_within_tolerance_and_at_the_tolerance_exactly_raise_nothing() -> None:
    pos, metrc = pos_and_metrc(d1=2940.0, d2=3060.0, d5=2975.0)  # 2% of 3,000 = 60, and $25 floor
    assert reconcile(pos, metrc, TODAY, RULE).gaps == ()
    small = {d: 100.0 for d in pos}
    assert reconcile(small, {d: 76.0 for d in pos}, TODAY, RULE).gaps == ()  # $24 < $25 floor


def test_the_first_day_of_either_series_and_unsettled_days_are_not_compared() -> None:
    pos, metrc = pos_and_metrc()
    metrc = {d: v for d, v in metrc.items() if d >= TODAY - timedelta(days=3)}
    metrc[TODAY - timedelta(days=3)] = 700.0  # a first pull that began mid-day
    pos[TODAY] = 900.0  # today is partial: never compared
    result = reconcile(pos, metrc, TODAY, RULE)
    assert result.checked == (TODAY - timedelta(days=2), YESTERDAY) and result.gaps == ()
    assert reconcile(pos, {}, TODAY, RULE).checked == ()


def test_min_days_asks_for_repeated_gaps() -> None:
    pos, metrc = pos_and_metrc(d2=0.0)
    assert not reconcile(pos, metrc, TODAY, RULE.model_copy(update={"min_days": 2})).fires(
        RULE.model_copy(update={"min_days": 2})
    )


def test_an_unreadable_day_is_set_aside_not_compared() -> None:
    pos, metrc = pos_and_metrc()
    metrc[TODAY - timedelta(days=2)] = float("nan")
    pos[TODAY - timedelta(days=3)] = -5.0
    result = reconcile(pos, metrc, TODAY, RULE)
    assert result.unreadable == (TODAY - timedelta(days=3), TODAY - timedelta(days=2))
    assert result.gaps == () and len(result.checked) == 5


# -- purchase limits ------------------------------------------------------------------------------
def order(oid: str, *lines: dict[str, Any], status: str = "completed", days_ago: float = 1) -> dict[str, Any]:
    placed = NOW - timedelta(days=days_ago)
    return {"order_id": oid, "status": status, "placed_at": placed.isoformat(), "items": list(lines)}


def line(category: str, quantity: float, grams: Any = None, mg: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"category": category, "quantity": quantity, "price": 10.0}
    if grams is not None:
        out["weight_grams"] = grams
    if mg is not None:
        out["thc_mg"] = mg
    return out


def breaches(state: str, *orders: dict[str, Any]) -> list[tuple[str, str]]:
    found = check_orders(STATES[state], [Order.of(o) for o in orders], NOW, LIMITS)
    return [(v.rule_id, v.finding) for v in found]


def test_an_order_above_the_limit_is_named_with_its_amount() -> None:
    found = check_orders(
        STATES["IL"], [Order.of(order("o-7", line("concentrates", 7, grams=1.0)))], NOW, LIMITS
    )
    assert [(v.rule_id, v.item_id) for v in found] == [("il-limit-concentrate", "online-orders")]
    assert found[0].finding == "1 online order above the IL limit of 5 g concentrate per transaction: o-7"
    assert f"o-7 ({(NOW - timedelta(days=1)).date().isoformat()}): 7 g" in found[0].evidence


def test_exactly_the_limit_a_state_without_the_rule_and_other_statuses_raise_nothing() -> None:
    assert breaches("IL", order("o-5", line("concentrates", 5, grams=1.0))) == []
    assert breaches("AZ", order("o-ed", line("edibles", 12, mg=100))) == []  # AZ has no infused limit
    assert breaches("IL", order("o-c", line("concentrates", 9, grams=1.0), status="canceled")) == []
    assert breaches("IL", order("o-old", line("concentrates", 9, grams=1.0), days_ago=8)) == []
    # 1 oz = 28.349523125 g: eight 3.5437 g bags sit on the AZ limit, not above it
    assert breaches("AZ", order("o-oz", line("flower", 8, grams=28.349523125 / 8))) == []


def test_categories_add_up_per_rule_and_units_convert() -> None:
    mixed = order(
        "o-mix", line("flower", 4, grams=3.5), line("pre_rolls", 17, grams=1.0), line("vapes", 1, grams=1)
    )
    assert breaches("IL", mixed) == [
        ("il-limit-flower", "1 online order above the IL limit of 30 g flower per transaction: o-mix")
    ]
    edibles = order("o-mg", line("edibles", 6, mg=100))
    assert [r for r, _ in breaches("IL", edibles)] == ["il-limit-infused"]
    assert breaches("CO", edibles) == []  # 600 mg within CO's 800 mg


def test_lines_without_a_weight_are_unmeasured_not_guessed() -> None:
    assert breaches("IL", order("o-x", line("concentrates", 40), line("concentrates", 2, grams="abc"))) == []


# -- the job --------------------------------------------------------------------------------------
def store(series: dict[tuple[str, str], dict[date, float]] | None = None, **kw: Any) -> Any:
    fresh = {"platform": NOW, "pos": NOW, "metrc": NOW}
    return account_data(
        "MI-001", series=series, freshness=kw.pop("freshness", fresh),
        store={"license_number": "AU-R-000001"}, **kw,
    )  # fmt: skip


def gap_series(**metrc_by_day: float) -> dict[tuple[str, str], dict[date, float]]:
    pos, metrc = pos_and_metrc(**metrc_by_day)
    return {("revenue", ""): pos, ("metrc_sales", ""): metrc}


KEY = "compliance:MI-001:metrc-reconciliation:sales"


def test_a_reporting_gap_is_one_flag_and_task_naming_the_days_and_amounts() -> None:
    out = JOB.evaluate(store(gap_series(d2=1500.0, d3=0.0)))
    assert [(d.sobject, d.key) for d in out] == [("Risk_Flag__c", KEY), ("Task", KEY)]
    flag, task = out
    assert flag.fields["Rule__c"] == "compliance:metrc-reconciliation"
    assert flag.fields["Severity__c"] == "High" and flag.fields["Category__c"] == "Compliance"
    evidence = flag.fields["Evidence__c"]
    d2, d3 = (TODAY - timedelta(days=n) for n in (2, 3))
    assert f"{d3.isoformat()}: POS $3,000.00, Metrc $0.00 — POS $3,000.00 more (tolerance $60.00)" in evidence
    assert f"{d2.isoformat()}: POS $3,000.00, Metrc $1,500.00" in evidence
    assert flag.reason == (
        "POS sales differ from Metrc sales receipts on 2 of the last 7 days; over those days POS is "
        "$4,500.00 above Metrc"
    )
    assert d3.isoformat() in task.create_only["Description"] and task.fields["Priority"] == "High"
    assert rerun_is_noop(out, JOB.managed(NOW))


def test_the_reporting_flag_closes_when_metrc_catches_up() -> None:
    before = written(diff(JOB.evaluate(store(gap_series(d2=0.0))), {}))
    for rec in before.values():
        rec["_account_key"] = "MI-001"
    after = diff(JOB.evaluate(store(gap_series())), before, JOB.managed(NOW))
    assert [(type(c), c.sobject, c.key) for c in after.changes] == [
        (Close, "Risk_Flag__c", KEY),
        (Close, "Task", KEY),
    ]


def test_stale_pos_or_metrc_holds_the_reporting_flag_but_not_the_menu_checks() -> None:
    stale = {"platform": NOW, "pos": NOW - timedelta(days=4), "metrc": NOW}
    limit_key = "compliance:MI-001:mi-limit-flower:online-orders"
    opened = {"open_keys": {"Risk_Flag__c": [KEY, limit_key], "Task": [KEY]}}
    out = JOB.evaluate(store(gap_series(d2=0.0), freshness=stale, attrs=opened))
    assert [(d.sobject, d.key, dict(d.fields)) for d in out] == [("Risk_Flag__c", KEY, {}), ("Task", KEY, {})]


def test_a_store_without_a_metrc_license_is_not_reconciled() -> None:
    data = account_data("MI-001", series=gap_series(d2=0.0),
                        freshness={"platform": NOW, "pos": NOW, "metrc": NOW})  # fmt: skip
    assert JOB.evaluate(data) == []
    assert JOB.explain(data)["metrc_reconciliation"] is None


def test_orders_above_the_limit_raise_one_flag_per_rule_and_close_when_they_age_out() -> None:
    orders = [
        order("o-1", line("flower", 12, grams=7.0)),
        order("o-2", line("flower", 11, grams=7.0), days_ago=2),
    ]
    data = store(records={"orders": orders})
    out = JOB.evaluate(data)
    key = "compliance:MI-001:mi-limit-flower:online-orders"
    assert [(d.sobject, d.key) for d in out] == [("Risk_Flag__c", key), ("Task", key)]
    assert "o-2" in out[0].fields["Evidence__c"] and "o-1" in out[0].fields["Evidence__c"]
    assert out[0].fields["Name"] == "Flower: 2.5 oz per transaction: online orders, last 7 days"
    assert JOB.summary(out)["findings"] == {"menu": 0, "purchase_limits": 1, "metrc_reporting": 0}
    before = written(diff(out, {}))
    for rec in before.values():
        rec["_account_key"] = "MI-001"
    later = account_data("MI-001", today=TODAY + timedelta(days=9), records={"orders": orders},
                         freshness={"platform": NOW + timedelta(days=9)})  # fmt: skip
    assert [type(c) for c in diff(JOB.evaluate(later), before, JOB.managed(NOW)).changes] == [Close, Close]


def test_orders_are_read_only_for_the_window() -> None:
    assert JOB.record_days == {"orders": 8}
    assert "orders" in JOB.streams


def test_explain_shows_the_days_compared_and_the_gaps() -> None:
    out = JOB.explain(store(gap_series(d2=0.0)))
    recon = out["metrc_reconciliation"]
    assert recon["fires"] and len(recon["days_checked"]) == 7
    assert recon["gaps"] == [{"day": (TODAY - timedelta(days=2)).isoformat(), "pos": 3000.0, "metrc": 0.0,
                              "allowed": 60.0}]  # fmt: skip
    assert [v["rule"] for v in out["violations"]] == ["metrc-reconciliation"]


def test_a_bad_setting_names_the_file_the_key_and_the_fix(tmp_path: Path) -> None:
    folder = tmp_path / "mappings"
    shutil.copytree(MAPPINGS, folder)
    path = folder / "compliance.toml"
    text = path.read_text()
    path.write_text(text.replace('concentrate = ["concentrates", "vapes"]', 'concentrate = ["wax"]')
                    .replace("tolerance_percent = 2.0", "tolerance_percent = -2"))  # fmt: skip
    with pytest.raises(FileError) as err:
        ComplianceJob.build(folder)
    said = str(err.value)
    assert (
        'compliance.toml: purchase_limits.counts: "wax" (counted for concentrate) is not a category' in said
    )
    assert "compliance.toml: metrc_reconciliation.tolerance_percent: must be at least 0, got -2" in said
    path.write_text(text.replace("min_days = 1", "min_days = 9"))
    with pytest.raises(FileError, match=r"min_days \(9\) cannot exceed days \(7\)"):
        ComplianceJob.build(folder)
