"""`csm-sync demo`: the local sandbox end to end — every job once, then what a CSM lead would see."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.json import JSON
from rich.table import Table

from jobs import cadence, onboarding
from jobs.registry import job_names
from mappings.events import is_excluded
from worker.app import App
from worker.clock import AS_OF_ENV, anchored_clock, as_of_text
from worker.commands import mapping_dir, run_one
from worker.logging import configure
from worker.output import Output
from worker.progress import progress_line, reporting
from worker.runner import ExitCode, Outcome, execute
from worker.settings import load_settings

if TYPE_CHECKING:  # the sandbox is a separate distribution (`csm-sync[sandbox]`), absent from production
    from sandbox.environment import SandboxEnvironment

SANDBOX_MODULES = ("sandbox", "werkzeug", "trustme")
SANDBOX_MISSING = (
    "csm-sync demo needs the sandbox, which this installation does not include (it is kept out of the "
    "production image). Install it with: pip install 'csm-sync[sandbox]'  (in a clone: make demo)"
)

# Enough volume for every planted scenario and baseline, small enough to pull in about a minute.
DEMO_ORDERS_PER_DAY = 25.0
DEMO_DAYS = 120
WRITE_KINDS = ("collections", "sobject", "composite", "bulk_create", "bulk_upload", "bulk_close")


def run_demo(
    out: Output,
    seed: int = 7,
    workdir: Path = Path(".demo"),
    serve: bool = False,
    today: date | None = None,
    days: int = DEMO_DAYS,
) -> ExitCode:
    """Start the sandbox, run every job once, print a summary; exit 0 when every job succeeded.

    The runs' log events go to a file in `workdir`; what the demo shows is progress (bars on a
    terminal, a line every few seconds otherwise) and the summary. `today` (default: the real date)
    only dates the story: the portfolio is the same on every date (see `demo_day`).
    """
    if not sandbox_installed():
        print(SANDBOX_MISSING, file=sys.stderr)
        out.errors.append(SANDBOX_MISSING)
        return ExitCode.CONFIG
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    console = out.console
    with (workdir / "csm-sync.log").open("w") as log_file:
        configure("info", "json", log_file)
        out.text("Starting the sandbox: Salesforce org and source APIs over HTTPS on 127.0.0.1 …")
        with _environment(workdir, seed, today, days) as env:
            code = _run_all(out, env)
            out.result["outcome"] = outcome(env)
            if not out.as_json:
                _summary(console, env)
            if serve:
                _serve(out, env)
            else:
                out.text(CONSOLE_HINT)
    out.result["logs"] = str(workdir / "csm-sync.log")
    out.result["config"] = str(workdir / "config.toml")
    out.text(f"Logs: {workdir / 'csm-sync.log'}  ·  config: {workdir / 'config.toml'}")
    return code


def demo_day(today: date, states: Sequence[str]) -> date:
    """The day the demo's story is dated to: `today`, or the latest day before it that rules can judge.

    The portfolio is the same on every date, but the rules read the calendar: a baseline has nothing to
    compare a holiday or trade event with (the rules then hold), and a quarter begun today has nothing
    to review. So the demo steps back to a day whose yesterday is ordinary in every state and that does
    not open a quarter; the commands `demo --serve` prints follow it with --as-of.
    """
    day = today
    while any(is_excluded(state, day - timedelta(days=1)) for state in states) or (
        day.month % 3 == 1 and day.day == 1
    ):
        day -= timedelta(days=1)
    return day


def sandbox_installed() -> bool:
    """Whether the sandbox distribution and its own dependencies can be imported."""
    try:
        import sandbox.environment  # noqa: F401, PLC0415 - imported only where the demo needs it
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in SANDBOX_MODULES:
            return False
        raise
    return True


@contextmanager
def _environment(
    workdir: Path, seed: int, today: date | None, days: int, orders_per_day: float | None = None
) -> Iterator[SandboxEnvironment]:
    from sandbox.environment import SandboxEnvironment  # noqa: PLC0415 - see sandbox_installed
    from sandbox.portfolio import catalog  # noqa: PLC0415

    day = demo_day(today or datetime.now(UTC).date(), sorted(catalog.STATES))  # the portfolio's states
    env = SandboxEnvironment.start(
        workdir, seed=seed, orders_per_day=orders_per_day or DEMO_ORDERS_PER_DAY, today=day, days=days
    )
    try:
        yield env
    finally:
        env.stop()


def _run_all(out: Output, env: SandboxEnvironment) -> ExitCode:
    settings = load_settings(env.config_path, {})
    # The portfolio's clock (its data ends the day before), advancing in real time: the same clock the
    # commands printed by --serve run on with --as-of, so they see what the demo saw.
    app = App(settings, environ={}, clock=anchored_clock(env.portfolio.now))
    table = Table(
        title=f"Every job once (portfolio day {env.portfolio.today}, {len(env.portfolio.stores)} stores)"
    )
    for name in ("job", "exit", "created", "updated", "closed", "failed", "API calls", "seconds"):
        table.add_column(name)
    worst = ExitCode.OK
    runs: list[dict[str, Any]] = []
    for job in job_names():
        started = time.monotonic()
        out.text(f"{job} …")
        with reporting(lambda *a: out.note("  " + progress_line(*a))):
            result = execute(app, job, _body(app, job))
        worst = max(worst, result.exit_code)
        counts: Mapping[str, Any] = (result.outcome.counts if result.outcome else {}).get("applied", {})
        if job == "pull" and result.outcome is not None:
            pulled = result.outcome.counts
            counts = {"created": pulled.get("records", "—")}
        if job == "digest" and result.outcome is not None:  # briefs sent, not records
            sent = result.outcome.counts
            failed = sent.get("failed", 0) + sent.get("unconfirmed", 0)
            counts = {"created": sent.get("sent", 0), "failed": failed}
        if job == "qbr_pack" and result.outcome is not None:
            packs = result.outcome.counts
            records = packs.get("records", {})
            counts = {
                "created": packs.get("uploaded", 0),
                "updated": records.get("updated", 0),
                "failed": packs.get("failed", 0) + records.get("failed", 0),
            }
        table.add_row(
            job,
            str(int(result.exit_code)),
            str(counts.get("created", 0)),
            str(counts.get("updated", 0)),
            str(counts.get("closed", 0)),
            str(counts.get("failed", 0)),
            str(result.outcome.api_calls if result.outcome else 0),
            f"{time.monotonic() - started:.1f}",
        )
        runs.append(
            {
                "job": job,
                "run_id": result.run_id,
                "exit_code": int(result.exit_code),
                "counts": result.outcome.counts if result.outcome else {},
                "api_calls": result.outcome.api_calls if result.outcome else 0,
                "error": result.error,
            }
        )
        if result.error:
            out.warn(f"{job}: {result.error}")
    out.print(table)
    before = _writes(env)
    execute(app, "risk_alerts", lambda run_id: run_one(app, "risk_alerts", run_id))
    execute(app, "account_health", lambda run_id: run_one(app, "account_health", run_id))
    rerun = _writes(env) - before
    out.text(f"Rerun of account_health and risk_alerts with nothing changed: {rerun} write calls.")
    out.result.update({"runs": runs, "rerun_write_calls": rerun, "stores": len(env.portfolio.stores)})
    out.result["briefs"] = {
        "emails": len(env.org.messages.emails),
        "chatter_posts": len(env.org.messages.posts),
        "slack_messages": len(env.sources.slack.messages),
    }
    return worst


def _body(app: App, job: str) -> Callable[[str], Outcome]:
    return lambda run_id: run_one(app, job, run_id)


def _writes(env: SandboxEnvironment) -> int:
    calls = env.org.stats.snapshot()
    return sum(calls.get(k, 0) for k in WRITE_KINDS)


BAND_ORDER = ("Green", "Yellow", "Red", "—")


def outcome(env: SandboxEnvironment) -> dict[str, Any]:
    """What the demo ends with, in the terms the README states it (and tests compare across dates)."""
    org = env.org
    accounts = {a["Id"]: a for a in org.records("Account")}

    def store(account_id: Any) -> str:
        a = accounts.get(account_id, {})
        return str(a.get("Store_Id__c") or a.get("Name") or account_id)

    bands = Counter(a.get("Health_Band__c") or "—" for a in accounts.values() if a.get("Store_Id__c"))
    tasks = [t for t in org.records("Task") if t.get("Sync_Key__c")]
    milestones = org.records("Onboarding_Milestone__c")
    today = str(env.portfolio.today)
    return {
        "bands": {b: bands[b] for b in BAND_ORDER if bands[b]},
        "flags": sorted(
            (store(f.get("Account__c")), str(f.get("Name")), str(f.get("Severity__c")))
            for f in org.records("Risk_Flag__c")
            if f.get("Status__c") == "Open"
        ),
        "cases": sorted(
            (store(c.get("AccountId")), str(c.get("Priority")))
            for c in org.records("Case")
            if c.get("Sync_Key__c")
        ),
        "renewal_tasks": sorted(
            (store(t.get("WhatId")), str(t.get("Priority")))
            for t in tasks
            if str(t.get("Sync_Key__c")).startswith("renewal:")
        ),
        "upsell_tasks": sorted(
            {store(t.get("WhatId")) for t in tasks if str(t.get("Sync_Key__c")).startswith("expansion:")}
        ),
        "touchpoint_tasks": sorted(
            store(t.get("WhatId")) for t in tasks if str(t.get("Sync_Key__c")).startswith(cadence.PREFIX)
        ),
        "milestones": len(milestones),
        "overdue_milestones": sum(
            1 for m in milestones if m.get("Status__c") != "Done" and str(m.get("Due_Date__c")) < today
        ),
        **on_time_figures(env),
        **nps_figures(tasks, [a for a in accounts.values() if a.get("Reference_Candidate__c")], store),
        "sales_compliance": sales_compliance(org, store),
        "snapshots": len(org.records("Health_Snapshot__c")),
        # accounts with a review, not reviews: how many quarters the history reaches depends on the date
        "qbr_accounts": len({r.get("Account__c") for r in org.records("Quarterly_Review__c")}),
        # accounts per request, not mentions: how many tickets the history holds depends on the date
        "product_requests": {
            str(r.get("Name")): int(r.get("Accounts_Count__c") or 0)
            for r in org.records("Product_Request__c")
        },
        "without_account": sorted(s.id for s in env.portfolio.stores if s.id not in env.account_ids),
    }


def on_time_figures(env: SandboxEnvironment) -> dict[str, Any]:
    """Onboardings on time as the onboarding job wrote them on the Accounts: in all and per CSM.

    Judged: complete (on time or late) or open past the target days (overdue); in progress: neither.
    """
    app = App(load_settings(env.config_path, {}), environ={})
    target = onboarding.load(mapping_dir(app) / onboarding.FILE).target
    users = {u["Id"]: str(u.get("Name") or u.get("LastName")) for u in env.org.records("User")}
    status = [(a.get(target.status_field), a.get("CSM__c")) for a in env.org.records("Account")]
    judged = [(s, csm) for s, csm in status if s in ("On time", "Late", "Overdue")]
    by_csm: dict[str, list[int]] = {}
    for s, csm in judged:
        tally = by_csm.setdefault(users.get(csm, "no CSM"), [0, 0])
        tally[0] += s == "On time"
        tally[1] += 1
    return {
        "onboarding_on_time": {
            "on_time": sum(s == "On time" for s, _ in judged),
            "judged": len(judged),
            "target_days": target.days,
            "goal": target.share,
            "in_progress": sum(s == "In progress" for s, _ in status),
        },
        "onboarding_on_time_by_csm": dict(sorted(by_csm.items())),
    }


def on_time_line(figures: Mapping[str, Any]) -> str:
    """`Onboarding on time: 83% of 12 …; by CSM: …` from the outcome's `on_time_figures`."""

    def share(hit: int, n: int) -> str:
        return f"{round(100 * hit / n)}%" if n else "—"

    f = figures["onboarding_on_time"]
    by_csm = ", ".join(
        f"{name} {share(h, n)} of {n}" for name, (h, n) in figures["onboarding_on_time_by_csm"].items()
    )
    return (
        f"Onboarding on time: {share(f['on_time'], f['judged'])} of {f['judged']} complete within "
        f"{f['target_days']} days (benchmark {round(100 * f['goal'])}%; {f['in_progress']} still inside "
        f"them, not counted); by CSM: {by_csm or 'none'}"
    )


