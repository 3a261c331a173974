"""Receivables: past-due invoices, failed payments, payment-method changes → the account manager."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from jobs.compliance import hold, read_open, stale_sources
from jobs.current import Reader
from jobs.job import JobBase
from mappings import records
from mappings.context import AccountData
from mappings.desired import Desired, Managed
from mappings.lifecycle import (
    Model,
    Quarter,
    Severity,
    TaskTemplate,
    as_date,
    load_templated,
    mapping_dir,
    money,
    number,
    task,
)
from mappings.states import slug

FILE = "receivables.toml"
PREFIX = "receivables:"
SEVERITY_ORDER = ("Low", "Medium", "High", "Critical")
PLACEHOLDERS = {
    "past_due_task": ("account", "store", "bucket", "days", "outstanding", "invoices", "oldest"),
    "payment_task": ("account", "store", "invoice", "amount", "code", "meaning", "method", "on", "status"),
    "method_task": ("account", "store", "changes", "window_days"),
}


class ReturnCode(Model):
    meaning: str
    severity: Severity = "Medium"


class Bucket(Model):
    days: int = Field(ge=1, le=365)
    severity: Severity


class ReceivablesFile(Model):
    invoice_stream: str = "invoices"
    payment_stream: str = "payments"
    requires_fresh: tuple[str, ...] = ("billing",)
    stale_after_hours: float = Field(default=72.0, gt=0)
    buckets: tuple[Bucket, ...] = Field(min_length=1)
    payment_lookback_days: int = Field(default=60, ge=1, le=365)
    method_change_window_days: int = Field(default=90, ge=1, le=365)
    method_change_threshold: int = Field(default=2, ge=1)
    failed_severity: Severity = "Medium"  # a failed payment without a return code
    flag_category: str = "Receivables"
    return_codes: dict[str, ReturnCode] = Field(default_factory=dict)
    past_due_task: TaskTemplate
    payment_task: TaskTemplate
    method_task: TaskTemplate

    @model_validator(mode="after")
    def _ordered(self) -> ReceivablesFile:
        days = [b.days for b in self.buckets]
        if days != sorted(set(days)):
            raise ValueError("buckets must be in increasing order of days, each once")
        return self


def load(path: Path) -> ReceivablesFile:
    return load_templated(ReceivablesFile, path, PLACEHOLDERS)


# -- the billing records as the checks see them ----------------------------------------------------
def record_id(key: Any) -> str:
    """The source's own id from a stored record key (`IL-002:inv-123` → `inv-123`)."""
    return str(key).split(":", 1)[-1] if key else ""


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str
    due_on: date | None
    amount: float
    paid: float
    status: str

    @classmethod
    def of(cls, rec: Mapping[str, Any]) -> Invoice:
        iid = str(rec.get("id") or record_id(rec.get("_key")) or rec.get("number") or "?")
        return cls(
            id=iid,
            number=str(rec.get("number") or iid),
            due_on=as_date(rec.get("due_on")),
            amount=number(rec.get("amount")) or 0.0,
            paid=number(rec.get("amount_paid")) or 0.0,
            status=str(rec.get("status") or "").lower(),
        )

    @property
    def outstanding(self) -> float:
        if self.status in ("paid", "void"):
            return 0.0
        return max(0.0, round(self.amount - self.paid, 2))

    def days_past_due(self, today: date) -> int:
        return (today - self.due_on).days if self.due_on is not None else 0


@dataclass(frozen=True)
class Payment:
    id: str
    invoice_id: str
    amount: float
    method: str
    status: str
    return_code: str
    method_changed: bool
    created: datetime | None

    @classmethod
    def of(cls, rec: Mapping[str, Any]) -> Payment:
        created = rec.get("created_at")
        when = None
        if isinstance(created, str) and len(created) >= 19:
            try:
                when = datetime.fromisoformat(created.replace("Z", "+00:00"))
            except ValueError:
                when = None
        elif isinstance(created, datetime):
            when = created
        return cls(
            id=str(rec.get("id") or record_id(rec.get("_key")) or "?"),
            invoice_id=str(rec.get("invoice_id") or ""),
            amount=number(rec.get("amount")) or 0.0,
            method=str(rec.get("method") or ""),
            status=str(rec.get("status") or "").lower(),
            return_code=str(rec.get("return_code") or "").upper(),
            method_changed=bool(rec.get("payment_method_changed")),
            created=when,
        )

    @property
    def day(self) -> date | None:
        return self.created.date() if self.created else None


