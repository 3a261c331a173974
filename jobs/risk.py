"""risk_alerts: flags with evidence, Tasks for CSMs, Cases for engineering; closes what cleared."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from jobs.mapping_set import MappingSetJob
from mappings.context import AccountData
from mappings.desired import Desired, Managed
from mappings.evaluate import managed


class RiskJob(MappingSetJob):
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