def nps_figures(
    tasks: list[dict[str, Any]], candidates: list[dict[str, Any]], store: Callable[[Any], str]
) -> dict[str, Any]:
    """Detractor follow-up Tasks (all and open) and reference candidates: counts, then the stores."""
    nps = [t for t in tasks if str(t.get("Sync_Key__c", "")).startswith("nps:")]
    opened = sorted(store(t.get("WhatId")) for t in nps if not t.get("IsClosed"))
    marked = sorted(store(a.get("Id")) for a in candidates)
    return {
        "nps": {"detractor_tasks": len(nps), "open": len(opened), "reference_candidates": len(marked)},
        "nps_stores": {"open_detractor_tasks": opened, "reference_candidates": marked},
    }


def sales_compliance(org: Any, store: Callable[[Any], str]) -> list[tuple[str, str]]:
    """Open compliance flags on sales: (store, "metrc-reconciliation" or the purchase-limit rule)."""
    out = []
    for f in org.records("Risk_Flag__c"):
        key = str(f.get("Sync_Key__c") or "")
        if f.get("Status__c") == "Open" and key.startswith("compliance:"):
            rule, _, item = key.split(":", 2)[2].partition(":")
            if rule == "metrc-reconciliation" or item == "online-orders":
                out.append((store(f.get("Account__c")), rule))
    return sorted(out)


