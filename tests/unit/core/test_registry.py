"""The job registry: every job once, in an order where each job's inputs are written before it runs."""

from __future__ import annotations

import pytest

from jobs import registry
from mappings.load import load_mapping_set
from tests.unit.lifecycle.builders import FakeOrg
from tests.unit.mappings.builders import NOW, account, store_data
from worker.settings import JOB_NAMES


def test_every_configurable_job_is_registered_once() -> None:
    assert sorted(registry.job_names()) == sorted(JOB_NAMES)
    assert len(set(registry.RUN_ORDER)) == len(registry.RUN_ORDER)


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ("pull", "account_health"),
        ("onboarding", "account_health"),
        ("account_health", "snapshots"),
        ("risk_alerts", "renewals"),
        ("account_health", "renewals"),
        ("compliance", "risk_alerts"),
        ("receivables", "risk_alerts"),
        ("compliance", "renewals"),
        ("receivables", "renewals"),
        ("risk_alerts", "digest"),
        ("renewals", "digest"),
        ("onboarding", "digest"),
    ],
)
def test_inputs_are_written_before_they_are_read(first: str, then: str) -> None:
    assert registry.RUN_ORDER.index(first) < registry.RUN_ORDER.index(then)


def test_every_job_builds_from_the_shipped_mapping_files() -> None:
    jobs = registry.build_all(load_mapping_set())
    assert [j.name for j in jobs] == [n for n in registry.RUN_ORDER if n not in ("pull", "qbr_pack", "digest")]


def test_unknown_job_lists_the_valid_ones() -> None:
    with pytest.raises(registry.UnknownJob) as info:
        registry.build("helth", load_mapping_set())
    assert "unknown job 'helth'; valid jobs: pull, onboarding, account_health" in str(info.value)


def test_the_open_risk_count_counts_the_flags_every_job_raised() -> None:
    flags = [
        {"Account__c": "001A", "Sync_Key__c": "receivables:NV-001:past_due", "Rule__c": "receivables:past_due",
         "Status__c": "Open"},
        {"Account__c": "001A", "Sync_Key__c": "compliance:NV-001:nv-serving-cap:x", "Status__c": "Snoozed",
         "Rule__c": "compliance:nv-serving-cap"},
        {"Account__c": "001A", "Sync_Key__c": "receivables:NV-001:method_changes", "Status__c": "Resolved",
         "Rule__c": "receivables:method_changes", "Resolved_At__c": "2026-10-01T00:00:00Z"},
    ]  # fmt: skip
    org = FakeOrg({"Risk_Flag__c": flags, "Group": [{"Id": "00G1", "Name": "Menu Engineering",
                                                     "DeveloperName": "Menu_Engineering"}]})  # fmt: skip
    job = registry.build("risk_alerts", load_mapping_set())
    accounts = {"NV-001": account(Id="001A")}
    extra = job.prepare(org, accounts, NOW)
    assert extra["NV-001"]["other_open_flags"] == 2  # open and snoozed; the resolved one is not a risk
    assert extra["NV-001"]["queues"] == {"Menu_Engineering": "00G1", "Menu Engineering": "00G1"}
    data = store_data(attrs=dict(extra["NV-001"]))  # a healthy store: no risk rule fires
    (acct,) = [d for d in job.evaluate(data) if d.sobject == "Account"]
    assert acct.fields == {"Open_Risk_Count__c": 2}
