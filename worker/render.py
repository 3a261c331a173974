"""Human-readable output: plans as field-level diffs, the status board, run summaries (rich tables)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from jobs.plan import Plan
from jobs.store import Cursor, Freshness, OutboxEntry, Quarantine, RunRecord
from worker.metrics import status_lines

MAX_CELL = 60


def cell(value: Any) -> str:
    if value is None or value == "":
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def plan_table(plan: Plan, title: str) -> Table:
    table = Table(title=title, show_lines=False)
    for name in ("object", "key", "op", "field", "now", "after"):
        table.add_column(name, overflow="fold")
    for c in plan.changes:
        before = getattr(c, "before", {})
        first = True
        for f, v in c.fields.items():
            table.add_row(
                c.sobject if first else "",
                c.key if first else "",
                c.op if first else "",
                f,
                cell(before.get(f)) if c.op != "create" else "",
                cell(v),
            )
            first = False
    return table


def print_plan(console: Console, plan: Plan, job: str, unmatched: Sequence[str] = ()) -> None:
    counts = plan.counts
    if plan.changes:
        console.print(plan_table(plan, f"Plan for {job}"))
    console.print(
        f"[bold]{job}[/bold]: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['close']} to close; {len(plan.kept)} left alone (owned by a person)"
    )
    for k in plan.kept[:20]:
        console.print(f"  kept {k.sobject} {k.key}: {k.why}")
    if unmatched:
        shown = ", ".join(unmatched[:15]) + (" …" if len(unmatched) > 15 else "")
        console.print(
            f"[yellow]{len(unmatched)} store(s) have no Salesforce Account (Store_Id__c): {shown}[/yellow]"
        )


def status_board(console: Console, engine: Engine, now: datetime, stale_hours: float = 24.0) -> None:
    with Session(engine) as s:
        runs = s.exec(select(RunRecord).order_by(col(RunRecord.started_at).desc()).limit(15)).all()
        outbox = dict(s.exec(select(OutboxEntry.status, func.count()).group_by(OutboxEntry.status)).all())
        dead = s.exec(
            select(OutboxEntry).where(col(OutboxEntry.status).in_(("dead", "failed"))).limit(20)
        ).all()
        fresh = s.exec(select(Freshness)).all()
        cursors = s.exec(select(func.count()).select_from(Cursor)).one()
        quarantined = s.exec(select(func.count()).select_from(Quarantine)).one()
    t = Table(title="Recent runs")
    for name in (
        "started",
        "job",
        "status",
        "exit",
        "created",
        "updated",
        "closed",
        "errors",
        "api calls",
        "secs",
    ):
        t.add_column(name)
    for r in runs:
        c: Mapping[str, Any] = r.counts.get("applied", r.counts)
        secs = (r.finished_at - r.started_at).total_seconds() if r.finished_at else None
        t.add_row(
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            r.job,
            r.status,
            cell(r.exit_code),
            cell(c.get("created")),
            cell(c.get("updated")),
            cell(c.get("closed")),
            cell(c.get("failed")),
            cell(r.api_calls),
            f"{secs:.1f}" if secs is not None else "—",
        )
    console.print(t)
    latest: dict[str, RunRecord] = {}
    for r in runs:
        latest.setdefault(r.job, r)
    warned = [(r.job, str(w)) for r in latest.values() for w in (r.counts or {}).get("warnings", ())]
    if warned:
        console.print("[yellow]What the latest runs could not carry out (they exited 1):[/yellow]")
        for job, warning in warned:
            console.print(f"  {job}: {warning}", markup=False, highlight=False)
    by_source: dict[str, list[Freshness]] = {}
    for f in fresh:
        by_source.setdefault(f.source, []).append(f)
    ft = Table(title="Data freshness by source")
    for name in ("source", "stores", f"stale (>{stale_hours:g}h)", "errors", "newest data", "last success"):
        ft.add_column(name)
    for source, rows in sorted(by_source.items()):
        newest = max((_aware(r.newest_data_at) for r in rows if r.newest_data_at), default=None)
        success = max((_aware(r.last_success_at) for r in rows if r.last_success_at), default=None)
        stale = sum(
            1
            for r in rows
            if r.newest_data_at is None
            or (now - _aware(r.newest_data_at)).total_seconds() > stale_hours * 3600
        )
        ft.add_row(
            source,
            str(len(rows)),
            str(stale),
            str(sum(1 for r in rows if r.last_error)),
            cell(newest.isoformat(timespec="minutes") if newest else None),
            cell(success.isoformat(timespec="minutes") if success else None),
        )
    console.print(ft)
    console.print(
        "Outbox: "
        + (", ".join(f"{k} {v}" for k, v in sorted(outbox.items())) or "empty")
        + f"  ·  cursors {cursors}  ·  quarantined records {quarantined}"
    )
    for line in status_lines(engine, now, stale_hours):  # API budget, last successes, locks, shards
        console.print(line, markup=False, highlight=False)
    if dead:
        dt = Table(title="Records Salesforce rejected (retried next run; dead after max_attempts)")
        for name in ("object", "key", "status", "attempts", "error"):
            dt.add_column(name, overflow="fold")
        for d in dead:
            dt.add_row(d.sobject, d.key, d.status, str(d.attempts), cell(d.error))
        console.print(dt)


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)