def _summary(console: Console, env: SandboxEnvironment) -> None:
    org = env.org
    accounts = {a["Id"]: a for a in org.records("Account")}
    users = {u["Id"]: u.get("Name") or u.get("LastName") for u in org.records("User")}

    def store(account_id: Any) -> str:
        a = accounts.get(account_id, {})
        return str(a.get("Store_Id__c") or a.get("Name") or account_id)

    figures = outcome(env)
    console.print("Accounts by health band: " + ", ".join(f"{b} {n}" for b, n in figures["bands"].items()))
    flags = [f for f in org.records("Risk_Flag__c") if f.get("Status__c") == "Open"]
    ft = Table(title=f"Open risk flags ({len(flags)})", show_lines=True)
    for name in ("account", "flag", "severity", "evidence"):
        ft.add_column(name, overflow="fold")
    order = {"Critical": 0, "High": 1, "Medium": 2, "Low": 3}
    for f in sorted(
        flags, key=lambda f: (order.get(str(f.get("Severity__c")), 9), store(f.get("Account__c")))
    ):
        evidence = str(f.get("Evidence__c") or "").strip().splitlines()
        ft.add_row(
            store(f.get("Account__c")),
            str(f.get("Name")),
            str(f.get("Severity__c")),
            "\n".join(evidence[:4]) + (" …" if len(evidence) > 4 else ""),
        )
    console.print(ft)
    tasks = [t for t in org.records("Task") if t.get("Sync_Key__c")]
    tt = Table(title=f"Tasks created for CSMs and account managers ({len(tasks)}; first 25)")
    for name in ("account", "owner", "priority", "due", "subject"):
        tt.add_column(name, overflow="fold")
    for t in sorted(tasks, key=lambda t: (str(t.get("Priority")) != "High", str(t.get("ActivityDate"))))[:25]:
        tt.add_row(
            store(t.get("WhatId")),
            str(users.get(t.get("OwnerId"), t.get("OwnerId"))),
            str(t.get("Priority")),
            str(t.get("ActivityDate")),
            str(t.get("Subject")),
        )
    console.print(tt)
    cases = [c for c in org.records("Case") if c.get("Sync_Key__c")]
    for c in cases:
        console.print(
            f"Case for engineering: {store(c.get('AccountId'))} · {c.get('Priority')} · {c.get('Subject')}"
        )
    milestones = org.records("Onboarding_Milestone__c")
    status = Counter(str(m.get("Status__c")) for m in milestones)
    overdue = [
        m
        for m in milestones
        if m.get("Status__c") != "Done" and str(m.get("Due_Date__c")) < str(env.portfolio.today)
    ]
    by_status = ", ".join(f"{k} {v}" for k, v in sorted(status.items()))
    console.print(
        f"Onboarding milestones: {len(milestones)} ({by_status}); "
        f"{len(overdue)} overdue: "
        + ", ".join(f"{store(m.get('Account__c'))} {m.get('Code__c')}" for m in overdue[:8])
    )
    sales = figures["sales_compliance"]
    gap_days = {
        store(f.get("Account__c")): [
            ln.split(":")[0] for ln in str(f.get("Evidence__c")).splitlines() if ": POS $" in ln
        ]
        for f in flags
        if str(f.get("Rule__c")) == "compliance:metrc-reconciliation"
    }
    gaps = [f"{s} ({', '.join(gap_days.get(s, []))})" for s, rule in sales if rule == "metrc-reconciliation"]
    limits = [f"{s} ({rule})" for s, rule in sales if rule != "metrc-reconciliation"]
    console.print(
        f"Compliance on sales: Metrc reporting gaps: {', '.join(gaps) or 'none'} · "
        f"online orders above purchase limits: {', '.join(limits) or 'none'}"
    )
    renewals = [t for t in tasks if str(t.get("Sync_Key__c", "")).startswith("renewal:")]
    console.print(
        f"Renewal Tasks: {len(renewals)} — "
        + "; ".join(f"{store(t.get('WhatId'))} {t.get('Priority')}" for t in renewals[:8])
    )
    console.print(on_time_line(figures))
    console.print(_nps_line(figures))
    console.print(touchpoints_line(figures["touchpoint_tasks"], accounts.values(), users))
    console.print(_champions_line(flags, accounts.values(), store))
    console.print(voice_line(org))
    console.print(
        f"Health snapshots: {len(org.records('Health_Snapshot__c'))} · "
        f"QBR records: {len(org.records('Quarterly_Review__c'))} on {figures['qbr_accounts']} accounts · "
        f"Stores without a Salesforce Account (reported, not dropped): "
        + ", ".join(sorted(s.id for s in env.portfolio.stores if s.id not in env.account_ids))
    )
    console.print(_packs_line(org, store))
    console.print(briefs_line(env))
    emails = env.org.messages.emails
    if emails:  # the fullest brief, as its CSM reads it
        brief = max(emails, key=lambda e: (len(e["body"].splitlines()), e["to"]))
        head = f"To: {', '.join(brief['to'])}\nSubject: {brief['subject']}"
        console.print(f"{head}\n\n{brief['body']}", markup=False, highlight=False)


