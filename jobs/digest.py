"""The digest job: each CSM's morning brief, read from Salesforce and sent through it, once a day.

Like every job it reads what other jobs wrote from Salesforce (health fields, flags, milestones,
Contracts, Tasks), never from memory. The brief is claimed in the state store before it is sent
(state/digest_sent.py), so however often the job runs, and on however many replicas, a CSM gets one
brief a day; what each brief saw is kept as the next one's baseline ("since your last brief").
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

import structlog

from connectors import redact, slack
from connectors.salesforce.soql import select, select_in
from jobs.digest_brief import Book, Brief, Csm, DigestFile, compose
from state import digest_sent
from state.engine import Engine

log = structlog.get_logger(__name__)

NAME = "digest"
FIRST_BRIEF_LOOKBACK = timedelta(hours=24)  # a CSM's first brief covers the day before it
BASELINE_DAYS = 7  # a first brief compares with the latest health snapshot of the week before today
RESOLVED_DAYS = 35  # resolved flags are read this far back (a month of briefs), not the account's history


class Org(Protocol):
    """What the digest needs of the Salesforce client."""

    def query(self, soql: str) -> Any: ...

    def invoke_action(self, action: str, inputs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]: ...

    def post_feed_item(self, subject_id: str, text: str) -> str: ...


class Unconfirmed(Exception):
    """The send got no answer: it may have gone out, so it is not repeated."""


@dataclass
class DigestReport:
    sent: list[str] = field(default_factory=list)  # CSM names
    already_sent: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    unconfirmed: list[str] = field(default_factory=list)
    slack_failed: dict[str, str] = field(default_factory=dict)
    no_email: list[str] = field(default_factory=list)
    briefs: list[Brief] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        return bool(self.failed or self.unconfirmed or self.slack_failed or self.no_email)

    @property
    def data(self) -> dict[str, Any]:
        return {
            "sent": len(self.sent),
            "already_sent": self.already_sent,
            "failed": len(self.failed),
            "unconfirmed": len(self.unconfirmed),
            "slack_failed": len(self.slack_failed),
            "no_email": len(self.no_email),
            "csms": sorted(self.sent),
            "errors": dict(sorted({**self.failed, **self.slack_failed}.items())),
        }


def _rows(org: Org, soqls: Sequence[str] | str) -> list[dict[str, Any]]:
    return [row for q in ([soqls] if isinstance(soqls, str) else soqls) for row in org.query(q)]


def read_books(
    org: Org, today: date, renewal_days: int, skip: Collection[str] = ()
) -> tuple[dict[str, Csm], dict[str, Book]]:
    """Every CSM with a book (store Accounts whose CSM__c they are) and that book as Salesforce has it.

    The books of the CSMs in `skip` (briefed already today) are not read: a firing after the day's
    briefs are out makes two queries, not one per object and IN chunk.
    """
    accounts = _rows(
        org,
        select(
            "Account",
            ["Id", "Name", "Store_Id__c", "CSM__c", "Health_Score__c", "Health_Band__c", "Health_Drivers__c"],
            "Store_Id__c != null AND CSM__c != null",
        ),
    )
    csm_ids = sorted({str(a["CSM__c"]) for a in accounts})
    users = _rows(
        org, list(select_in("User", ["Id", "Name", "FirstName", "Email", "IsActive"], "Id", csm_ids))
    )
    csms = {
        str(u["Id"]): Csm(
            str(u["Id"]), str(u.get("Name") or ""), str(u.get("FirstName") or ""), str(u.get("Email") or "")
        )
        for u in users
        if u.get("IsActive", True)
    }
    books = {c: Book(accounts=[a for a in accounts if a["CSM__c"] == c]) for c in csms if c not in skip}
    owner = {str(a["Id"]): str(a["CSM__c"]) for a in accounts if str(a["CSM__c"]) in books}
    ids = sorted(owner)
    if not ids:
        return csms, books
    flags = select_in(
        "Risk_Flag__c",
        ["Account__c", "Name", "Severity__c", "Category__c", "Status__c", "Opened_At__c", "Resolved_At__c"],
        "Account__c",
        ids,
        "Status__c != 'Resolved' OR Resolved_At__c >= {start}",
        start=datetime.combine(today - timedelta(days=RESOLVED_DAYS), time.min, tzinfo=UTC),
    )
    for f in _rows(org, list(flags)):
        books[owner[str(f["Account__c"])]].flags.append(f)
    until = today + timedelta(days=renewal_days)
    contracts = select_in(
        "Contract",
        ["AccountId", "ContractNumber", "EndDate", "Status"],
        "AccountId",
        ids,
        "Status = 'Activated' AND EndDate >= {today} AND EndDate <= {until}",
        today=today,
        until=until,
    )
    for c in _rows(org, list(contracts)):
        books[owner[str(c["AccountId"])]].contracts.append(c)
    milestones = select_in(
        "Onboarding_Milestone__c",
        ["Account__c", "Name", "Status__c", "Due_Date__c"],
        "Account__c",
        ids,
        "Status__c != 'Done' AND Due_Date__c < {today}",
        today=today,
    )
    for m in _rows(org, list(milestones)):
        books[owner[str(m["Account__c"])]].milestones.append(m)
    tasks = select_in(
        "Task",
        ["OwnerId", "WhatId", "Subject", "Priority", "Status", "ActivityDate"],
        "OwnerId",
        sorted(books),
        "ActivityDate = {today} AND IsClosed = false",
        today=today,
    )
    for t in _rows(org, list(tasks)):
        if str(t["OwnerId"]) in books:
            books[str(t["OwnerId"])].tasks.append(t)
    return csms, books


def first_baseline(org: Org, books: Mapping[str, Book], today: date) -> dict[str, tuple[float | None, str]]:
    """For a CSM's first brief: each account's latest health snapshot of the week before today."""
    ids = sorted({str(a["Id"]) for b in books.values() for a in b.accounts})
    latest: dict[str, dict[str, Any]] = {}
    soqls = select_in(
        "Health_Snapshot__c",
        ["Account__c", "Snapshot_Date__c", "Score__c", "Band__c"],
        "Account__c",
        ids,
        "Snapshot_Date__c < {today} AND Snapshot_Date__c >= {start}",
        today=today,
        start=today - timedelta(days=BASELINE_DAYS),
    )
    for s in _rows(org, list(soqls)):
        key = str(s["Account__c"])
        if key not in latest or str(s["Snapshot_Date__c"]) > str(latest[key]["Snapshot_Date__c"]):
            latest[key] = s
    return {
        k: (None if s.get("Score__c") is None else float(s["Score__c"]), str(s.get("Band__c") or ""))
        for k, s in latest.items()
    }


def _deliver(org: Org, cfg: DigestFile, brief: Brief) -> str:
    """Send through Salesforce: the emailSimple action to the CSM's email, or a post on their feed."""
    from connectors.salesforce.bulk import Ambiguous  # noqa: PLC0415 - only the send needs it

    try:
        if cfg.channel == "chatter":
            org.post_feed_item(brief.csm.id, f"{brief.subject}\n\n{brief.body}")
            return "chatter"
        inputs = [{"emailAddresses": brief.csm.email, "emailSubject": brief.subject, "emailBody": brief.body}]
        results = org.invoke_action("emailSimple", inputs)
    except Ambiguous as exc:
        raise Unconfirmed(str(exc)) from exc
    failed = [r for r in results if not r.get("isSuccess")]
    if failed or len(results) != 1:
        errors = (
            "; ".join(str(e.get("message", e)) for r in failed for e in (r.get("errors") or []))
            or "no result"
        )
        raise RuntimeError(f"emailSimple refused the brief: {errors}")
    return "email"


