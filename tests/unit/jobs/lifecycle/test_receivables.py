"""Receivables: aging buckets, ACH return codes, method changes; the account manager is tasked; paid clears."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest

from jobs.plan import diff
from jobs.receivables import ReceivablesJob, assess

from .builders import MAPPINGS, NOW, TODAY, account_data, rerun_is_noop, written

JOB = ReceivablesJob.build(MAPPINGS)


def invoice(
    iid: str, days_past_due: int, amount: float = 500.0, paid: float = 0.0, status: str = "open"
) -> dict[str, Any]:
    due = TODAY - timedelta(days=days_past_due)
    return {"_key": f"IL-002:{iid}", "number": f"INV-{iid}", "issued_on": (due - timedelta(days=30)).isoformat(),
            "due_on": due.isoformat(), "amount": amount, "amount_paid": paid, "status": status}  # fmt: skip


def payment(pid: str, invoice_id: str, days_ago: int, status: str, code: str | None = None, changed: bool = False,
            method: str = "ach") -> dict[str, Any]:  # fmt: skip
    at = (NOW - timedelta(days=days_ago)).isoformat()
    return {"_key": f"IL-002:{pid}", "invoice_id": invoice_id, "amount": 500.0, "method": method, "status": status,
            "return_code": code, "payment_method_changed": changed, "created_at": at}  # fmt: skip


def store(invoices: list[dict[str, Any]], payments: list[dict[str, Any]] | None = None, **kw: Any) -> Any:
    return account_data("IL-002", records={"invoices": invoices, "payments": payments or []}, **kw)


@pytest.mark.parametrize(
    ("days", "bucket", "severity"),
    [(29, 0, None), (30, 30, "Medium"), (59, 30, "Medium"), (60, 60, "High"), (95, 90, "Critical")],
)
def test_aging_buckets_set_the_flag_severity(days: int, bucket: int, severity: str | None) -> None:
    data = store([invoice("1", days)])
    assert assess(JOB.cfg, data).bucket == bucket
    flags = [d for d in JOB.evaluate(data) if d.sobject == "Risk_Flag__c"]
    assert [f.fields["Severity__c"] for f in flags] == ([severity] if severity else [])


def test_past_due_flag_lists_every_invoice_and_tasks_the_account_manager() -> None:
    out = JOB.evaluate(
        store(
            [
                invoice("1", 31),
                invoice("2", 62, paid=200.0),
                invoice("3", 10),
                invoice("4", 95, status="paid"),
            ]
        )
    )
    flag, task = out
    assert (flag.key, flag.fields["Rule__c"]) == ("receivables:IL-002:past_due", "receivables:past_due")
    assert flag.fields["Evidence__c"] == (
        "2 invoice(s) 60+ days past due, $800.00 outstanding:\n"
        "- Invoice INV-2: $300.00 outstanding of $500.00, due 2026-09-22, 62 days past due (partly paid)\n"
        "- Invoice INV-1: $500.00 outstanding of $500.00, due 2026-10-23, 31 days past due"
    )
    # the data behind the text holds dates, not ages: it reads the same tomorrow
    assert json.loads(flag.fields["Evidence_Data__c"]) == {
        "bucket_days": 60, "outstanding": 800.0,
        "invoices": [
            {"number": "INV-2", "due_on": "2026-09-22", "amount": 500.0, "outstanding": 300.0},
            {"number": "INV-1", "due_on": "2026-10-23", "amount": 500.0, "outstanding": 500.0},
        ],
    }  # fmt: skip
    same_invoices = [invoice("1", 31), invoice("2", 62, paid=200.0)]
    tomorrow = JOB.evaluate(store(same_invoices, today=TODAY + timedelta(days=1)))[0]
    assert "63 days past due" in tomorrow.fields["Evidence__c"]
    assert tomorrow.fields["Evidence_Data__c"] == flag.fields["Evidence_Data__c"]
    assert task.key == "receivables:IL-002:past_due:2:60"
    assert task.create_only["OwnerId"] == "005AM"  # the account manager, not the CSM
    assert task.create_only["Subject"] == "Billing follow-up: Copper Leaf has invoices 60+ days past due"


def test_returned_and_failed_payments_are_followed_up_until_made_good() -> None:
    invoices = [invoice("1", 40), invoice("2", 5)]
    payments = [payment("p1", "1", 20, "returned", "R02"), payment("p2", "2", 3, "failed"),
                payment("p3", "2", 1, "succeeded")]  # fmt: skip
    out = {d.key: d for d in JOB.evaluate(store(invoices, payments))}
    t = out["receivables:IL-002:payment:p1"]
    assert t.fields["Priority"] == "High"  # R02: account closed
    assert (
        t.create_only["Subject"] == "Billing follow-up: ACH payment for invoice 1 returned (account closed)"
    )
    assert t.create_only["Description"].startswith(
        "The ACH payment of $500.00 made on 2026-11-03 for our invoice 1 returned: account closed (R02)."
    )
    assert "receivables:IL-002:payment:p2" not in out  # a later payment succeeded
    f = out["receivables:IL-002:payment_failed"]
    assert f.fields["Severity__c"] == "High"
    assert "returned (R02: account closed)" in f.fields["Evidence__c"]


def test_a_failed_payment_without_a_return_code_reads_as_text_not_as_none() -> None:
    out = {d.key: d for d in JOB.evaluate(store([invoice("1", 40)], [payment("p1", "1", 3, "failed")]))}
    t = out["receivables:IL-002:payment:p1"]
    subject, description = t.create_only["Subject"], t.create_only["Description"]
    assert subject == "Billing follow-up: ACH payment for invoice 1 failed (no reason given)"
    assert "failed: no reason given (no return code)." in description
    for text in (subject, description, out["receivables:IL-002:payment_failed"].fields["Evidence__c"]):
        assert not re.search(r"\b(none|null)\b", text, re.IGNORECASE), text


def test_a_failed_payment_on_an_invoice_since_paid_is_cleared() -> None:
    out = JOB.evaluate(store([invoice("1", 40, status="paid")], [payment("p1", "1", 20, "returned", "R01")]))
    assert out == []


def test_repeated_payment_method_changes_raise_a_flag_once_per_quarter() -> None:
    payments = [payment(f"p{i}", "x", 10 * i, "succeeded", changed=True) for i in (1, 2, 3)]
    out = {d.key: d for d in JOB.evaluate(store([], payments))}
    assert set(out) == {"receivables:IL-002:method_changes", "receivables:IL-002:method_changes:2026-Q4"}
    assert (
        "3 payment-method changes in 90 days"
        in out["receivables:IL-002:method_changes"].fields["Evidence__c"]
    )
    assert JOB.evaluate(store([], payments[:1])) == []


def test_wording_speaks_of_our_invoices_only() -> None:
    out = JOB.evaluate(store([invoice("1", 95)], [payment("p1", "1", 20, "returned", "R01"),
                                                  *[payment(f"c{i}", "x", i, "succeeded", changed=True) for i in (1, 2)]]))  # fmt: skip
    text = " ".join(str(v) for d in out for v in (*d.fields.values(), *d.create_only.values())).lower()
    for word in ("cannabis", "cash", "marijuana", "dispensary sales", "deposit"):
        assert word not in text


def test_paying_clears_the_flag_and_completes_the_task() -> None:
    sf = written(diff(JOB.evaluate(store([invoice("1", 45)])), {}))
    for rec in sf.values():
        rec["_account_key"] = "IL-002"
    after = diff(JOB.evaluate(store([invoice("1", 45, status="paid", paid=500.0)])), sf, JOB.managed(NOW))
    assert [(c.op, c.sobject, c.key) for c in after.changes] == [
        ("close", "Risk_Flag__c", "receivables:IL-002:past_due"),
        ("close", "Task", "receivables:IL-002:past_due:1:30"),
    ]


def test_stale_billing_data_holds_findings() -> None:
    data = store([], freshness={"billing": NOW - timedelta(days=5)},
                 attrs={"open_keys": {"Risk_Flag__c": ["receivables:IL-002:past_due"]}})  # fmt: skip
    assert [(d.key, dict(d.fields)) for d in JOB.evaluate(data)] == [("receivables:IL-002:past_due", {})]


def test_receivables_are_idempotent() -> None:
    data = store([invoice("1", 70)], [payment("p1", "1", 20, "returned", "R01")])
    assert JOB.evaluate(data) == JOB.evaluate(data)
    assert rerun_is_noop(JOB.evaluate(data), JOB.managed(NOW))


def test_explain_shows_buckets_and_payments() -> None:
    out = JOB.explain(store([invoice("1", 70)], [payment("p1", "1", 20, "returned", "R01")]))
    assert out["bucket"] == 60
    assert out["failed_payments"] == [{"id": "p1", "status": "returned", "code": "R01"}]