@dataclass(frozen=True)
class Findings:
    past_due: tuple[tuple[Invoice, int], ...]  # (invoice, days past due), oldest first
    bucket: int  # the highest bucket reached (0: none)
    failed: tuple[Payment, ...]  # failed or returned, not yet made good
    method_changes: tuple[Payment, ...]


def bucket_of(days: int, buckets: Sequence[Bucket]) -> Bucket | None:
    reached = [b for b in buckets if days >= b.days]
    return reached[-1] if reached else None


def assess(cfg: ReceivablesFile, data: AccountData) -> Findings:
    """What the billing records say today: aging, unresolved payment failures, method changes."""
    invoices = {i.id: i for i in (Invoice.of(r) for r in data.records.get(cfg.invoice_stream, ()))}
    payments = sorted(
        (Payment.of(r) for r in data.records.get(cfg.payment_stream, ())),
        key=lambda p: (p.created or datetime.min.replace(tzinfo=data.now.tzinfo), p.id),
    )
    first = cfg.buckets[0].days
    aged = sorted(
        ((i, i.days_past_due(data.today)) for i in invoices.values() if i.outstanding > 0),
        key=lambda x: (-x[1], x[0].number),
    )
    past_due = tuple((i, d) for i, d in aged if d >= first)
    top = bucket_of(past_due[0][1], cfg.buckets) if past_due else None
    since = data.today - timedelta(days=cfg.payment_lookback_days)
    failed = []
    for p in payments:
        if p.status not in ("failed", "returned") or p.day is None or p.day < since:
            continue
        inv = invoices.get(p.invoice_id)
        if inv is not None and inv.outstanding <= 0:
            continue  # the invoice was paid since: cleared
        made_good = any(
            q.invoice_id == p.invoice_id and q.status == "succeeded" and q.created > p.created
            for q in payments
            if q.created is not None and p.created is not None
        )
        if not made_good:
            failed.append(p)
    window = data.today - timedelta(days=cfg.method_change_window_days)
    changes = tuple(p for p in payments if p.method_changed and p.day is not None and p.day >= window)
    return Findings(past_due, top.days if top else 0, tuple(failed), changes)


def _max_severity(values: Sequence[str]) -> str:
    return max(values, key=SEVERITY_ORDER.index) if values else "Medium"


