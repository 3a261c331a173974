"""What a Salesforce-writing job is: the protocol `jobs/sync.py` runs, and the defaults jobs share.

A job turns each store's inputs (`AccountData`) into desired Salesforce records; jobs/sync.py does the
rest (read the Accounts and current records, plan, apply). Every job also explains its inputs for one
store (`csm-sync explain`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from jobs.current import Reader
from mappings.context import AccountData
from mappings.desired import Desired, Managed


class MappingJob(Protocol):
    """A job driven by mapping files: it turns each store's inputs into desired Salesforce records."""

    name: str
    history_days: int  # the days of history the job reads; 0: the run's default

    @property
    def account_fields(self) -> frozenset[str]:
        """Account fields the job reads or writes (read once per run, with the Accounts)."""
        ...

    @property
    def streams(self) -> tuple[str, ...]:
        """Record streams whose attrs the evaluation reads (invoices, menu items, ...)."""
        ...

    @property
    def warnings(self) -> Sequence[str]:
        """Actions the last run could not carry out (a missing queue...): the run is partial."""
        ...

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> Mapping[str, Mapping[str, Any]]:
        """Extra per-store inputs read once per run (Contracts, Opportunities...) -> AccountData.attrs."""
        ...

    def evaluate(self, data: AccountData) -> Sequence[Desired]: ...

    def managed(self, now: datetime) -> Sequence[Managed]: ...

    @property
    def read_by(self) -> Mapping[str, str]:
        """Objects whose desired records are found by a field they all carry (a day, a quarter) in
        the process's kept reads rather than by key per shard (`read_current`); {} when none."""
        ...

    def finalize(
        self, accounts: Mapping[str, Mapping[str, Any]], desired: Sequence[Desired], now: datetime
    ) -> Sequence[Desired]:
        """Records that depend on many stores (MSO parent roll-ups); () when none."""
        ...

    def explain(self, data: AccountData) -> dict[str, Any]:
        """The job's inputs and decisions for one store, as `csm-sync explain` shows them."""
        ...


class JobBase:
    """Defaults of the MappingJob protocol: no extra inputs, nothing owned to close, no roll-ups."""

    name: str = ""
    history_days: int = 0

    @property
    def account_fields(self) -> frozenset[str]:
        return frozenset()

    @property
    def streams(self) -> tuple[str, ...]:
        return ()

    @property
    def warnings(self) -> Sequence[str]:
        return ()

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> Mapping[str, Mapping[str, Any]]:
        return {}

    def managed(self, now: datetime) -> Sequence[Managed]:
        return ()

    @property
    def read_by(self) -> Mapping[str, str]:
        return {}

    def finalize(
        self, accounts: Mapping[str, Mapping[str, Any]], desired: Sequence[Desired], now: datetime
    ) -> Sequence[Desired]:
        return ()

    def summary(self, desired: Sequence[Desired]) -> dict[str, Any]:
        """Figures for the run summary: records per object."""
        out: dict[str, int] = {}
        for d in desired:
            out[d.sobject] = out.get(d.sobject, 0) + 1
        return {"desired": dict(sorted(out.items()))}