def run_digest(
    engine: Engine,
    org: Org,
    cfg: DigestFile,
    now: datetime,
    today: date,
    run_id: str,
    slack_post: Callable[[str], None] | None = None,
) -> DigestReport:
    """Every CSM's brief of `today` that is not out yet: composed, claimed, sent, settled."""
    report = DigestReport()
    done = {r.csm_id for r in digest_sent.sent_on(engine, today) if r.state != "failed"}
    csms, books = read_books(org, today, cfg.renewal_days, skip=done)
    report.already_sent = len(done & set(csms))
    todo = {c: b for c, b in books.items() if c not in done}
    last = {c: digest_sent.last_sent(engine, c) for c in todo}
    firsts = {c: b for c, b in todo.items() if last[c] is None}
    baseline = first_baseline(org, firsts, today) if firsts else {}
    for csm_id in sorted(todo, key=lambda c: csms[c].name):
        csm, book, prev = csms[csm_id], todo[csm_id], last[csm_id]
        if cfg.channel == "email" and not csm.email:
            report.no_email.append(csm.name)
            log.warning("digest_no_email", csm=csm.name)
            continue
        if prev is not None:
            book.baseline = {k: (v[0], str(v[1])) for k, v in prev.seen.items()}
            since = prev.sent_at or prev.claimed_at
        else:
            mine = {str(a["Id"]) for a in book.accounts}
            book.baseline = {k: v for k, v in baseline.items() if k in mine}
            since = now - FIRST_BRIEF_LOOKBACK
        brief = compose(csm, book, cfg, today, since)
        if not digest_sent.claim(engine, csm_id, today, run_id, now):
            report.already_sent += 1
            continue
        seen = {k: [v[0], v[1]] for k, v in brief.seen.items()}
        try:
            channel = _deliver(org, cfg, brief)
        except Unconfirmed as exc:
            report.unconfirmed.append(csm.name)  # left `sending`: never sent twice
            log.warning("digest_unconfirmed", csm=csm.name, error=redact.error(exc))
            continue
        except Exception as exc:  # a refusal or Salesforce down: known not sent, retried next run
            message = redact.error(exc)
            digest_sent.settle(
                engine,
                csm_id,
                today,
                sent_at=None,
                channel=cfg.channel,
                subject=brief.subject,
                seen=seen,
                error=message,
            )
            report.failed[csm.name] = message
            log.warning("digest_failed", csm=csm.name, error=message)
            continue
        if slack_post is not None:
            try:
                slack_post(f"*{brief.subject}* ({csm.name})\n{brief.body}")
                channel += "+slack"
            except slack.SlackError as exc:
                report.slack_failed[csm.name] = str(exc)
                log.warning("digest_slack_failed", csm=csm.name, error=str(exc))
        digest_sent.settle(
            engine, csm_id, today, sent_at=now, channel=channel, subject=brief.subject, seen=seen
        )
        report.sent.append(csm.name)
        report.briefs.append(brief)
        log.info("digest_sent", csm=csm.name, channel=channel, **{k: v for k, v in brief.counts.items() if v})
    return report
