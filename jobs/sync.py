"""The shared pass of every Salesforce-writing job: inputs → evaluate → read current → plan → apply."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

from jobs import progress
from jobs.accounts import (
    build_account_data,
    read_accounts,
    record_windows,
    scoped_read,
)
from jobs.apply import ApplyOptions, ApplyReport, Writer, enqueue, pending_ids, prune, send
from jobs.current import Reader, read_current
from jobs.job import MappingJob
from jobs.names import PORTFOLIO_JOBS
from jobs.plan import Plan, diff, schema_from_describe
from jobs.portfolio import KeptReader, PortfolioReads
from mappings.desired import Desired
from state import stores as store_directory
from state.engine import Engine, chunks

__all__ = [  # MappingJob lives in jobs/job.py; runners of jobs still find it here
    "Describe",
    "JobOptions",
    "JobResult",
    "MappingJob",
    "Org",
    "SafetyRefused",
    "plan_job",
    "resume",
    "run_job",
    "safety_refusal",
]

log = structlog.get_logger(__name__)

Describe = Callable[[str], Mapping[str, Any]]  # sobject -> Salesforce describe JSON


class SafetyRefused(Exception):
    """The plan would change more existing records than the configured share: nothing was written."""


class Org(Reader, Writer, Protocol):
    """What a job needs of Salesforce: read with SOQL, write by upsert."""


@dataclass(frozen=True)
class JobOptions:
    history_days: int = 120
    safety_max_change_share: float = 0.5
    safety_min_records: int = 20
    force: bool = False
    # Stores whose facts and records are read and evaluated at once: what a job holds follows it.
    # 100 keeps compliance's menus, promotions and orders of a 250-store shard from being held at once.
    chunk_size: int = 100
    freshness_aliases: Mapping[str, str] = field(default_factory=dict)  # source -> name it also counts as
    apply: ApplyOptions = field(default_factory=ApplyOptions)


@dataclass
class JobResult:
    plan: Plan
    applied: ApplyReport | None = None
    resumed: ApplyReport | None = None
    unmatched: list[str] = field(default_factory=list)
    accounts: int = 0
    warnings: list[str] = field(default_factory=list)  # what the job could not carry out (exit 1)

    @property
    def partial(self) -> bool:
        reports = [r for r in (self.applied, self.resumed) if r is not None]
        left = any(r.failed or r.stopped or r.skipped_dead or r.queued for r in reports)
        return left or bool(self.warnings)

    @property
    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "plan": self.plan.counts,
            "accounts": self.accounts,
            "unmatched": self.unmatched,
        }
        if self.warnings:
            out["warnings"] = self.warnings
        if self.applied:
            out["applied"] = self.applied.data
        if self.resumed:
            out["resumed"] = self.resumed.data
        return out


def resume(
    engine: Engine,
    org: Writer,
    now: datetime,
    opts: JobOptions,
    job: str | None = None,
    run_id: str | None = None,
) -> ApplyReport:
    """Send what an interrupted run of `job` left in the outbox, before planning anew.

    The run's own rows are left alone: with shards, other replicas may be sending them right now.
    """
    ids = pending_ids(engine, None, now, opts.apply, job=job, exclude_run=run_id)
    if not ids:
        return ApplyReport()
    log.info("outbox_resume", rows=len(ids))
    report = send(engine, org, ids, now, opts.apply)
    report.resumed = len(ids)
    return report


def plan_job(
    engine: Engine,
    org: Reader,
    job: MappingJob,
    now: datetime,
    opts: JobOptions,
    describe: Describe | None = None,
    stores: Sequence[str] | None = None,
    reads: PortfolioReads | None = None,
) -> JobResult:
    """Everything up to the plan: no write call is made. `reads`: the process's kept portfolio reads.

    A job of PORTFOLIO_JOBS reads every store whatever `stores` says: its records add stores up.
    """
    if job.name in PORTFOLIO_JOBS:
        stores = None
    directory = store_directory.rows(engine, stores)
    scoped = stores is not None and scoped_read(len(stores), store_directory.count(engine))
    # Where a shard reads the whole portfolio's Accounts anyway, every shard and job of the process
    # takes them, and the open and child records of its accounts, from kept reads.
    if reads is not None and not scoped:
        org = KeptReader(org, reads, now)
    accounts = read_accounts(org, job.account_fields, list(stores or ()) if scoped else None)
    wanted = sorted(stores if stores is not None else directory)
    matched = [s for s in wanted if s in accounts]
    unmatched = [s for s in wanted if s not in accounts]
    if unmatched:
        log.warning("stores_unmatched", job=job.name, count=len(unmatched), stores=unmatched[:20])
    extra = job.prepare(org, {s: accounts[s] for s in matched}, now)
    desired: list[Desired] = []
    task = f"plan {job.name}: accounts"
    progress.start(task, len(matched))
    for chunk in chunks(matched, opts.chunk_size):
        for data in build_account_data(
            engine,
            chunk,
            accounts,
            directory,
            now,
            opts.history_days,
            job.streams,
            extra,
            opts.freshness_aliases,
            record_windows([job]),
        ):
            desired.extend(job.evaluate(data))
        progress.advance(task, len(chunk))
    progress.finish(task)
    desired.extend(job.finalize(accounts, desired, now))
    managed = job.managed(now)
    scope = {str(accounts[s]["Id"]): s for s in matched} if stores is not None else None
    known = {("Account", sid): rec for sid, rec in accounts.items()}
    current = read_current(org, desired, managed, scope=scope, known=known, read_by=job.read_by)
    objects = sorted({d.sobject for d in desired} | {m.sobject for m in managed})
    schema = schema_from_describe({o: describe(o) for o in objects}) if describe else None
    plan = diff(desired, current, managed, schema)
    log.info("plan_ready", job=job.name, accounts=len(matched), **plan.counts, kept=len(plan.kept))
    warnings = list(job.warnings)
    for warning in warnings:
        log.warning("action_not_carried_out", job=job.name, problem=warning)
    # A value that cannot go into its field was left out of the plan: a warning like a held action.
    for problem in plan.misfits[:50]:
        log.warning("plan_value_misfit", job=job.name, problem=problem)
    warnings += plan.misfits[:50]
    return JobResult(plan=plan, unmatched=unmatched, accounts=len(matched), warnings=warnings)


def safety_refusal(plan: Plan, opts: JobOptions) -> str:
    """Why the safety check refuses `plan` ('' when it does not): too large a share of existing records
    would change at once, which is more often a broken mapping or feed than a real change."""
    if plan.considered < opts.safety_min_records or plan.change_share <= opts.safety_max_change_share:
        return ""
    return (
        f"the plan changes {plan.change_share:.0%} of existing records "
        f"(limit {opts.safety_max_change_share:.0%})"
    )


def run_job(
    engine: Engine,
    org: Org,
    job: MappingJob,
    run_id: str,
    now: datetime,
    opts: JobOptions,
    describe: Describe | None = None,
    stores: Sequence[str] | None = None,
    reads: PortfolioReads | None = None,
) -> JobResult:
    """Resume the outbox, plan, check the plan is not surprising, then apply it through the outbox."""
    resumed = resume(engine, org, now, opts, job.name, run_id)
    result = plan_job(engine, org, job, now, opts, describe, stores, reads)
    result.resumed = resumed
    plan = result.plan
    refusal = safety_refusal(plan, opts)
    if refusal and not opts.force:
        raise SafetyRefused(
            f"{refusal}; review it with `csm-sync plan {job.name}` and rerun with --force if it is intended"
        )
    queued = enqueue(engine, plan, run_id, job.name, now, opts.apply)
    report = send(engine, org, queued.ids, now, opts.apply)
    report.superseded, report.skipped_dead = queued.superseded, queued.skipped_dead
    result.applied = report
    prune(engine, now, opts.apply.keep_settled)
    log.info("apply_done", job=job.name, **report.data)
    return result
