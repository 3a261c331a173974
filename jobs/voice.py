"""Voice of the customer: Product_Request__c per product area, with its accounts and the ARR behind it.

The requests add up mentions across accounts, so the job runs over the whole portfolio in one piece
(`PORTFOLIO_JOBS`): each store's evaluation only collects its mentions, and `finalize` writes the
requests and their account rows once every store has been read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.salesforce.soql import select_in
from jobs.current import Reader
from jobs.job import JobBase
from mappings import records
from mappings.context import AccountData
from mappings.desired import Desired, Managed
from mappings.lifecycle import mapping_dir
from mappings.voice import FILE, Matcher, Mention, Request, VoiceFile, evidence, load, mentions, rollup

NAME = "voice"
REQUEST = "Product_Request__c"
REQUEST_KEY = "Request_Key__c"
LINK = "Product_Request_Account__c"
LINK_KEY = "Link_Key__c"
OPEN = "Open"
QUIET = "No recent mentions"
# Statuses csm-sync sets; any other (Planned, Shipped…) is the product team's and is never overwritten.
OWN_STATUSES = ("", OPEN, QUIET)


class VoiceJob(JobBase):
    """Product requests from tickets and NPS comments, rolled up across accounts."""

    name = NAME

    def __init__(self, cfg: VoiceFile) -> None:
        self.cfg = cfg
        self.history_days = cfg.lookback_days + 1
        self.matcher = Matcher.of(cfg)
        self.found: list[Mention] = []
        self.status: dict[str, str] = {}
        self.requests: list[Request] = []

    @classmethod
    def build(cls, source: Any) -> VoiceJob:
        return cls(load(mapping_dir(source) / FILE))

    @property
    def account_fields(self) -> frozenset[str]:
        return frozenset({self.cfg.arr_field})

    @property
    def streams(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.stream for s in self.cfg.sources))

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> dict[str, Any]:
        """The requests' current statuses: one the product team set is left as it is."""
        self.found, self.requests = [], []
        codes = sorted(a.code for a in self.cfg.areas)
        self.status = {
            str(row[REQUEST_KEY]): str(row.get("Status__c") or "")
            for soql in select_in(REQUEST, [REQUEST_KEY, "Status__c"], REQUEST_KEY, codes)
            for row in org.query(soql)
            if row.get(REQUEST_KEY)
        }
        return {}

    def managed(self, now: datetime) -> Sequence[Managed]:
        return (
            Managed(
                REQUEST,
                REQUEST_KEY,
                is_open={"Status__c": OPEN},
                close_fields={"Status__c": QUIET},
                reason=f"under {self.cfg.min_accounts} accounts asked in {self.cfg.lookback_days} days",
            ),
            Managed(
                LINK,
                LINK_KEY,
                is_open={"Current__c": True},
                close_fields={"Current__c": False},
                reason=f"the account has not mentioned it in the last {self.cfg.lookback_days} days",
            ),
        )

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        if data.account.get("Id"):
            self.found += mentions(self.cfg, self.matcher, data.store_id, data.records, data.today)
        return []

    def finalize(
        self, accounts: Mapping[str, Mapping[str, Any]], desired: Sequence[Desired], now: datetime
    ) -> Sequence[Desired]:
        self.requests = rollup(self.cfg, self.found, accounts)
        out: list[Desired] = []
        for req in self.requests:
            out.append(self.request_record(req))
            out += self.link_records(req)
        return out

    def request_record(self, req: Request) -> Desired:
        fields: dict[str, Any] = {
            "Name": records.clip("Name", req.title),
            "Product_Area__c": req.code,
            "Accounts_Count__c": len(req.accounts),
            "ARR_Total__c": round(req.arr_total, 2),
            "Mentions__c": req.mention_count,
            "First_Seen__c": req.first_seen,
            "Last_Seen__c": req.last_seen,
            "Evidence__c": records.clip("Evidence__c", evidence(req, self.cfg.quotes_per_account)),
        }
        if self.status.get(req.code, "") in OWN_STATUSES:
            fields["Status__c"] = OPEN
        return Desired(
            REQUEST,
            REQUEST_KEY,
            req.code,
            fields,
            reason=f"{len(req.accounts)} accounts asked for {req.title.lower()}",
        )

    def link_records(self, req: Request) -> list[Desired]:
        return [
            Desired(
                LINK,
                LINK_KEY,
                f"{req.code}:{a.store_id}",
                {
                    "Name": records.clip("Name", f"{a.name} · {req.title}"),
                    "Mentions__c": len(a.mentions),
                    "Latest_Quote__c": records.clip("Latest_Quote__c", a.latest.quote),
                    "Last_Mention__c": a.latest.day,
                    "Current__c": True,
                },
                {"Product_Request__r": {REQUEST_KEY: req.code}, "Account__c": a.account_id},
                account_key=a.store_id,
                reason=f"{a.store_id} asked for {req.title.lower()}",
            )
            for a in req.accounts
        ]

    def summary(self, desired: Sequence[Desired]) -> dict[str, Any]:
        return {
            **super().summary(desired),
            "voice": {
                r.code: {
                    "accounts": len(r.accounts),
                    "arr": round(r.arr_total, 2),
                    "mentions": r.mention_count,
                }
                for r in self.requests
            },
        }

    def explain(self, data: AccountData) -> dict[str, Any]:
        found = mentions(self.cfg, self.matcher, data.store_id, data.records, data.today)
        pulled = {s.source: data.last_success.get(s.source) for s in self.cfg.sources}
        return {
            "job": self.name,
            "store": data.store_id,
            "lookback_days": self.cfg.lookback_days,
            "last_good_pull": {k: v.isoformat() if v else None for k, v in pulled.items()},
            "mentions": [
                {"area": m.area, "source": m.label, "id": m.id, "day": m.day.isoformat(), "quote": m.quote}
                for m in found
            ],
        }
