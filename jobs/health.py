"""account_health: KPI fields, the health score, band, trend and drivers; MSO parent roll-ups."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from jobs.mapping_set import MappingSetJob
from mappings.context import AccountData
from mappings.desired import Desired, Managed
from mappings.rollup import rollup_all

# Fields on an MSO parent that the onboarding job owns; the health roll-up leaves them to it.
ONBOARDING_ROLLUP_FIELDS = frozenset({"Onboarding_Progress__c", "Locations_Live__c", "Locations_Total__c"})


class HealthJob(MappingSetJob):
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