def briefs_line(env: SandboxEnvironment) -> str:
    """The morning briefs the digest job sent: what the org and the Slack stand-in recorded."""
    emails, posts = env.org.messages.emails, env.org.messages.posts
    slack = env.sources.slack.messages
    to = sorted({a for e in emails for a in e["to"]})
    line = (
        f"Morning briefs (digest): {len(emails)} emails through emailSimple and {len(posts)} Chatter posts "
        f"to {len(to)} CSMs, {len(slack)} copies to the Slack channel"
    )
    if emails:
        line += f"; e.g. to {emails[0]['to'][0]}: “{emails[0]['subject']}”"
    return line


def voice_line(org: Any) -> str:
    """The product requests (voice job): each with its accounts and the ARR behind it, largest first."""
    reqs = sorted(
        org.records("Product_Request__c"),
        key=lambda r: (-float(r.get("ARR_Total__c") or 0), str(r.get("Name"))),
    )
    parts = [
        f"{str(r.get('Name')).lower()}: {int(r.get('Accounts_Count__c') or 0)} accounts, "
        f"${float(r.get('ARR_Total__c') or 0):,.0f} ARR, {int(r.get('Mentions__c') or 0)} mentions, "
        f"{r.get('Status__c')}"
        for r in reqs
    ]
    return f"Product requests: {len(reqs)}" + (f" ({'; '.join(parts)})" if parts else "")


