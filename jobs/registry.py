"""Every job by name: the health and risk jobs over the mapping set, the lifecycle jobs, and the pull."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from connectors.salesforce.soql import select
from jobs import compliance, expansion, nps, onboarding, qbr, qbr_pack, receivables, renewals, snapshots
from jobs.accounts import build_account_data, read_accounts, store_directory
from jobs.current import Reader
from jobs.names import RUN_ORDER
from jobs.pull import PullReport, run_pull
from jobs.sync import JobOptions, MappingJob
from mappings.context import AccountData
from mappings.desired import Desired, Managed
from mappings.evaluate import AccountOutcome, evaluate_account, flag_attrs, managed
from mappings.load import MappingSet
from mappings.rollup import rollup_all

__all__ = [
    "RUN_ORDER",
    "PullReport",
    "UnknownJob",
    "UnknownStore",
    "build",
    "explain",
    "job_names",
    "run_pull",
]

# Fields on an MSO parent that the onboarding job owns; the health roll-up leaves them to it.
ONBOARDING_ROLLUP_FIELDS = frozenset({"Onboarding_Progress__c", "Locations_Live__c", "Locations_Total__c"})
RECORD_STREAMS = ("menu_health", "invoices", "payments", "tickets")
OPEN = ("Open", "Snoozed")  # a flag a CSM snoozed is still an open risk of the account


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


def _with_menu_attrs(data: AccountData) -> AccountData:
    """Lift the latest menu-health evidence (a derived record) into the attrs the risk rules read."""
    rows = sorted(data.records.get("menu_health", ()), key=lambda r: str(r.get("_day", "")))
    if not rows:
        return data
    latest = rows[-1]
    names = [
        str(x.get("name", x)) if isinstance(x, Mapping) else str(x)
        for x in latest.get("top_sellers_unavailable", [])
    ]
    attrs = {
        **data.attrs,
        "menu.top_sellers_unavailable": names,
        "menu.top_sellers_unavailable_detail": latest.get("top_sellers_unavailable", []),
        "menu.broken_images": latest.get("broken_images", []),
        "menu.hidden": latest.get("hidden", []),
        "menu.out_of_stock": latest.get("out_of_stock", []),
        "menu.last_sync_at": latest.get("last_menu_sync_at"),
    }
    by_category = latest.get("unavailable_by_category")
    if isinstance(by_category, Mapping):  # "menu.unavailable.edibles" → ["Name (hidden)", …]
        attrs.update({f"menu.unavailable.{c}": list(names) for c, names in by_category.items()})
    return dataclasses.replace(data, attrs=attrs)


def read_queues(org: Reader) -> dict[str, str]:
    """The org's queues by API name (DeveloperName) and by label (Name): what `queue:<Name>` names."""
    out: dict[str, str] = {}
    for row in org.query(select("Group", ["Id", "Name", "DeveloperName"], "Type = 'Queue'")):
        for name in (row.get("DeveloperName"), row.get("Name")):
            if name:
                out.setdefault(str(name), str(row["Id"]))
    return out


class _MappingSetJob:
    """Shared by account_health and risk_alerts: one evaluation of the mapping set per store."""

    name = ""

    def __init__(self, ms: MappingSet) -> None:
        self.ms = ms
        self.history_days = 0
        self._outcomes: list[AccountOutcome] = []
        self.warnings: list[str] = []  # rule actions that could not be carried out, once each

    @property
    def account_fields(self) -> frozenset[str]:
        hf = self.ms.health_file
        targets = {v for v in hf.health.targets.model_dump().values() if isinstance(v, str)}
        return self.ms.account_fields | {n for n, _ in self.ms.fields} | targets | {hf.open_risk_count_field}

    @property
    def streams(self) -> tuple[str, ...]:
        return RECORD_STREAMS

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> dict[str, dict[str, Any]]:
        by_id = {str(a["Id"]): s for s, a in accounts.items() if a.get("Id")}
        extra: dict[str, dict[str, Any]] = {s: {} for s in accounts}
        flags: dict[str, list[dict[str, Any]]] = {}
        ids = sorted(by_id)
        for i in range(0, len(ids), 200):
            soql = select(
                "Risk_Flag__c",
                ["Account__c", "Sync_Key__c", "Status__c", "Resolved_At__c", "Rule__c"],
                "Account__c IN {ids}",
                ids=ids[i : i + 200],
            )
            for row in org.query(soql):
                store = by_id.get(str(row.get("Account__c")))
                if store:
                    flags.setdefault(store, []).append(row)
        queues = read_queues(org)
        rules = {r.spec.name for r in self.ms.rules}
        for store in accounts:
            extra[store].update(flag_attrs(flags.get(store, [])))
            extra[store]["queues"] = queues
            others = [f for f in flags.get(store, []) if f.get("Rule__c") not in rules]
            # open flags raised by compliance, receivables...: Open_Risk_Count__c counts them too
            extra[store]["other_open_flags"] = sum(1 for f in others if f.get("Status__c") in OPEN)
        for store, attrs in snapshots.read_history(org, accounts, now.date()).items():
            extra.setdefault(store, {}).update(attrs)
        for store, progress in onboarding.read_progress(org, accounts).items():
            extra.setdefault(store, {}).update(progress)
        self._outcomes = []
        self.warnings = []
        return extra

    def outcome(self, data: AccountData, trace: bool = False) -> AccountOutcome:
        return evaluate_account(self.ms, _with_menu_attrs(data), trace=trace)


