"""One story across jobs, told by the CLI on the sandbox: config errors before any query, rule actions that
cannot be carried out, the open-risk count, explain reading the org, and snapshot backfills."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

import mappings
from jobs.registry import job_names
from sandbox.environment import SandboxEnvironment
from state.engine import make_engine
from state.tables import RunRecord
from worker.cli import main

pytestmark = pytest.mark.integration

STORE = "NV-001"
WRITES = ("collections", "sobject", "composite", "bulk_create", "bulk_upload", "bulk_close")
ALWAYS_RULE = """

[[rules]]
name = "always_on"
title = "Always on"
severity = "Low"
when = 'store_id != ""'

[rules.case]
subject = "Always on: {store_id}"
owner = "queue:Field_Engineering"
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxEnvironment]:
    with SandboxEnvironment.start(tmp_path_factory.mktemp("cli-story"), orders_per_day=20) as e:
        assert cli(e, "run-job", "pull", "--store", STORE, "--store", "AZ-001") == 0
        yield e


def cli(env: SandboxEnvironment, *args: str, config: Path | None = None) -> int:
    return main(["--config", str(config or env.config_path), *args])


def writes(env: SandboxEnvironment) -> int:
    calls = env.org.stats.snapshot()
    return sum(calls.get(k, 0) for k in WRITES)