def _nps_line(figures: Mapping[str, Any]) -> str:
    """Detractor follow-ups (open and done) and the accounts marked as reference candidates."""
    stores = figures["nps_stores"]
    opened, candidates = stores["open_detractor_tasks"], stores["reference_candidates"]

    def some(names: list[str]) -> str:
        return f" ({', '.join(names[:10])}{', …' if len(names) > 10 else ''})" if names else ""

    return (
        f"NPS follow-ups: {figures['nps']['detractor_tasks']} detractor Tasks, {len(opened)} open"
        + some(sorted(set(opened)))
        + f" · Reference candidates: {len(candidates)}"
        + some(candidates)
    )


def touchpoints_line(
    opened: Sequence[str], accounts: Iterable[Mapping[str, Any]], users: Mapping[Any, Any]
) -> str:
    """The cadence job's Tasks and, per CSM, the share of their accounts whose touchpoints are on
    schedule (Touchpoint_Status__c not Overdue), as the Touchpoints by CSM report groups them."""
    books: dict[str, list[bool]] = {}
    for a in accounts:
        status = a.get(cadence.STATUS_FIELD)
        if status:
            books.setdefault(str(users.get(a.get("CSM__c"), a.get("CSM__c"))), []).append(
                status != cadence.OVERDUE
            )
    shares = ", ".join(f"{csm} {sum(ok)}/{len(ok)}" for csm, ok in sorted(books.items()))
    return (
        f"Touchpoint cadence: {len(opened)} overdue-touchpoint Tasks ({', '.join(opened) or 'none'}) · "
        f"on schedule per CSM: {shares or 'no accounts assessed'}"
    )


