"""The job registry: every job once, in an order where each job's inputs are written before it runs."""

from __future__ import annotations

import pytest

from jobs import registry
from mappings.load import load_mapping_set
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
    ],
)
def test_inputs_are_written_before_they_are_read(first: str, then: str) -> None:
    assert registry.RUN_ORDER.index(first) < registry.RUN_ORDER.index(then)


def test_every_job_builds_from_the_shipped_mapping_files() -> None:
    jobs = registry.build_all(load_mapping_set())
    assert [j.name for j in jobs] == [n for n in registry.RUN_ORDER if n not in ("pull", "qbr_pack")]


def test_unknown_job_lists_the_valid_ones() -> None:
    with pytest.raises(registry.UnknownJob) as info:
        registry.build("helth", load_mapping_set())
    assert "unknown job 'helth'; valid jobs: pull, onboarding, account_health" in str(info.value)
