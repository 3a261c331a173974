"""The relationship around a store: platform usage, support tickets, NPS answers, invoices and payments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sandbox.portfolio import catalog
from sandbox.portfolio.model import Contract, Invoice, NpsResponse, Payment, Store, Ticket, UsageDay
from sandbox.portfolio.scenarios import VOICE_COMMENTS, VOICE_TICKETS
from sandbox.portfolio.seasons import REFERENCE_TODAY, add_months, reference_day, rng, utc_midnight

UTC = ZoneInfo("UTC")
Priority = Literal["low", "normal", "high", "urgent"]
TicketStatus = Literal["open", "pending", "solved", "closed"]
Method = Literal["ach", "check", "wire"]
PaymentStatus = Literal["succeeded", "failed", "returned"]


def usage_days(seed: int, store: Store, days: Sequence[date], now: datetime) -> tuple[UsageDay, ...]:
    start = store.onboarding_started_on or store.created_at.date()
    out: list[UsageDay] = []
    for day in days:
        if day < start:
            continue
        on = reference_day(day, days[-1] + timedelta(days=1))
        r = rng(seed, "usage", store.id, on)
        weekend = on.weekday() >= 5
        setting_up = store.onboarding_started_on is not None and (day - store.onboarding_started_on).days < 30
        if setting_up or store.scenario == "expansion_growth":
            low, high, edits = (6, 12, (2, 8)) if weekend else (10, 20, (4, 14))
        elif store.health == "green":
            low, high, edits = (3, 8, (0, 3)) if weekend else (8, 15, (1, 6))
        elif store.health == "yellow":
            low, high, edits = (1, 3, (0, 1)) if weekend else (3, 7, (0, 3))
        else:
            low, high, edits = (0, 1, (0, 0)) if weekend else (0, 2, (0, 1))
        logins = r.randint(low, high)
        active = min(logins, max(1, round(logins * r.uniform(0.4, 0.7)))) if logins else 0
        updated = min(
            now, utc_midnight(day + timedelta(days=1)) + timedelta(hours=6, minutes=r.randint(0, 50))
        )
        out.append(UsageDay(day, logins, active, r.randint(*edits) if logins else 0, updated))
    return tuple(out)


def _local(store: Store, day: date, hour: float, today: date) -> datetime:
    """`hour` of the store's local `day`, at the UTC offset its reference-calendar day has: the time
    before `today` is then the same on every date (a DST change moves the local hour, never the day)."""
    ref = datetime.combine(reference_day(day, today), time(12), ZoneInfo(store.timezone))
    offset = ref.utcoffset() or timedelta(0)
    return datetime.combine(day, time(0), UTC) + timedelta(hours=hour) - offset


PLANTED_TICKETS: dict[str, tuple[str, Priority, TicketStatus, float]] = {
    # scenario: (subject, priority, status, hours before now)
    "menu_sync_failure": ("Online menu shows best sellers out of stock", "high", "open", 20.0),
    "category_drop_edibles": ("Edibles missing from the online menu", "normal", "pending", 70.0),
}


def tickets(seed: int, store: Store, days: Sequence[date], now: datetime) -> tuple[Ticket, ...]:
    r = rng(seed, "tickets", store.id)
    per_day = {"green": 1 / 30, "yellow": 3 / 30, "red": 7 / 30}[store.health]
    start = store.onboarding_started_on or days[0]
    out: list[Ticket] = []

    def add(
        subject: str, priority: Priority, opened: datetime, status: TicketStatus, closed: datetime | None
    ) -> None:
        updated = closed or min(now, opened + timedelta(hours=r.uniform(0.5, 20)))
        out.append(
            Ticket(
                f"TKT-{store.id}-{len(out) + 1:04d}",
                store.id,
                subject,
                priority,
                status,
                opened,
                closed,
                updated,
            )
        )

    for day in days:
        if day < start or r.random() >= per_day:
            continue
        trouble = r.random() < {"green": 0.15, "yellow": 0.4, "red": 0.65}[store.health]
        subject = r.choice(catalog.TICKET_SUBJECTS["trouble" if trouble else "routine"])
        if trouble:
            priority: Priority = (
                r.choice(("high", "urgent")) if store.health == "red" else r.choice(("normal", "high"))
            )
        else:
            priority = r.choice(("low", "normal"))
        opened = _local(store, day, r.uniform(9, 18), days[-1] + timedelta(days=1))
        if opened >= now:
            continue
        stuck = store.health == "red" and trouble and r.random() < 0.4
        closes = opened + timedelta(hours=r.uniform(2, 96 if store.health == "green" else 240))
        if stuck or closes >= now:
            add(subject, priority, opened, r.choice(("open", "pending")), None)
        else:
            add(subject, priority, opened, "solved" if now - closes < timedelta(days=2) else "closed", closes)
    planted = PLANTED_TICKETS.get(store.scenario)
    if planted:
        subject, priority, status, hours = planted
        add(subject, priority, now - timedelta(hours=hours), status, None)
    request = VOICE_TICKETS.get(store.id)
    quiet = [
        i
        for i, t in enumerate(out)
        if t.priority in ("low", "normal") and t.closed_at and t.opened_at <= now - timedelta(days=16)
    ]
    if request and quiet:
        out[quiet[-1]] = replace(out[quiet[-1]], subject=request)
    return tuple(out)


def nps_responses(seed: int, store: Store, days: Sequence[date], now: datetime) -> tuple[NpsResponse, ...]:
    """A monthly survey: a few answers per store, scores by health band."""
    if store.live_on is None:
        return ()
    r = rng(seed, "nps", store.id)
    scores = {"green": (10, 10, 9, 9, 9, 8), "yellow": (9, 8, 7, 7, 6, 5), "red": (7, 6, 5, 4, 3, 2)}[
        store.health
    ]
    out: list[NpsResponse] = []
    today = days[-1] + timedelta(days=1)
    block_start = max(days[0], store.live_on + timedelta(days=7))
    while block_start <= days[-1]:
        for _ in range(r.randint(1, 3)):
            when = _local(store, block_start + timedelta(days=r.randint(0, 29)), r.uniform(9, 20), today)
            score = r.choice(scores)
            if when >= now:
                continue
            kind = "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
            out.append(
                NpsResponse(
                    f"nps-{store.id}-{len(out) + 1:03d}",
                    store.id,
                    score,
                    r.choice(catalog.NPS_COMMENTS[kind]),
                    when,
                )
            )
        block_start += timedelta(days=30)
    ordered = sorted(out, key=lambda x: x.responded_at)
    said = list(VOICE_COMMENTS.get(store.id, ()))
    for i in reversed(range(len(ordered))):
        if said and ordered[i].score >= 7:
            ordered[i] = replace(ordered[i], comment=said.pop(0))
    return tuple(replace(r, id=f"nps-{store.id}-{n:03d}") for n, r in enumerate(ordered, 1))


@dataclass(frozen=True, slots=True)
class Billing:
    invoices: tuple[Invoice, ...]
    payments: tuple[Payment, ...]


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), UTC)


def billing(
    seed: int, store: Store, contract: Contract, today: date, now: datetime, first_day: date
) -> Billing:
    """Monthly invoices (net 30) and their payments, drawn on the reference calendar and dated back
    from `today` (seasons.REFERENCE_TODAY): days past due are the same on every date the demo runs."""
    shift = today - REFERENCE_TODAY
    # The contract as it would stand on the reference calendar. A new location's contract starts the day
    # its onboarding did, so its start is as many days back; any other ends as many days ahead and starts
    # the term's calendar months before that end.
    if contract.start_date == store.onboarding_started_on:
        start = contract.start_date - shift
    else:
        start = add_months(contract.end_date - shift + timedelta(days=1), -contract.term_months)
    ref = _billing(
        seed, store, replace(contract, start_date=start), REFERENCE_TODAY, now - shift, first_day - shift
    )
    ids: dict[str, str] = {}
    invoices = []
    for inv in ref.invoices:
        issued = inv.issued_on + shift
        ids[inv.id] = f"inv-{store.id}-{issued:%Y%m%d}"
        invoices.append(
            replace(
                inv,
                id=ids[inv.id],
                number=f"INV-{issued:%Y%m%d}-{store.index:05d}",
                issued_on=issued,
                due_on=inv.due_on + shift,
                updated_at=inv.updated_at + shift,
            )
        )
    payments = [
        replace(
            p,
            id=f"pay-{ids[p.invoice_id][4:]}-{p.id.rsplit('-', 1)[1]}",
            invoice_id=ids[p.invoice_id],
            created_at=p.created_at + shift,
            updated_at=p.updated_at + shift,
        )
        for p in ref.payments
    ]
    return Billing(tuple(invoices), tuple(payments))


def _billing(
    seed: int, store: Store, contract: Contract, today: date, now: datetime, first_day: date
) -> Billing:
    """Monthly invoices (net 30) and their payments; the receivables store's story is written by hand."""
    r = rng(seed, "billing", store.id)
    ar = store.scenario == "receivables"
    anchor = today - timedelta(days=62) if ar else contract.start_date
    earliest = max(contract.start_date, first_day - timedelta(days=40))
    months = range(-40, 40)
    issues = [d for k in months if earliest <= (d := add_months(anchor, k)) <= today]
    invoices: list[Invoice] = []
    payments: list[Payment] = []
    late_done = False
    latest_due = max((d + timedelta(days=30) for d in issues if d + timedelta(days=30) < today), default=None)

    def pay(
        inv_id: str,
        amount: float,
        day: date,
        method: Method = "ach",
        status: PaymentStatus = "succeeded",
        code: str | None = None,
        changed: bool = False,
        settle_days: int = 1,
    ) -> None:
        created = _at(day, 14)
        updated = min(now, created + timedelta(days=settle_days))
        payments.append(
            Payment(
                f"pay-{inv_id[4:]}-{len([p for p in payments if p.invoice_id == inv_id]) + 1}",
                inv_id,
                store.id,
                amount,
                method,
                status,
                code,
                changed,
                created,
                updated,
            )
        )

    for issued in issues:
        due = issued + timedelta(days=30)
        inv_id = f"inv-{store.id}-{issued:%Y%m%d}"
        amount = contract.monthly_fee
        paid = 0.0
        paid_on: date | None = None
        if ar:
            k = round((issued - anchor).days / 30.4)
            if k <= -3:
                paid_on = due - timedelta(days=r.randint(0, 4))
                pay(inv_id, amount, paid_on)
                paid = amount
            elif k == -2:
                pay(
                    inv_id,
                    amount,
                    due - timedelta(days=2),
                    status="returned",
                    code="R01",
                    changed=True,
                    settle_days=4,
                )
            elif k == 0:
                paid_on = due + timedelta(days=3)
                pay(inv_id, round(amount / 2, 2), paid_on, method="check", changed=True)
                paid = round(amount / 2, 2)
            elif k == 1:
                pay(inv_id, amount, due - timedelta(days=1), status="failed", changed=True)
        else:
            method: Method = "ach" if r.random() < 0.85 else r.choice(("check", "wire"))
            pay_day = due - timedelta(days=r.randint(0, 6))
            if store.health == "yellow" and not late_done and 30 <= (today - due).days <= 75:
                pay_day, late_done = due + timedelta(days=r.randint(9, 16)), True
            if store.health == "red" and due == latest_due and (today - due).days <= 40:
                pay(inv_id, amount, due - timedelta(days=1), status="failed")
                pay_day = today + timedelta(days=1)  # still unpaid
            if pay_day < today:
                paid_on = pay_day
                pay(inv_id, amount, pay_day, method=method)
                paid = amount
        status: Literal["open", "paid"] = "paid" if paid >= amount else "open"
        updated = _at(paid_on, 15) if paid_on else _at(issued, 8)
        invoices.append(
            Invoice(
                inv_id,
                store.id,
                f"INV-{issued:%Y%m}-{store.index:05d}",
                issued,
                due,
                amount,
                paid,
                status,
                min(now, updated),
            )
        )
    return Billing(tuple(invoices), tuple(payments))
