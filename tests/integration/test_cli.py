"""The command line end to end on the sandbox over HTTPS: exit codes, no-op reruns, errors, secrets."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from rich.console import Console
from sqlalchemy import func
from sqlmodel import Session, select

import mappings
from jobs.store import OutboxEntry, RunRecord, init_schema, make_engine
from sandbox.environment import SandboxEnvironment
from worker import commands
from worker.cli import main
from worker.logging import configure

pytestmark = pytest.mark.integration

STORE = "NV-001"
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
    out = io.StringIO()
    app = commands.load_app(env.config_path)
    assert (
        commands.plan(app, Console(file=out, width=200), "account_health", as_json=True, stores=[STORE]) == 0
    )
    plan = json.loads(out.getvalue())
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
    assert f"{config}: salesforce.timeout_secs: unknown key" in out.replace("\n", "")


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
    assert cli(env, "run-job", "pull", "--store", "IL-002", config=config) == 0
    # Whatever echoes it later (a library's error text, a header dump) is redacted too.
    structlog.get_logger("test").error("source_error", detail=f"X-Api-Key: {secret} refused")
    captured = logs.getvalue()
    assert "X-Api-Key: *** refused" in captured
    assert "run_finished" in captured
    assert secret not in captured
    key_pem = (env.workdir / "secrets" / "salesforce_jwt_key.pem").read_text()
    assert key_pem.splitlines()[1] not in captured


def test_explain_counts_a_treez_store_pos_feed_as_pos(env: SandboxEnvironment) -> None:
    store = "AZ-001"  # a Treez store: its POS source is `treez`, with freshness_as = "pos"
    assert cli(env, "run-job", "pull", "--store", store) == 0
    out = io.StringIO()
    app = commands.load_app(env.config_path)
    assert commands.explain(app, Console(file=out, width=200), store) == 0
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
