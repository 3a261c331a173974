"""Human-readable output: plans as field-level diffs, the status board, one run's rejected records."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from jobs.plan import Plan
from state.engine import Engine
from worker.status import board

MAX_CELL = 60


def cell(value: Any, full: bool = False) -> str:
    """A value in a table cell: one line of at most MAX_CELL characters, or (`full`) all of it as written."""
    if value is None or value == "":
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if full:
        return text
    text = text.replace("\n", " ⏎ ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def plan_table(plan: Plan, title: str, full: bool = False) -> Table:
    table = Table(title=title, show_lines=full)
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
                cell(before.get(f), full) if c.op != "create" else "",
                cell(v, full),
            )
            first = False
    return table


def print_plan(
    console: Console, plan: Plan, job: str, unmatched: Sequence[str] = (), full: bool = False
) -> None:
    counts = plan.counts
    if plan.changes:
        console.print(plan_table(plan, f"Plan for {job}", full))
    console.print(
        f"[bold]{job}[/bold]: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['close']} to close; {len(plan.kept)} left alone (owned by a person)"
    )
    for k in plan.kept[:20]:
        console.print(f"  kept {k.sobject} {k.key}: {k.why}", markup=False)
    if unmatched:
        shown = ", ".join(unmatched[:15]) + (" …" if len(unmatched) > 15 else "")
        console.print(
            f"{len(unmatched)} store(s) have no Salesforce Account (Store_Id__c): {shown}",
            style="yellow",
            markup=False,
        )


def _runs_table(runs: Sequence[Mapping[str, Any]], title: str) -> Table:
    t = Table(title=title)
    for name in ("started", "run", "job", "status", "exit", "created", "updated", "closed", "errors"):
        t.add_column(name)
    for name in ("api calls", "secs"):
        t.add_column(name, justify="right")
    for r in runs:
        counts: Mapping[str, Any] = r["counts"].get("applied", r["counts"])
        t.add_row(
            str(r["started_at"]).replace("T", " ")[:19],
            r["run_id"],
            r["job"],
            r["status"],
            cell(r["exit_code"]),
            cell(counts.get("created")),
            cell(counts.get("updated")),
            cell(counts.get("closed")),
            cell(counts.get("failed")),
            cell(r["api_calls"]),
            f"{r['seconds']:.1f}" if r["seconds"] is not None else "—",
        )
    return t


def rejected_table(rows: Sequence[Mapping[str, Any]], title: str) -> Table:
    t = Table(title=title)
    for name in ("object", "key", "op", "status", "attempts", "error"):
        t.add_column(name, overflow="fold")
    for d in rows:
        t.add_row(d["object"], d["key"], d["op"], d["status"], str(d["attempts"]), d["error"] or "—")
    return t


def print_board(console: Console, data: Mapping[str, Any]) -> None:
    console.print(_runs_table(data["runs"], "Recent runs"))
    if data["run_warnings"]:
        console.print(
            "What the latest runs could not carry out (they exited 1):", style="yellow", markup=False
        )
        for w in data["run_warnings"]:
            console.print(f"  {w['job']}: {w['warning']}", markup=False, highlight=False)
    ft = Table(title="Data freshness by source")
    for name in (
        "source",
        "stores",
        f"stale (>{data['stale_hours']:g}h)",
        "errors",
        "newest data",
        "last success",
    ):
        ft.add_column(name)
    for f in data["freshness"]:
        ft.add_row(
            f["source"],
            str(f["stores"]),
            str(f["stale"]),
            str(f["errors"]),
            cell((f["newest_data_at"] or "")[:16] or None),
            cell((f["last_success_at"] or "")[:16] or None),
        )
    console.print(ft)
    outbox = data["outbox"]
    console.print(
        "Outbox: "
        + (", ".join(f"{k} {v}" for k, v in outbox.items()) or "empty")
        + f"  ·  cursors {data['cursors']}  ·  quarantined records {data['quarantined']}",
        markup=False,
    )
    for line in data["notes"]:  # API budget, last successes, locks, shards
        console.print(line, markup=False, highlight=False)
    if data["rejected"]:
        console.print(
            rejected_table(
                data["rejected"], "Records Salesforce rejected (retried next run; dead after max_attempts)"
            )
        )
        console.print(
            "One run's rejected records: csm-sync status --run RUN_ID [--csv | --json]", markup=False
        )


def print_run(console: Console, data: Mapping[str, Any]) -> None:
    run = data["run"]
    console.print(_runs_table([run], f"Run {run['run_id']} of {run['job']}"))
    if run["error"]:
        console.print(f"error: {run['error']}", markup=False, highlight=False)
    rows = data["rejected"]
    if rows:
        console.print(rejected_table(rows, f"{len(rows)} record(s) rejected in this run"))
    else:
        console.print("No record was rejected in this run.", markup=False)


def status_board(console: Console, engine: Engine, now: datetime, stale_hours: float = 24.0) -> None:
    """The board for `engine`, read and printed in one go."""
    print_board(console, board(engine, now, stale_hours))
