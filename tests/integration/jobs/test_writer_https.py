"""The writer over HTTPS with JWT login: pinned CA trust, and the run ledger through the runner."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import certifi
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from connectors.salesforce.client import SalesforceUnavailable
from jobs import ledger
from jobs.sync import run_job
from sandbox.salesforce import INTEGRATION_USERNAME
from sandbox.salesforce.jwt_keys import make_jwt_keys
from state.tables import OutboxEntry, RunRecord
from tests.integration.org_fixtures import (
    CONSUMER_KEY,
    NOW,
    ServedOrg,
    SyntheticJob,
    client_for,
    job_options,
    jwt_client,
    seed_stores,
    snapshot,
    sync,
)
from worker.app import App
from worker.runner import ExitCode, Outcome, execute
from worker.settings import Settings

pytestmark = pytest.mark.integration


def test_jwt_login_over_https_and_a_full_sync(engine: Engine, served_org: ServedOrg) -> None:
    seed_stores(engine, served_org.org, 40)
    client = served_org.client()
    result = sync(engine, client, SyntheticJob())
    assert not result.partial and client.logins == 1
    assert snapshot(served_org.org)["counts"] == {"Account": 40, "Risk_Flag__c": 40, "Task": 40}


def test_the_configured_ca_bundle_wins_over_requests_ca_bundle(
    served_org: ServedOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    # certifi's bundle does not know the sandbox CA: if the environment won, verification would fail.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    monkeypatch.setenv("CURL_CA_BUNDLE", certifi.where())
    client = served_org.client()
    assert list(client.query("SELECT Id FROM Account")) == []


def test_verification_stays_on_with_a_wrong_ca(served_org: ServedOrg) -> None:
    client = jwt_client(served_org.url, certifi.where(), served_org.keys.private_key_pem)
    with pytest.raises(SalesforceUnavailable):
        list(client.query("SELECT Id FROM Account"))


def test_a_rejected_jwt_is_a_login_failure_not_a_retry(served_org: ServedOrg, tmp_path: Path) -> None:
    stranger = make_jwt_keys()
    client = jwt_client(served_org.url, served_org.ca_path, stranger.private_key_pem)
    with pytest.raises(SalesforceUnavailable, match="invalid_grant"):
        client.connect()
    assert served_org.org.stats.snapshot()["login"] == 1


# -- the run ledger ----------------------------------------------------------------------------------
def app_for(served: ServedOrg, tmp_path: Path, **salesforce: Any) -> App:
    raw = {
        "state": {"url": f"sqlite:///{tmp_path / 'app.db'}"},
        "salesforce": {
            "login_url": served.url,
            "auth": "jwt",
            "client_id": CONSUMER_KEY,
            "username": INTEGRATION_USERNAME,
            "private_key": served.keys.private_key_pem,  # as private_key_file would resolve it
            "ca_bundle": str(served.ca_path),
            "write_sync_runs": True,
            **salesforce,
        },
        "metrics": {"port": 0},
    }
    return App(Settings.model_validate(raw), environ={}, clock=lambda: datetime.now(UTC))


def body_for(app: App, job: SyntheticJob) -> Any:
    def body(run_id: str) -> Outcome:
        org = app.org()
        result = run_job(app.engine, org, job, run_id, NOW, job_options())
        return Outcome(counts=result.data, partial=result.partial, api_calls=org.usage.calls,
                       api_used=org.usage.used, api_max=org.usage.max, summary=result, org=org)  # fmt: skip

    return body


def test_every_run_is_recorded_locally_and_as_a_sync_run(served_org: ServedOrg, tmp_path: Path) -> None:
    app = app_for(served_org, tmp_path)
    seed_stores(app.engine, served_org.org, 25)
    run = execute(app, "synthetic", body_for(app, SyntheticJob()))
    assert run.exit_code == ExitCode.OK
    with Session(app.engine) as s:
        rec = s.get(RunRecord, run.run_id)
    assert rec is not None and rec.finished_at is not None and rec.api_calls > 0 and rec.api_max == 100_000
    assert ledger.totals(rec.counts) == {"creates": 50, "updates": 25, "closes": 0, "errors": 0}
    assert ledger.duration(rec) is not None
    (sync_run,) = served_org.org.records("Sync_Run__c")
    assert sync_run["Run_Key__c"] == run.run_id
    assert (sync_run["Job__c"], sync_run["Status__c"]) == ("synthetic", "OK")
    assert (sync_run["Creates__c"], sync_run["Updates__c"], sync_run["Closes__c"], sync_run["Errors__c"]) == (
        50,
        25,
        0,
        0,
    )
    assert sync_run["Api_Calls__c"] == rec.api_calls and sync_run["Finished_At__c"] is not None
    assert run.run_id in sync_run["Detail__c"]


def test_a_run_its_budget_stopped_is_still_recorded(served_org: ServedOrg, tmp_path: Path) -> None:
    app = app_for(served_org, tmp_path, api_budget_calls=6)  # 5 reads, then 1 of 3 writes
    seed_stores(app.engine, served_org.org, 25)
    run = execute(app, "synthetic", body_for(app, SyntheticJob()))
    assert run.exit_code == ExitCode.PARTIAL
    (sync_run,) = served_org.org.records("Sync_Run__c")
    assert sync_run["Status__c"] == "Partial"


def test_a_ledger_write_salesforce_refuses_waits_in_the_outbox_for_the_next_run(
    served_org: ServedOrg, engine: Engine
) -> None:
    org = served_org.org
    seed_stores(engine, org, 5)
    with Session(engine) as s:
        s.add(RunRecord(id="run-1", job="synthetic", started_at=NOW, finished_at=NOW, status="ok", exit_code=0,
                        counts={"applied": {"created": 3}}, api_calls=7))  # fmt: skip
        s.commit()
    org.set_api_usage(org.api_limit)
    report = ledger.publish(engine, served_org.client(), "run-1", NOW)
    assert report is not None and report.stopped and report.queued == 1
    assert org.records("Sync_Run__c") == []
    org.set_api_usage(0)
    nxt = run_job(engine, client_for(org), SyntheticJob(), "run-2", NOW, job_options())
    assert nxt.resumed is not None and nxt.resumed.created == 1
    (sync_run,) = org.records("Sync_Run__c")
    assert (sync_run["Run_Key__c"], sync_run["Creates__c"], sync_run["Api_Calls__c"]) == ("run-1", 3, 7)
    with Session(engine) as s:
        rows = s.exec(select(OutboxEntry).where(OutboxEntry.sobject == "Sync_Run__c")).all()
    assert [r.status for r in rows] == ["sent"]


def test_publish_never_raises(engine: Engine, served_org: ServedOrg) -> None:
    with Session(engine) as s:
        s.add(RunRecord(id="run-x", job="synthetic", started_at=NOW, status="failed"))
        s.commit()
    served_org.server.stop()
    client = jwt_client(served_org.url, served_org.ca_path, served_org.keys.private_key_pem)
    assert ledger.publish(engine, client, "run-x", NOW) is None
    assert ledger.publish(engine, client, "no-such-run", NOW) is None
