"""Compliance: menus, promotions and online orders against state rules, brand MSRP lists and Metrc.

Findings become flags and Tasks; each check is held by the freshness of the data it reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from jobs.current import Reader
from jobs.job import JobBase
from jobs.portfolio import keyed_open
from mappings import records
from mappings.context import AccountData
from mappings.desired import Desired, Managed
from mappings.lifecycle import (
    FLAG_KEY_FIELD,
    TASK_KEY_FIELD,
    Model,
    Severity,
    TaskTemplate,
    load_templated,
    mapping_dir,
    task,
)
from mappings.purchase_limits import LimitCheck, Order, check_orders
from mappings.reconciliation import ReconciliationRule, finding, reconcile
from mappings.states import (
    BrandFile,
    MenuItem,
    Promotion,
    StateFile,
    Violation,
    brands_from_records,
    check_menu,
    check_msrp,
    check_promotions,
    load_brands,
    load_states,
)

FILE = "compliance.toml"
PREFIX = "compliance:"
TASK_PLACEHOLDERS = (
    "title", "rule_id", "item", "finding", "citation", "evidence", "details", "action",
    "store", "account", "state", "verified_note",
)  # fmt: skip
RECONCILIATION_RULE = "metrc-reconciliation"
LIMITS_ITEM = "online-orders"
# Each check reads its own data, so each is held on its own while that data is stale.
MENU, LIMITS, RECONCILIATION = "menu", "purchase_limits", "metrc_reporting"
GROUPS = (MENU, LIMITS, RECONCILIATION)


class ComplianceFile(Model):
    states_dir: str = "states"
    brands_dir: str = "brands"
    menu_stream: str = "menu_items"
    promotion_stream: str = "promotions"
    msrp_stream: str = "brand_msrp"
    only_visible: bool = True  # hidden menu items are not shown to shoppers: not checked
    check_msrp: bool = True
    requires_fresh: tuple[str, ...] = ("platform",)  # stale menu data holds flags as they are
    stale_after_hours: float = Field(default=36.0, gt=0)
    flag_category: str = "Compliance"
    high_priority: tuple[Severity, ...] = ("High", "Critical")  # these severities make the Task High
    action: str = "Ask the store to correct the item on its menu or promotion."
    purchase_limits: LimitCheck = LimitCheck()
    metrc_reconciliation: ReconciliationRule = ReconciliationRule()
    task: TaskTemplate


def load(path: Path) -> ComplianceFile:
    return load_templated(ComplianceFile, path, {"task": TASK_PLACEHOLDERS})


def read_open(
    org: Reader, accounts: Mapping[str, Mapping[str, Any]], prefix: str
) -> dict[str, dict[str, Any]]:
    """Keys of a job's open flags and Tasks per store: held as they are while the job's data is stale."""
    by_id = {str(a["Id"]): s for s, a in accounts.items() if a.get("Id")}
    out: dict[str, dict[str, Any]] = {}
    queries = (
        ("Risk_Flag__c", FLAG_KEY_FIELD, "Account__c", "Status__c = 'Open'"),
        ("Task", TASK_KEY_FIELD, "WhatId", "IsClosed = false"),
    )
    for sobject, key_field, parent, cond in queries:
        found = keyed_open(org, sobject, [key_field, parent], cond, key_field, prefix, parent, sorted(by_id))
        for row in found:
            store = by_id.get(str(row.get(parent)))
            if store is not None and row.get(key_field):
                out.setdefault(store, {}).setdefault("open_keys", {}).setdefault(sobject, []).append(
                    str(row[key_field])
                )
    return out


def hold(data: AccountData, why: str, group: str | None = None) -> list[Desired]:
    """Keep the open records (of one check group) as they are: desired with no fields, so nothing is
    written or closed."""
    keys: Mapping[str, Sequence[str]] = data.attrs.get("open_keys") or {}
    return [
        records.hold(sobject, key, data.store_id, f"held: {why}")
        for sobject in sorted(keys)
        for key in sorted(set(keys[sobject]))
        if group is None or group_of(key, data.store_id) == group
    ]


def group_of(key: str, store_id: str) -> str:
    """Which check a compliance key belongs to: `compliance:<store>:<rule>:<item>`."""
    rule, _, item = key.removeprefix(f"{PREFIX}{store_id}:").partition(":")
    if rule == RECONCILIATION_RULE:
        return RECONCILIATION
    return LIMITS if item == LIMITS_ITEM else MENU


def stale_sources(data: AccountData, sources: Sequence[str], hours: float) -> list[str]:
    """Sources whose newest data is older than `hours` (or missing): their absence is not a fix."""
    out = []
    for s in sources:
        at = data.freshness.get(s)
        if at is None or (data.now - at).total_seconds() / 3600.0 > hours:
            out.append(s)
    return out


class ComplianceJob(JobBase):
    """One flag and one Task per finding of a rule in force; both close when the finding clears."""

    name = "compliance"

    def __init__(
        self,
        cfg: ComplianceFile,
        states: Mapping[str, StateFile],
        brands: Mapping[str, BrandFile] | None = None,
    ) -> None:
        self.cfg = cfg
        self.states = dict(states)
        self.brands = dict(brands or {})

    @classmethod
    def build(cls, source: Any) -> ComplianceJob:
        folder = mapping_dir(source)
        cfg = load(folder / FILE)
        return cls(cfg, load_states(folder / cfg.states_dir), load_brands(folder / cfg.brands_dir))

    @property
    def account_fields(self) -> frozenset[str]:
        return frozenset({"CSM__c", "OwnerId", "BillingState"})

    @property
    def streams(self) -> tuple[str, ...]:
        out = (self.cfg.menu_stream, self.cfg.promotion_stream, self.cfg.msrp_stream)
        return out + ((self.cfg.purchase_limits.order_stream,) if self.cfg.purchase_limits.enabled else ())

    @property
    def record_days(self) -> dict[str, int]:
        """Orders are read only as far back as the limit check looks (a day more for time zones)."""
        pl = self.cfg.purchase_limits
        return {pl.order_stream: pl.window_days + 1} if pl.enabled else {}

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> dict[str, Any]:
        return read_open(org, accounts, PREFIX)

    def managed(self, now: datetime) -> Sequence[Managed]:
        return (
            records.close_flags(now, prefix=PREFIX),
            records.close_tasks(PREFIX, "compliance finding fixed"),
        )

    def state_of(self, data: AccountData) -> str:
        return str(data.store.get("state") or data.account.get("BillingState") or "").upper()

    def reconciled(self, data: AccountData) -> bool:
        """Stores with a Metrc license are reconciled when the check is on."""
        rule = self.cfg.metrc_reconciliation
        return rule.enabled and bool(data.store.get(rule.license_attr))

    def stale(self, data: AccountData, group: str) -> list[str]:
        """The sources a check reads that are stale for the store ([] when the check does not apply)."""
        if group == MENU:
            return stale_sources(data, self.cfg.requires_fresh, self.cfg.stale_after_hours)
        if group == LIMITS:
            pl = self.cfg.purchase_limits
            return stale_sources(data, (pl.order_source,), self.cfg.stale_after_hours) if pl.enabled else []
        rule = self.cfg.metrc_reconciliation
        if not self.reconciled(data):
            return []
        return stale_sources(data, (rule.pos_source, rule.metrc_source), rule.stale_after_hours)

    def violations(self, data: AccountData, groups: Sequence[str] = GROUPS) -> list[Violation]:
        """Every finding of the given checks for the store today, in a stable order."""
        out: list[Violation] = []
        rules = self.states.get(self.state_of(data))
        if MENU in groups:
            items = [MenuItem.of(r) for r in data.records.get(self.cfg.menu_stream, ())]
            promos = [Promotion.of(r) for r in data.records.get(self.cfg.promotion_stream, ())]
            if rules is not None:
                out += check_menu(rules, items, data.today, self.cfg.only_visible)
                out += check_promotions(rules, promos, data.today)
            if self.cfg.check_msrp:
                brands = {
                    **self.brands,
                    **brands_from_records(data.records.get(self.cfg.msrp_stream, ()), data.today),
                }
                out += check_msrp(brands, items, data.today, self.cfg.only_visible)
        pl = self.cfg.purchase_limits
        if LIMITS in groups and pl.enabled and rules is not None:
            orders = [Order.of(r) for r in data.records.get(pl.order_stream, ())]
            out += check_orders(rules, orders, data.now, pl)
        if RECONCILIATION in groups and self.reconciled(data):
            out += self.reconciliation(data)
        return sorted(out, key=lambda v: (v.rule_id, v.item_id))

    def reconciliation(self, data: AccountData) -> list[Violation]:
        rule = self.cfg.metrc_reconciliation
        result = reconcile(
            data.series.get((rule.pos_metric, ""), {}),
            data.series.get((rule.metrc_metric, ""), {}),
            data.today,
            rule,
        )
        if not result.fires(rule):
            return []
        tol = f"${rule.tolerance_amount:,.2f} or {rule.tolerance_percent:g}% of the day's sales"
        return [
            Violation(
                rule_id=RECONCILIATION_RULE,
                group=RECONCILIATION,
                title=rule.title,
                item_id="sales",
                item="POS vs Metrc daily sales",
                finding=finding(result),
                citation=rule.source,
                severity=rule.severity,
                verified=True,
                details=(f"Days beyond the tolerance ({tol}):", *(g.line() for g in result.gaps)),
            )
        ]

    def action(self, v: Violation) -> str:
        if v.group == RECONCILIATION:
            return self.cfg.metrc_reconciliation.action
        if v.item_id == LIMITS_ITEM:
            return self.cfg.purchase_limits.action
        return self.cfg.action

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        if not data.account.get("Id"):
            return []
        out: list[Desired] = []
        fresh: list[str] = []
        for group in GROUPS:
            stale = self.stale(data, group)
            if stale:
                out += hold(data, f"stale data from {', '.join(stale)}", group)
            else:
                fresh.append(group)
        seen: set[str] = set()
        for v in self.violations(data, fresh):
            key = f"{PREFIX}{data.store_id}:{v.key_part}"
            if key in seen:  # the same item listed twice on the menu
                continue
            seen.add(key)
            note = (
                ""
                if v.verified
                else "The rule's number is not yet verified at its source: treat as a warning."
            )
            evidence = "\n".join(p for p in (v.evidence, note) if p)
            out.append(
                records.flag(
                    key,
                    account_id=data.account.get("Id"),
                    rule=f"compliance:{v.rule_id}"[:80],
                    name=f"{v.title}: {v.item}",
                    severity=v.severity,
                    evidence=evidence,
                    category=self.cfg.flag_category,
                    now=data.now,
                    store_id=data.store_id,
                    reason=v.finding,
                    evidence_data=json.dumps(
                        {"rule": v.rule_id, "item": v.item, "finding": v.finding, "verified": v.verified},
                        sort_keys=True,
                    ),
                )
            )
            values = {
                "title": v.title,
                "rule_id": v.rule_id,
                "item": v.item,
                "finding": v.finding,
                "citation": v.citation,
                "evidence": evidence,
                "details": "\n".join(v.details),
                "action": self.action(v),
                "store": data.store_id,
                "account": data.account.get("Name") or data.store_id,
                "state": self.state_of(data),
                "verified_note": note,
            }
            priority = "High" if v.severity in self.cfg.high_priority else None
            out.append(
                task(
                    key,
                    data.account,
                    self.cfg.task,
                    values,
                    data.today,
                    priority=priority,
                    store_id=data.store_id,
                    reason=v.finding,
                )
            )
        return out

    def summary(self, desired: Sequence[Desired]) -> dict[str, Any]:
        """Figures for the run summary: records per object, and open findings per check."""
        out = super().summary(desired)
        findings: dict[str, int] = {}
        for d in desired:
            if d.sobject == "Risk_Flag__c" and d.fields:
                g = group_of(d.key, d.account_key)
                findings[g] = findings.get(g, 0) + 1
        out["findings"] = {g: findings.get(g, 0) for g in GROUPS}
        return out

    def explain(self, data: AccountData) -> dict[str, Any]:
        state = self.state_of(data)
        rules = self.states.get(state)
        rule = self.cfg.metrc_reconciliation
        recon = (
            reconcile(
                data.series.get((rule.pos_metric, ""), {}),
                data.series.get((rule.metrc_metric, ""), {}),
                data.today,
                rule,
            )
            if self.reconciled(data)
            else None
        )
        return {
            "job": self.name,
            "store": data.store_id,
            "state": state,
            "rules_in_force": [r.id for r in rules.in_force(data.today)] if rules else [],
            "menu_items": len(data.records.get(self.cfg.menu_stream, ())),
            "promotions": len(data.records.get(self.cfg.promotion_stream, ())),
            "online_orders": len(data.records.get(self.cfg.purchase_limits.order_stream, ())),
            "held_for_stale": {g: s for g in GROUPS if (s := self.stale(data, g))},
            "metrc_reconciliation": None
            if recon is None
            else {
                "days_checked": [d.isoformat() for d in recon.checked],
                "unreadable_days": [d.isoformat() for d in recon.unreadable],
                "gaps": [
                    {"day": g.day.isoformat(), "pos": g.pos, "metrc": g.metrc, "allowed": g.allowed}
                    for g in recon.gaps
                ],
                "fires": recon.fires(rule),
            },
            "violations": [
                {"rule": v.rule_id, "item": v.item, "finding": v.finding, "source": v.citation}
                for v in self.violations(data)
            ],
        }