class ReceivablesJob(JobBase):
    """Flags and Tasks for the account manager (Account owner), worded about our invoices only."""

    name = "receivables"

    def __init__(self, cfg: ReceivablesFile) -> None:
        self.cfg = cfg

    @classmethod
    def build(cls, source: Any) -> ReceivablesJob:
        return cls(load(mapping_dir(source) / FILE))

    @property
    def account_fields(self) -> frozenset[str]:
        return frozenset({"OwnerId"})

    @property
    def streams(self) -> tuple[str, ...]:
        return (self.cfg.invoice_stream, self.cfg.payment_stream)

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> dict[str, Any]:
        return read_open(org, accounts, PREFIX)

    def managed(self, now: datetime) -> Sequence[Managed]:
        return (
            records.close_flags(now, prefix=PREFIX),
            records.close_tasks(PREFIX, "paid, made good or escalated"),
        )

    def code(self, p: Payment) -> ReturnCode:
        if p.return_code and p.return_code in self.cfg.return_codes:
            return self.cfg.return_codes[p.return_code]
        meaning = f"return code {p.return_code}" if p.return_code else "no reason given"
        return ReturnCode(meaning=meaning, severity=self.cfg.failed_severity)

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        if not data.account.get("Id"):
            return []
        stale = stale_sources(data, self.cfg.requires_fresh, self.cfg.stale_after_hours)
        if stale:
            return hold(data, f"stale data from {', '.join(stale)}")
        f = assess(self.cfg, data)
        acct = data.account
        name = str(acct.get("Name") or data.store_id)
        out: list[Desired] = []
        store = data.store_id

        def add_flag(kind: str, title: str, severity: str, evidence: str, values: dict[str, Any]) -> None:
            """`values` go to Evidence_Data__c as JSON: dates, not ages, so a rerun tomorrow keeps them."""
            out.append(
                records.flag(
                    f"{PREFIX}{store}:{kind}",
                    account_id=acct.get("Id"),
                    rule=f"receivables:{kind}",
                    name=title,
                    severity=severity,
                    evidence=evidence,
                    category=self.cfg.flag_category,
                    now=data.now,
                    store_id=store,
                    reason=title,
                    evidence_data=json.dumps(values, sort_keys=True, default=str),
                )
            )

        if f.past_due:
            oldest, days = f.past_due[0]
            total = sum(i.outstanding for i, _ in f.past_due)
            lines = [
                f"- Invoice {i.number}: {money(i.outstanding)} outstanding of {money(i.amount)}, "
                f"due {i.due_on}, {d} days past due" + (" (partly paid)" if i.paid > 0 else "")
                for i, d in f.past_due
            ]
            bucket = bucket_of(days, self.cfg.buckets)
            severity = bucket.severity if bucket else "Medium"
            evidence = (
                f"{len(f.past_due)} invoice(s) {f.bucket}+ days past due, {money(total)} outstanding:\n"
            )
            add_flag(
                "past_due",
                f"Invoices {f.bucket}+ days past due",
                severity,
                evidence + "\n".join(lines),
                {
                    "bucket_days": f.bucket,
                    "outstanding": round(total, 2),
                    "invoices": [
                        {
                            "number": i.number,
                            "due_on": i.due_on,
                            "amount": i.amount,
                            "outstanding": i.outstanding,
                        }
                        for i, _d in f.past_due
                    ],
                },
            )
            values = {
                "account": name,
                "store": store,
                "bucket": f.bucket,
                "days": days,
                "outstanding": money(total),
                "invoices": "\n".join(lines),
                "oldest": oldest.number,
            }
            out.append(
                task(
                    f"{PREFIX}{store}:past_due:{slug(oldest.id)}:{f.bucket}",
                    acct,
                    self.cfg.past_due_task,
                    values,
                    data.today,
                    store_id=store,
                    reason=f"invoice {oldest.number} {days} days past due",
                )
            )
        if f.failed:
            lines = []
            for p in f.failed:
                c = self.code(p)
                lines.append(
                    f"- {p.method.upper() or 'Payment'} of {money(p.amount)} on {p.day} for invoice "
                    f"{p.invoice_id or '?'}: {p.status}"
                    + (f" ({p.return_code}: {c.meaning})" if p.return_code else "")
                )
                values = {
                    "account": name,
                    "store": store,
                    "invoice": p.invoice_id or "?",
                    "amount": money(p.amount),
                    "code": p.return_code or "no return code",
                    "status": p.status or "failed",
                    "meaning": c.meaning,
                    "method": p.method.upper() or "payment",
                    "on": str(p.day),
                }
                out.append(
                    task(
                        f"{PREFIX}{store}:payment:{slug(p.id)}",
                        acct,
                        self.cfg.payment_task,
                        values,
                        data.today,
                        priority="High" if c.severity in ("High", "Critical") else None,
                        store_id=store,
                        reason=f"payment {p.id} {p.status}",
                    )
                )
            add_flag(
                "payment_failed",
                "Payment failed or returned",
                _max_severity([self.code(p).severity for p in f.failed]),
                f"{len(f.failed)} payment(s) to us not made good:\n" + "\n".join(lines),
                {
                    "payments": [
                        {
                            "id": p.id,
                            "invoice": p.invoice_id,
                            "on": p.day,
                            "amount": p.amount,
                            "method": p.method,
                            "status": p.status,
                            "return_code": p.return_code,
                        }
                        for p in f.failed
                    ]
                },
            )
        if len(f.method_changes) >= self.cfg.method_change_threshold:
            w = self.cfg.method_change_window_days
            lines = [
                f"- {p.day}: {p.method.upper() or 'payment'} of {money(p.amount)}" for p in f.method_changes
            ]
            add_flag(
                "method_changes",
                "Repeated payment-method changes",
                "Medium",
                f"{len(f.method_changes)} payment-method changes in {w} days:\n" + "\n".join(lines),
                {
                    "window_days": w,
                    "changes": [
                        {"on": p.day, "method": p.method, "amount": p.amount} for p in f.method_changes
                    ],
                },
            )
            values = {"account": name, "store": store, "changes": len(f.method_changes), "window_days": w}
            out.append(
                task(
                    f"{PREFIX}{store}:method_changes:{Quarter.of(data.today)}",
                    acct,
                    self.cfg.method_task,
                    values,
                    data.today,
                    store_id=store,
                    reason="repeated payment-method changes",
                )
            )
        return out

    def explain(self, data: AccountData) -> dict[str, Any]:
        f = assess(self.cfg, data)
        return {
            "job": self.name,
            "store": data.store_id,
            "held_for_stale": stale_sources(data, self.cfg.requires_fresh, self.cfg.stale_after_hours),
            "past_due": [
                {"invoice": i.number, "days_past_due": d, "outstanding": i.outstanding} for i, d in f.past_due
            ],
            "bucket": f.bucket,
            "failed_payments": [{"id": p.id, "status": p.status, "code": p.return_code} for p in f.failed],
            "method_changes": len(f.method_changes),
            "method_change_threshold": self.cfg.method_change_threshold,
        }