def _champions_line(
    flags: list[dict[str, Any]], accounts: Iterable[dict[str, Any]], store: Callable[[Any], str]
) -> str:
    """Champion changes flagged (who and what changed) and how many accounts have a champion recorded."""
    changes = sorted(
        f"{store(f.get('Account__c'))}: {f.get('Name')}"
        for f in flags
        if f.get("Rule__c") == "champion_change"
    )
    recorded = sum(1 for a in accounts if a.get("Champion_Contact__c"))
    return (
        f"Champion changes: {len(changes)} open"
        + (f" ({'; '.join(changes)})" if changes else "")
        + f" · champions recorded on {recorded} accounts"
    )


def _last_quarter(env: SandboxEnvironment) -> str:
    today = env.portfolio.today
    q = (today.month - 1) // 3  # the last complete quarter: 0 means Q4 of the year before
    return f"{today.year - 1}Q4" if q == 0 else f"{today.year}Q{q}"


def _packs_line(org: Any, store: Callable[[Any], str]) -> str:
    """The QBR packs now attached to Accounts: how many, and which quarters and accounts."""
    versions = [v for v in org.records("ContentVersion") if str(v.get("Title", "")).startswith("QBR pack ")]
    latest = [v for v in versions if v.get("IsLatest")]
    links = {
        ln["ContentDocumentId"]: ln["LinkedEntityId"]
        for ln in org.records("ContentDocumentLink")
        if str(ln.get("LinkedEntityId", "")).startswith("001")
    }
    quarters = Counter(str(v["Title"]).rsplit(" ", 1)[-1] for v in latest)
    on = sorted({store(links[v["ContentDocumentId"]]) for v in latest if v["ContentDocumentId"] in links})
    reviews = sum(1 for r in org.records("Quarterly_Review__c") if r.get("Pack_File_Id__c"))
    size = sum(int(v.get("ContentSize") or 0) for v in latest)
    return (
        f"QBR packs: {len(latest)} PDF Files on {len(on)} Accounts ("
        + ", ".join(f"{q} {n}" for q, n in sorted(quarters.items()))
        + f"; {size / max(1, len(latest)) / 1024:.0f} KB each), {reviews} Quarterly Review records point at "
        f"theirs; e.g. {', '.join(on[:6])}"
    )


