"""Every job by name: the health and risk jobs over the mapping set, the lifecycle jobs, and the pull."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from jobs import (
    cadence,
    champions,
    compliance,
    digest,
    digest_brief,
    expansion,
    nps,
    onboarding,
    qbr,
    qbr_pack,
    receivables,
    renewals,
    snapshots,
    voice,
)
from jobs.accounts import build_account_data, read_accounts, record_windows
from jobs.current import Reader
from jobs.health import HealthJob
from jobs.job import MappingJob
from jobs.mapping_set import RECORD_STREAMS, read_queues
from jobs.names import RUN_ORDER
from jobs.pull import PullReport, run_pull
from jobs.risk import RiskJob
from jobs.sync import JobOptions
from mappings.lifecycle import mapping_dir
from mappings.load import MappingSet
from state import stores as store_directory
from state.engine import Engine

__all__ = [
    "JOBS",
    "RUN_ORDER",
    "HealthJob",
    "PullReport",
    "RiskJob",
    "UnknownJob",
    "UnknownStore",
    "build",
    "explain",
    "job_names",
    "read_queues",
    "run_pull",
]


class UnknownJob(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown job {self.name!r}; valid jobs: {', '.join(job_names())}"


class UnknownStore(LookupError):
    """No Salesforce Account carries this store id, so there is nothing to explain."""

    def __init__(self, store: str) -> None:
        super().__init__(store)
        self.store = store

    def __str__(self) -> str:
        return f"store {self.store!r} has no Salesforce Account with Store_Id__c = {self.store!r}"


def job_names() -> tuple[str, ...]:
    """Every job, in dependency order (RUN_ORDER)."""
    return RUN_ORDER


# Every mapping job by name: what builds it over the loaded mapping set (lifecycle jobs load their own
# files beside it). The pull, the QBR packs and the morning briefs have their own body (OWN_BODY_JOBS).
JOBS: Mapping[str, Callable[[MappingSet], MappingJob]] = {
    HealthJob.name: HealthJob,
    RiskJob.name: RiskJob,
    "snapshots": snapshots.SnapshotsJob.build,
    "onboarding": onboarding.OnboardingJob.build,
    "renewals": renewals.RenewalsJob.build,
    "qbr": qbr.QbrJob.build,
    "compliance": compliance.ComplianceJob.build,
    "receivables": receivables.ReceivablesJob.build,
    "expansion": expansion.ExpansionJob.build,
    nps.NAME: nps.NpsJob.build,
    cadence.NAME: cadence.CadenceJob.build,
    champions.NAME: champions.ChampionsJob.build,
    voice.NAME: voice.VoiceJob.build,
}


def build(name: str, ms: MappingSet) -> MappingJob:
    """The job called `name`, over the loaded mapping set (lifecycle jobs load their own files beside it)."""
    factory = JOBS.get(name)
    if factory is None:
        raise UnknownJob(name)
    return factory(ms)


# Jobs with their own body rather than a mapping plan: the pull, the QBR packs (Files, not records) and
# the morning briefs (messages, not records).
OWN_BODY_JOBS = frozenset({"pull", qbr_pack.NAME, digest.NAME})


def build_all(ms: MappingSet) -> list[MappingJob]:
    """Every mapping job: building them loads and checks every mapping file (the QBR pack's too)."""
    qbr_pack.load(ms)
    digest_brief.load(mapping_dir(ms))
    return [build(n, ms) for n in job_names() if n not in OWN_BODY_JOBS]


def explain(
    engine: Engine, org: Reader, ms: MappingSet, store: str, now: datetime, opts: JobOptions
) -> dict[str, Any]:
    """The evaluation trace of one store: score components, every rule, and each lifecycle job's inputs."""
    health = HealthJob(ms)
    lifecycle = [build(n, ms) for n in sorted(JOBS) if n not in (HealthJob.name, RiskJob.name)]
    fields = set(health.account_fields)
    for job in lifecycle:
        fields |= job.account_fields
    accounts = read_accounts(org, fields, [store])  # the store and its parent, not the portfolio
    if store not in accounts:
        raise UnknownStore(store)
    one = {store: accounts[store]}
    extra = health.prepare(org, one, now)
    history = max([opts.history_days] + [j.history_days for j in lifecycle])
    streams = tuple(sorted({*RECORD_STREAMS, *(s for j in lifecycle for s in j.streams)}))
    (data,) = build_account_data(
        engine,
        [store],
        accounts,
        store_directory.rows(engine),
        now,
        history,
        streams,
        extra,
        freshness_aliases=opts.freshness_aliases,
        record_days=record_windows([health, *lifecycle]),
    )
    outcome = health.outcome(data, trace=True)
    assert outcome.traced is not None
    jobs: dict[str, Any] = {}
    for job in lifecycle:
        try:  # each job's own inputs from the org (renewals, open risks, milestones), as a run reads them
            own = job.prepare(org, one, now).get(store) or {}
            view = dataclasses.replace(data, attrs={**data.attrs, **own}) if own else data
            jobs[job.name] = job.explain(view)
        except Exception as exc:  # an explain must never hide the others
            jobs[job.name] = {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "store": store,
        "text": outcome.traced.render(),
        "health_and_risks": outcome.traced.data,
        "jobs": jobs,
    }
