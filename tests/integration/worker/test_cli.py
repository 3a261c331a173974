"""The command line end to end on the sandbox over HTTPS: exit codes, no-op reruns, errors, secrets."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import func
from sqlmodel import Session, select

import mappings
from jobs.names import RUN_ORDER
from sandbox.environment import SandboxEnvironment
from state.engine import make_engine
from state.migrations import init_schema
from state.tables import OutboxEntry, RunRecord
from worker import commands
from worker.cli import main
from worker.logging import configure
from worker.output import Output

pytestmark = pytest.mark.integration

STORE = "NV-001"
CSM_SYNC = Path(sys.executable).parent / "csm-sync"  # the installed entry point, as an operator runs it
WRITES = ("collections", "sobject", "composite", "bulk_create", "bulk_upload", "bulk_close")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxEnvironment]:
    with SandboxEnvironment.start(tmp_path_factory.mktemp("cli"), orders_per_day=20) as e:
        yield e


@pytest.fixture()
def logs() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure("info", "json", out)
    yield out
    structlog.reset_defaults()


def writes(env: SandboxEnvironment) -> int:
    calls = env.org.stats.snapshot()
    return sum(calls.get(k, 0) for k in WRITES)


def cli(env: SandboxEnvironment, *args: str, config: Path | None = None) -> int:
    return main(["--config", str(config or env.config_path), *args])


def run(
    env: SandboxEnvironment, *args: str, config: Path | None = None, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`csm-sync --config … ARGS` in a subprocess, stdout and stderr piped (off a terminal)."""
    import os  # noqa: PLC0415

    return subprocess.run(
        [str(CSM_SYNC), "--config", str(config or env.config_path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(extra_env or {})},
        check=False,
    )


def envelope(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON envelope on stdout: the whole of stdout parses, whatever was logged."""
    data: dict[str, Any] = json.load(io.StringIO(proc.stdout))
    assert set(data) == {"command", "exit_code", "status", "result", "warnings", "errors"}
    assert data["exit_code"] == proc.returncode
    return data


def log_events(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """stderr off a terminal: one JSON log event per line."""
    return [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]


def test_pull_then_health_then_a_free_rerun(env: SandboxEnvironment, logs: io.StringIO) -> None:
    assert cli(env, "validate") == 0
    assert cli(env, "run-job", "pull", "--store", STORE) == 0
    before = writes(env)
    assert cli(env, "run-job", "account_health", "--store", STORE) == 0
    account = next(a for a in env.org.records("Account") if a.get("Store_Id__c") == STORE)
    assert account["Health_Score__c"] is not None and account["Health_Band__c"] in ("Green", "Yellow", "Red")
    assert account["Online_Orders_7d__c"] is not None
    assert writes(env) > before

    before = writes(env)
    assert cli(env, "run-job", "account_health", "--store", STORE) == 0
    assert writes(env) == before, "a rerun with nothing changed must make zero write calls"

    # Someone overwrites one KPI in Salesforce: the next run restores exactly that field.
    env.org.update("Account", account["Id"], {"Online_Orders_7d__c": 1})
    app = commands.load_app(env.config_path)
    o = Output("plan", True, io.StringIO())
    assert commands.plan(app, o, "account_health", stores=[STORE]) == 0
    plan = o.result
    (change,) = plan["changes"]
    assert change["op"] == "update"
    assert set(change["fields"]) == {"Online_Orders_7d__c", "Health_Updated_At__c"}


def test_bad_mapping_file_exits_2_and_writes_nothing(env: SandboxEnvironment, tmp_path: Path) -> None:
    broken = tmp_path / "mappings"
    shutil.copytree(
        Path(mappings.__file__).parent, broken, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    text = (broken / "risk_rules.toml").read_text()
    (broken / "risk_rules.toml").write_text(text.replace('priority = "High"', 'priority = "Urgent"', 1))
    config = tmp_path / "config.toml"
    config.write_text(env.config_path.read_text().replace("[sync]", f'[sync]\nmappings_dir = "{broken}"', 1))
    before = writes(env)
    engine = make_engine(f"sqlite:///{env.workdir / 'csm-sync.db'}")
    init_schema(engine)  # as the worker does on start; this test may be the module's first to run
    with Session(engine) as s:
        outbox_before = s.exec(select(func.count()).select_from(OutboxEntry)).one()
    assert cli(env, "validate", "--offline", config=config) == 2
    assert cli(env, "run-job", "risk_alerts", config=config) == 2
    assert writes(env) == before
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(OutboxEntry)).one() == outbox_before
        last = s.exec(select(RunRecord).where(RunRecord.job == "risk_alerts")).all()[-1]
    assert last.exit_code == 2 and "risk_rules.toml" in last.error and "Urgent" in last.error


def test_bad_config_exits_2_naming_file_and_key(
    env: SandboxEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        env.config_path.read_text().replace("[salesforce]", "[salesforce]\ntimeout_secs = 3", 1)
    )
    assert cli(env, "status", config=config) == 2
    out = capsys.readouterr().out
    assert f'{config}: salesforce: unknown key "timeout_secs" — did you mean "timeout_seconds"?' in out.replace("\n", "")


def test_secret_from_the_environment_never_reaches_the_logs(
    env: SandboxEnvironment, tmp_path: Path, logs: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = (env.workdir / "secrets" / "billing_api_key").read_text().strip()
    monkeypatch.setenv("CSM_SYNC_TEST_BILLING_KEY", secret)
    text = env.config_path.read_text().replace(
        f'key_file = "{env.workdir / "secrets" / "billing_api_key"}"', 'key_env = "CSM_SYNC_TEST_BILLING_KEY"'
    )
    assert "CSM_SYNC_TEST_BILLING_KEY" in text
    config = tmp_path / "config.toml"
    config.write_text(text)
    proc = run(
        env, "run-job", "pull", "--store", "IL-002", config=config,
        extra_env={"CSM_SYNC_TEST_BILLING_KEY": secret},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "run_finished" in [e["event"] for e in log_events(proc)]
    # Whatever echoes it later (a library's error text, a header dump) is redacted too.
    commands.load_app(config)  # registers the config's secrets with the redactor, as every command does
    configure("info", "json", logs)
    structlog.get_logger("test").error("source_error", detail=f"X-Api-Key: {secret} refused")
    captured = logs.getvalue() + proc.stdout + proc.stderr
    assert "X-Api-Key: *** refused" in captured
    assert secret not in captured
    key_pem = (env.workdir / "secrets" / "salesforce_jwt_key.pem").read_text()
    assert key_pem.splitlines()[1] not in captured


def test_explain_counts_a_treez_store_pos_feed_as_pos(env: SandboxEnvironment) -> None:
    store = "AZ-001"  # a Treez store: its POS source is `treez`, with freshness_as = "pos"
    assert cli(env, "run-job", "pull", "--store", store) == 0
    out = io.StringIO()
    app = commands.load_app(env.config_path)
    assert commands.explain(app, Output("explain", False, out), store) == 0
    text = out.getvalue()
    assert "data stale (pos)" not in text
    assert "feed_stale/pos: CLEAR" in text


def test_qbr_pack_on_demand_writes_the_pdf_and_uploads_only_changed_figures(
    env: SandboxEnvironment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(env, "run-job", "pull", "--store", STORE) == 0
    today = env.portfolio.today
    last = (today.year, (today.month - 1) // 3) if today.month > 3 else (today.year - 1, 4)
    quarter, title = f"{last[0]}Q{last[1]}", f"QBR pack {STORE} {last[0]}-Q{last[1]}"
    out = tmp_path / "pack.pdf"
    capsys.readouterr()
    assert cli(env, "qbr-pack", STORE, "--quarter", quarter, "--out", str(out)) == 0
    said = capsys.readouterr().out
    assert out.read_bytes().startswith(b"%PDF-") and f"Wrote {out}" in said
    assert "Uploaded version 1 of File" in said and " days" in said  # the coverage is stated
    versions = [v for v in env.org.records("ContentVersion") if v.get("Title") == title]
    assert len(versions) == 1 and versions[0]["ContentSize"] == out.stat().st_size
    before = writes(env)
    assert cli(env, "qbr-pack", STORE, "--quarter", quarter) == 0
    assert "Unchanged: version 1" in capsys.readouterr().out and writes(env) == before
    assert cli(env, "qbr-pack", STORE, "--quarter", "2026-13") == 2
    assert cli(env, "qbr-pack", "XX-999", "--quarter", quarter) == 2
    assert "no Salesforce Account" in capsys.readouterr().out


def test_plan_json_is_one_envelope_on_stdout_and_logs_are_json_on_stderr(env: SandboxEnvironment) -> None:
    assert cli(env, "run-job", "pull", "--store", STORE) == 0
    proc = run(env, "plan", "account_health", "--json", "--store", STORE)
    data = envelope(proc)
    assert proc.returncode == 0 and data["command"] == "plan" and data["status"] == "ok"
    result = data["result"]
    assert result["job"] == "account_health" and set(result["counts"]) == {"create", "update", "close"}
    assert result["safety"]["would_refuse"] is False and "change_share" in result["safety"]
    assert "plan_ready" in [e["event"] for e in log_events(proc)]  # [logging] format auto: JSON off a TTY

    # --detailed-exitcode: 2 while there are changes, 0 once the org is in step.
    assert cli(env, "run-job", "account_health", "--store", STORE) == 0
    assert run(env, "plan", "account_health", "--store", STORE, "--detailed-exitcode").returncode == 0
    account = next(a for a in env.org.records("Account") if a.get("Store_Id__c") == STORE)
    env.org.update("Account", account["Id"], {"Online_Orders_7d__c": 1})
    proc = run(env, "plan", "account_health", "--store", STORE, "--detailed-exitcode", "--json")
    assert proc.returncode == 2 and envelope(proc)["status"] == "changes"
    text = run(env, "plan", "account_health", "--store", STORE).stdout
    assert "Online_Orders_7d__c" in text and "…" not in text.split("Plan for")[0]  # whole lines off a TTY


def test_logging_format_from_the_config(env: SandboxEnvironment, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(env.config_path.read_text().replace('format = "auto"', 'format = "console"'))
    proc = run(env, "plan", "account_health", "--store", STORE, config=config)
    assert proc.returncode == 0 and "plan_ready" in proc.stderr and "plan_ready" not in proc.stdout
    assert not any(line.startswith("{") for line in proc.stderr.splitlines())  # console lines, not JSON


def test_status_json_and_a_runs_quarantined_records_as_csv(env: SandboxEnvironment) -> None:
    store = "NV-004"  # a Dutchie store no other test here pulls
    env.sources.set_faults("dutchie", malformed_stores=[store])
    try:
        since = (
            env.portfolio.today - timedelta(days=3)
        ).isoformat()  # a short pull: this test is about status
        proc = run(env, "run-job", "pull", "--store", store, "--since", since, "--json")
    finally:
        env.sources.reset_faults()
    pulled = envelope(proc)
    run_id = pulled["result"]["run_id"]
    assert pulled["result"]["counts"]["rejected"] > 0

    board = envelope(run(env, "status", "--json", "--job", "pull"))["result"]
    assert board["runs"][0]["run_id"] == run_id and all(r["job"] == "pull" for r in board["runs"])
    assert {"freshness", "outbox", "rejected", "notes"} <= set(board)

    detail = envelope(run(env, "status", "--job", "pull", "--run", run_id, "--json"))["result"]
    assert detail["run"]["run_id"] == run_id
    rows = detail["rejected"]
    assert len(rows) == pulled["result"]["counts"]["rejected"]
    assert all(r["kind"] == "source" and r["key"] == store and r["error"] for r in rows)

    exported = run(env, "status", "--run", run_id, "--csv")
    table = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["error"] for r in table] == [r["error"] for r in rows]

    missing = run(env, "status", "--run", "nope", "--json")
    assert missing.returncode == 2 and "no run 'nope'" in envelope(missing)["errors"][0]


def test_validate_reports_config_and_mapping_problems_at_once(
    env: SandboxEnvironment, tmp_path: Path
) -> None:
    broken = tmp_path / "mappings"
    shutil.copytree(
        Path(mappings.__file__).parent, broken, ignore=shutil.ignore_patterns("*.py", "__pycache__")
    )
    text = (broken / "risk_rules.toml").read_text()
    (broken / "risk_rules.toml").write_text(text.replace('priority = "High"', 'priority = "Urgent"', 1))
    config = tmp_path / "config.toml"
    config.write_text(
        env.config_path.read_text()
        .replace("[sync]", f'[sync]\nmappings_dir = "{broken}"', 1)
        .replace("[salesforce]", '[salesforce]\nwrite_sync_runs = "no"', 1)
        + '\n[jobs.pull]\nschedule = "every 15 minutes"\n'
    )
    proc = run(env, "validate", "--json", config=config)
    data = envelope(proc)
    assert proc.returncode == 2 and data["status"] == "config"
    found = "\n".join(data["errors"])
    assert 'salesforce.write_sync_runs: expected true or false, got "no" — write true or false, without quotes' in found
    assert 'jobs.pull.schedule: "every 15 minutes" is not a cron expression' in found
    assert "risk_rules.toml" in found and "Urgent" in found
    human = run(env, "validate", config=config)
    assert human.returncode == 2 and "3 problem(s); nothing was written." in human.stdout


def test_validate_offline_needs_no_secret(env: SandboxEnvironment, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    key = env.workdir / "secrets" / "salesforce_jwt_key.pem"
    config.write_text(
        env.config_path.read_text().replace(
            f'private_key_file = "{key}"', 'private_key_env = "CSM_SYNC_UNSET_KEY"'
        )
    )
    assert "CSM_SYNC_UNSET_KEY" in config.read_text()
    offline = run(env, "validate", "--offline", config=config)
    assert offline.returncode == 0 and offline.stdout.startswith("OK:"), offline.stdout
    online = envelope(run(env, "validate", "--json", config=config))
    assert online["exit_code"] == 2 and "CSM_SYNC_UNSET_KEY is not set" in online["errors"][0]


def test_messages_for_wrong_arguments(env: SandboxEnvironment) -> None:
    pull = run(env, "plan", "pull")
    assert (
        pull.returncode == 2 and "pull has no plan" in pull.stdout and "valid jobs: pull" not in pull.stdout
    )
    nope = envelope(run(env, "explain", "NOPE-1", "--json"))
    assert nope["exit_code"] == 2
    assert nope["errors"][0].startswith(
        "store 'NOPE-1' has no Salesforce Account with Store_Id__c = 'NOPE-1'"
    )
    version = subprocess.run([str(CSM_SYNC), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("csm-sync ") and version.stdout.split()[1][0].isdigit()
    helped = subprocess.run([str(CSM_SYNC), "plan", "--help"], capture_output=True, text=True, check=True)
    assert "one of: " + ", ".join(j for j in RUN_ORDER if j not in ("pull", "qbr_pack", "digest")) in " ".join(
        helped.stdout.split()
    )
    assert "--detailed-exitcode" in helped.stdout