_SF_QUERY_HINT = "  sf data query -o sandbox -q 'SELECT Name, Health_Band__c FROM Account'\n"


CONSOLE_HINT = (
    "See it as a CSM would: csm-sync demo --serve also serves the CSM console (the Client Health "
    "dashboard, list views, an Account 360 per store); the morning briefs above are what each CSM received."
)


def _serve(out: Output, env: SandboxEnvironment) -> None:
    from sandbox.console import serve_console  # noqa: PLC0415 - see sandbox_installed

    console = serve_console(env.org_server.url, env.org.login, env.tls, env.portfolio.today)
    try:
        _serve_until_stopped(out, env, console.url)
    finally:
        console.stop()


def _serve_until_stopped(out: Output, env: SandboxEnvironment, console_url: str) -> None:
    hints = {
        "console": console_url,
        "salesforce": env.org_server.url,
        "sources": env.sources_server.url,
        "ca_bundle": str(env.tls.ca_path),
        "config": str(env.config_path),
    }
    as_of = as_of_text(env.portfolio.now)
    hints = {**hints, "as_of": as_of}
    out.result["sandbox"] = hints
    out.send_envelope(ExitCode.OK)  # with --json: now, so a script can read it while the sandbox serves
    out.print(JSON(json.dumps(hints)))
    sf_cli = (
        "Salesforce CLI (docs/salesforce.md), with a session token of the sandbox org:\n"
        f"  export NODE_EXTRA_CA_CERTS={env.tls.ca_path} SF_ACCESS_TOKEN='{env.org.login()}'\n"
        f"  sf org login access-token --instance-url {env.org_server.url} --alias sandbox --no-prompt\n"
    ) + _SF_QUERY_HINT
    base = f"csm-sync --config {env.config_path} --as-of {as_of}"
    out.text(
        f"CSM console (what a CSM sees in Lightning, read from the org's APIs): {console_url}/\n"
        f"  Account 360 of a store: {console_url}/accounts/NV-001\n"
        f"The sandbox stays up. Its data ends the day before {as_of}: run csm-sync on the demo's clock\n"
        f"with --as-of {as_of} (or export {AS_OF_ENV}={as_of}) to see what the demo saw. Try:\n"
        f"  {base} status\n"
        f"  {base} explain NV-001\n"
        f"  {base} plan account_health\n"
        f"  {base} run-job risk_alerts      (again: nothing to write)\n"
        f"  {base} qbr-pack MSO-1 --quarter {_last_quarter(env)} --out pack.pdf\n"
        f"  {base} run-job digest           (the morning briefs: once a day, so nothing new today)\n"
        "simple-salesforce: log in with a JWT (key in the config's private_key_file) at the Salesforce URL\n"
        f"and pass a requests session with verify='{env.tls.ca_path}'.\n"
        f"{sf_cli}Ctrl-C stops the sandbox.",
        soft_wrap=True,  # commands and the token stay on one line, ready to copy
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        out.text("Stopping the sandbox.")
