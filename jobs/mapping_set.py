"""The evaluation of the mapping set per store that account_health and risk_alerts share."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from jobs import onboarding, snapshots
from jobs.current import Reader
from jobs.portfolio import rows, rows_in
from mappings.context import AccountData
from mappings.evaluate import AccountOutcome, evaluate_account, flag_attrs
from mappings.load import MappingSet

RECORD_STREAMS = ("menu_health", "invoices", "payments", "tickets")
OPEN = ("Open", "Snoozed")  # a flag a CSM snoozed is still an open risk of the account


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
    for row in rows(org, "Group", ["Id", "Name", "DeveloperName"], "Type = 'Queue'"):
        for name in (row.get("DeveloperName"), row.get("Name")):
            if name:
                out.setdefault(str(name), str(row["Id"]))
    return out


class MappingSetJob:
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

    @property
    def read_by(self) -> Mapping[str, str]:
        return {}

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> dict[str, dict[str, Any]]:
        by_id = {str(a["Id"]): s for s, a in accounts.items() if a.get("Id")}
        extra: dict[str, dict[str, Any]] = {s: {} for s in accounts}
        flags: dict[str, list[dict[str, Any]]] = {}
        fields = ["Account__c", "Sync_Key__c", "Status__c", "Resolved_At__c", "Rule__c"]
        for row in rows_in(org, "Risk_Flag__c", fields, "Account__c", sorted(by_id)):
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

    def explain(self, data: AccountData) -> dict[str, Any]:
        """The evaluation trace of the store: every score component and rule, with the values."""
        traced = self.outcome(data, trace=True).traced
        assert traced is not None
        return traced.data