class HealthJob(_MappingSetJob):
    """account_health: KPI fields, the health score, band, trend and drivers; MSO parent roll-ups."""

    name = "account_health"

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        out = self.outcome(data)
        if data.store.get("parent_id"):
            self._outcomes.append(dataclasses.replace(out, data=dataclasses.replace(data, series={})))
        count_field = self.ms.health_file.open_risk_count_field
        return [
            dataclasses.replace(d, fields={k: v for k, v in d.fields.items() if k != count_field})
            for d in out.desired
            if d.sobject == self.ms.health_file.object
        ]

    def managed(self, now: datetime) -> Sequence[Managed]:
        return ()

    def finalize(
        self, accounts: Mapping[str, Mapping[str, Any]], desired: Sequence[Desired], now: datetime
    ) -> Sequence[Desired]:
        out = []
        for d in rollup_all(self.ms, self._outcomes, now):
            if d.key not in accounts:
                continue
            drop = ONBOARDING_ROLLUP_FIELDS | {self.ms.health_file.open_risk_count_field}
            out.append(dataclasses.replace(d, fields={k: v for k, v in d.fields.items() if k not in drop}))
        return out


class RiskJob(_MappingSetJob):
    """risk_alerts: flags with evidence, Tasks for CSMs, Cases for engineering; closes what cleared."""

    name = "risk_alerts"

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        out = self.outcome(data)
        self.warnings.extend(w for w in out.warnings if w not in self.warnings)
        obj, count_field = self.ms.health_file.object, self.ms.health_file.open_risk_count_field
        result: list[Desired] = []
        for d in out.desired:
            if d.sobject != obj:
                result.append(d)
            elif count_field in d.fields:  # every open flag, whichever job raised it
                count = d.fields[count_field] + int(data.attrs.get("other_open_flags") or 0)
                result.append(dataclasses.replace(d, fields={count_field: count}, touch={}))
        return result

    def managed(self, now: datetime) -> Sequence[Managed]:
        return managed(self.ms, now)

    def finalize(
        self, accounts: Mapping[str, Mapping[str, Any]], desired: Sequence[Desired], now: datetime
    ) -> Sequence[Desired]:
        return ()


_LIFECYCLE: dict[str, Callable[[MappingSet], MappingJob]] = {
    "snapshots": snapshots.SnapshotsJob.build,
    "onboarding": onboarding.OnboardingJob.build,
    "renewals": renewals.RenewalsJob.build,
    "qbr": qbr.QbrJob.build,
    "compliance": compliance.ComplianceJob.build,
    "receivables": receivables.ReceivablesJob.build,
    "expansion": expansion.ExpansionJob.build,
    nps.NAME: nps.NpsJob.build,
}


def build(name: str, ms: MappingSet) -> MappingJob:
    """The job called `name`, over the loaded mapping set (lifecycle jobs load their own files beside it)."""
    if name == "account_health":
        return HealthJob(ms)
    if name == "risk_alerts":
        return RiskJob(ms)
    if name in _LIFECYCLE:
        return _LIFECYCLE[name](ms)
    raise UnknownJob(name)


# Jobs with their own body rather than a mapping plan: the pull, and the QBR packs (Files, not records).
OWN_BODY_JOBS = frozenset({"pull", qbr_pack.NAME})


def build_all(ms: MappingSet) -> list[MappingJob]:
    """Every mapping job: building them loads and checks every mapping file (the QBR pack's too)."""
    qbr_pack.load(ms)
    return [build(n, ms) for n in job_names() if n not in OWN_BODY_JOBS]


def explain(
    engine: Engine, org: Reader, ms: MappingSet, store: str, now: datetime, opts: JobOptions
) -> dict[str, Any]:
    """The evaluation trace of one store: score components, every rule, and each lifecycle job's inputs."""
    health = HealthJob(ms)
    lifecycle = [build(n, ms) for n in sorted(_LIFECYCLE)]
    fields = set(health.account_fields)
    for job in lifecycle:
        fields |= job.account_fields
    accounts = read_accounts(org, fields, [store])  # the store and its parent, not the portfolio
    if store not in accounts:
        raise UnknownStore(store)
    one = {store: accounts[store]}
    extra = health.prepare(org, one, now)
    history = max([opts.history_days] + [getattr(j, "history_days", 0) for j in lifecycle])
    streams = tuple(sorted({*RECORD_STREAMS, *(s for j in lifecycle for s in j.streams)}))
    (data,) = build_account_data(
        engine,
        [store],
        accounts,
        store_directory(engine),
        now,
        history,
        streams,
        extra,
        freshness_aliases=opts.freshness_aliases,
    )
    outcome = health.outcome(data, trace=True)
    assert outcome.traced is not None
    jobs: dict[str, Any] = {}
    for job in lifecycle:
        explain_fn = getattr(job, "explain", None)
        if explain_fn is not None:
            try:  # each job's own inputs from the org (renewals, open risks, milestones), as a run reads them
                own = job.prepare(org, one, now).get(store) or {}
                view = dataclasses.replace(data, attrs={**data.attrs, **own}) if own else data
                jobs[job.name] = explain_fn(view)
            except Exception as exc:  # an explain must never hide the others
                jobs[job.name] = {"error": f"{type(exc).__name__}: {exc}"}
    return {
        "store": store,
        "text": outcome.traced.render(),
        "health_and_risks": outcome.traced.data,
        "jobs": jobs,
    }