def with_mappings(env: SandboxEnvironment, tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A config whose mapping folder is a copy of the shipped one with `old` replaced in `file`."""
    folder = tmp_path / "mappings"
    shutil.copytree(
        Path(mappings.__file__).parent, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    text = (folder / file).read_text()
    assert old in text
    (folder / file).write_text(text.replace(old, new, 1))
    config = tmp_path / "config.toml"
    config.write_text(env.config_path.read_text().replace("[sync]", f'[sync]\nmappings_dir = "{folder}"', 1))
    return config


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def last_run(env: SandboxEnvironment, job: str) -> RunRecord:
    with Session(make_engine(f"sqlite:///{env.workdir / 'csm-sync.db'}")) as s:
        return s.exec(select(RunRecord).where(RunRecord.job == job)).all()[-1]


def account(env: SandboxEnvironment, store: str = STORE) -> dict[str, object]:
    return next(a for a in env.org.records("Account") if a.get("Store_Id__c") == store)


def test_a_misspelled_account_field_exits_2_naming_file_and_key_before_any_query(
    env: SandboxEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = with_mappings(
        env, tmp_path, "account_health.toml", "Online_Orders_7d__c =", "Online_Orders_7day__c ="
    )
    before, queries = writes(env), env.org.stats.snapshot().get("query", 0)
    capsys.readouterr()
    assert cli(env, "run-job", "account_health", "--store", STORE, config=config) == 2
    out = flat(capsys.readouterr().out)
    assert (
        'account_health.toml: field "Online_Orders_7day__c": Account has no field Online_Orders_7day__c'
        in out
    )
    assert 'did you mean "Online_Orders_7d__c"?' in out and "INVALID_FIELD" not in out
    assert env.org.stats.snapshot().get("query", 0) == queries and writes(env) == before
    assert last_run(env, "account_health").exit_code == 2
    assert cli(env, "plan", "account_health", config=config) == 2


def test_a_lifecycle_file_naming_a_missing_account_field_exits_2_at_its_key(
    env: SandboxEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = with_mappings(
        env, tmp_path, "qbr.toml", 'review_date_field = ""', 'review_date_field = "Next_QBR__c"'
    )
    before, queries = writes(env), env.org.stats.snapshot().get("query", 0)
    capsys.readouterr()
    assert cli(env, "run-job", "qbr", "--store", STORE, config=config) == 2
    out = flat(capsys.readouterr().out)
    assert (
        "mappings/qbr.toml: review_date_field: Account has no field Next_QBR__c; fix the name in the file"
        in out
    )
    assert env.org.stats.snapshot().get("query", 0) == queries and writes(env) == before
    assert cli(env, "validate", config=config) == 2  # validate finds what the run would
    assert "mappings/qbr.toml: review_date_field: Account has no field Next_QBR__c" in flat(
        capsys.readouterr().out
    )


def test_a_rule_action_whose_queue_is_missing_is_named_by_validate_and_warned_by_the_run(
    env: SandboxEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = with_mappings(env, tmp_path, "risk_rules.toml", "# -----", ALWAYS_RULE.strip() + "\n\n# -----")
    capsys.readouterr()
    assert cli(env, "validate", config=config) == 2
    out = flat(capsys.readouterr().out)
    assert 'risk_rules.toml: rule "always_on" → case.owner: the org has no queue "Field_Engineering"' in out
    assert cli(env, "validate") == 0  # the shipped rules and the demo org agree on "Menu_Engineering"

    assert cli(env, "run-job", "risk_alerts", "--store", STORE, config=config) == 1
    out = capsys.readouterr().out
    assert 'warning: mappings/risk_rules.toml: rule "always_on" → case.owner' in flat(out)
    run = last_run(env, "risk_alerts")
    assert run.exit_code == 1 and "Field_Engineering" in json.dumps(run.counts["warnings"])
    flags = [f for f in env.org.records("Risk_Flag__c") if f.get("Rule__c") == "always_on"]
    assert len(flags) == 1 and flags[0]["Status__c"] == "Open"  # the flag is raised ...
    key = "risk:" + str(flags[0]["Sync_Key__c"])
    assert not [c for c in env.org.records("Case") if c.get("Sync_Key__c") == key]  # ... the Case waits
    assert cli(env, "status", config=config) == 0
    assert 'risk_alerts: mappings/risk_rules.toml: rule "always_on"' in flat(capsys.readouterr().out)
    env.org.update("Risk_Flag__c", str(flags[0]["Id"]), {"Status__c": "Resolved"})  # leave the org as found


def test_open_risk_count_counts_every_open_flag_and_explain_reads_the_org(
    env: SandboxEnvironment, capsys: pytest.CaptureFixture[str]
) -> None:
    acct = account(env)
    env.org.insert(
        "Risk_Flag__c",
        {
            "Name": "Invoices 90+ days past due",
            "Sync_Key__c": f"receivables:{STORE}:past_due",
            "Rule__c": "receivables:past_due",
            "Severity__c": "Critical",
            "Status__c": "Open",
            "Account__c": acct["Id"],
        },
    )
    assert cli(env, "run-job", "risk_alerts", "--store", STORE) in (0, 1)
    open_flags = [
        f
        for f in env.org.records("Risk_Flag__c")
        if f.get("Account__c") == acct["Id"] and f.get("Status__c") in ("Open", "Snoozed")
    ]
    assert any(str(f["Rule__c"]).startswith("receivables:") for f in open_flags)
    assert account(env)["Open_Risk_Count__c"] == len(open_flags)

    capsys.readouterr()
    assert cli(env, "explain", STORE, "--json") == 0
    out = capsys.readouterr().out
    trace = json.loads(out)["result"]  # the --json envelope
    assert "Invoices 90+ days past due (Critical)" in trace["jobs"]["renewals"]["open_risks"]


def test_snapshots_from_to_backfills_every_day_of_the_range(
    env: SandboxEnvironment, capsys: pytest.CaptureFixture[str]
) -> None:
    today = env.portfolio.today - timedelta(days=1)  # complete days, whichever clock the CLI reads
    start = today - timedelta(days=6)
    assert cli(env, "run-job", "snapshots", "--store", STORE, "--from", str(start), "--to", str(today)) == 0
    days = {
        str(s["Snapshot_Date__c"])
        for s in env.org.records("Health_Snapshot__c")
        if str(s.get("Snapshot_Key__c", "")).startswith(f"{STORE}:")
    }
    wanted = {str(start + timedelta(days=i)) for i in range(7)}
    assert wanted <= days, sorted(wanted - days)
    before = writes(env)
    assert cli(env, "run-job", "snapshots", "--store", STORE, "--from", str(start), "--to", str(today)) == 0
    assert writes(env) == before  # the range again: nothing changed, nothing written
    capsys.readouterr()
    assert cli(env, "run-job", "snapshots", "--from", str(today), "--to", str(start)) == 2
    assert "ends" in capsys.readouterr().out
    assert cli(env, "run-job", "account_health", "--from", str(date(2026, 10, 1))) == 2


ARTEFACT = re.compile(r"\b(None|none|null|NaN|nan|undefined)\b")


def test_no_none_null_or_nan_in_any_text_the_jobs_write(env: SandboxEnvironment) -> None:
    """Every job on the menu-sync and category-drop stores, then every text field of every record the org
    holds: what a CSM reads is prose, never a Python None or a JSON null."""
    stores = ("--store", STORE, "--store", "AZ-001")
    for job in job_names()[1:]:
        assert cli(env, "run-job", job, *stores) in (0, 1), job
    seen = 0
    for sobject in ("Account", "Risk_Flag__c", "Task", "Case", "Health_Snapshot__c", "Onboarding_Milestone__c",
                    "Quarterly_Review__c"):  # fmt: skip
        for rec in env.org.records(sobject):
            for name, value in rec.items():
                if (
                    not isinstance(value, str)
                    or name == "Id"
                    or name.endswith("Id")
                    or name.endswith("_Data__c")
                ):
                    continue
                if value.lstrip().startswith(("{", "[")):
                    continue  # machine-readable JSON (Components__c), not prose
                prose = "\n".join(line for line in value.splitlines() if not line.startswith("Values: "))
                seen += 1
                assert not ARTEFACT.search(prose), f"{sobject}.{name} of {rec.get('Id')}: {prose!r}"
    assert seen > 200
    # the planted stories, as a CSM reads them: the Case in the engineering queue and named by the Task,
    # the edibles drop naming the items shoppers cannot buy
    (case,) = env.org.records("Case")
    queue = next(g for g in env.org.records("Group") if g.get("DeveloperName") == "Menu_Engineering")
    assert case["OwnerId"] == queue["Id"] and str(case["Sync_Key__c"]).startswith(f"risk:{STORE}:menu_sync:")
    (task,) = [t for t in env.org.records("Task") if t.get("Sync_Key__c") == case["Sync_Key__c"]]
    assert f'Engineering has the Case "{case["Subject"]}" (key {case["Sync_Key__c"]})' in task["Description"]
    (drop,) = [f for f in env.org.records("Risk_Flag__c") if f.get("Rule__c") == "category_drop"]
    affected = next(x for x in str(drop["Evidence__c"]).splitlines() if x.startswith("Affected items: "))
    assert re.search(r"\((hidden|out of stock|broken image)", affected), affected
