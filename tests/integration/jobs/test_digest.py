"""The morning brief against the sandbox org over HTTPS and a real state store: what it sends, through
which channel, and that a CSM gets one a day however often (and on however many processes) it runs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from connectors import slack
from jobs import digest, digest_brief
from jobs.digest_brief import DigestFile
from sandbox.salesforce import Org
from sandbox.server import serve
from sandbox.slack import SlackWebhook
from sandbox.tls import TLSMaterial
from state import digest_sent
from tests.integration.org_fixtures import ServedOrg, state_engine

pytestmark = pytest.mark.integration

MAPPINGS = Path(__file__).resolve().parents[3] / "mappings"
DAY1 = date(2026, 6, 17)
NOW1 = datetime(2026, 6, 17, 7, 30, tzinfo=UTC)


def sf_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def seed(org: Org) -> dict[str, str]:
    """Two CSMs with books, one user with none; a day-old snapshot as the first brief's baseline."""
    maya = org.insert("User", {"FirstName": "Maya", "LastName": "Ortiz", "Username": "maya@csm.test",
                               "Email": "maya@csm.test", "Alias": "maya"})  # fmt: skip
    jon = org.insert("User", {"FirstName": "Jon", "LastName": "Lee", "Username": "jon@csm.test",
                              "Email": "jon@csm.test", "Alias": "jon"})  # fmt: skip
    org.insert("User", {"FirstName": "Idle", "LastName": "Csm", "Username": "idle@csm.test",
                        "Email": "idle@csm.test", "Alias": "idle"})  # fmt: skip
    ids = {"maya": maya, "jon": jon}
    rows = [("NV-001", maya, 42, "Red", 75, "Green"), ("NV-002", maya, 66, "Yellow", 70, "Green"),
            ("AZ-001", jon, 90, "Green", 88, "Green")]  # fmt: skip
    for store, csm, score, band, was, was_band in rows:
        aid = org.insert("Account", {"Name": f"Shop {store}", "Store_Id__c": store, "CSM__c": csm,
                                     "Health_Score__c": score, "Health_Band__c": band})  # fmt: skip
        ids[store] = aid
        org.insert("Health_Snapshot__c", {"Account__c": aid, "Snapshot_Date__c": str(DAY1 - timedelta(days=1)),
                                          "Score__c": was, "Band__c": was_band})  # fmt: skip
    org.insert("Risk_Flag__c", {"Account__c": ids["NV-001"], "Name": "Menu sync failure", "Status__c": "Open",
                                "Severity__c": "High", "Category__c": "Menu", "Sync_Key__c": "NV-001:menu",
                                "Opened_At__c": sf_time(NOW1 - timedelta(hours=2))})  # fmt: skip
    org.insert("Task", {"WhatId": ids["NV-001"], "OwnerId": maya, "Subject": "Call the GM", "Priority": "High",
                        "Status": "Not Started", "ActivityDate": str(DAY1)})  # fmt: skip
    org.insert("Onboarding_Milestone__c", {"Account__c": ids["NV-002"], "Name": "Menu live", "Sequence__c": 1,
                                           "Status__c": "In Progress", "State__c": "NV",
                                           "Due_Date__c": str(DAY1 - timedelta(days=3))})  # fmt: skip
    return ids


@pytest.fixture
def served(served_org: ServedOrg) -> ServedOrg:
    seed(served_org.org)
    return served_org


@pytest.fixture
def cfg() -> DigestFile:
    return digest_brief.load(MAPPINGS)


@pytest.fixture
def slack_hook(tls_material: TLSMaterial) -> Iterator[tuple[SlackWebhook, str]]:
    hook = SlackWebhook(seed=7)
    with serve(hook, tls_material) as server:
        yield hook, hook.url(server.url)


def send(served: ServedOrg, engine: Engine, cfg: DigestFile, now: datetime, **kw: Any) -> digest.DigestReport:
    return digest.run_digest(engine, served.client(), cfg, now, now.date(), "run-" + now.isoformat(), **kw)


def test_each_csm_gets_one_brief_a_day_with_what_changed(served: ServedOrg, engine: Engine, cfg: DigestFile) -> None:
    report = send(served, engine, cfg, NOW1)
    assert sorted(report.sent) == ["Jon Lee", "Maya Ortiz"] and not report.partial  # the idle user has no book
    emails = {e["to"][0]: e for e in served.org.messages.emails}
    assert set(emails) == {"maya@csm.test", "jon@csm.test"}
    maya = emails["maya@csm.test"]
    assert maya["subject"] == "Your book on 2026-06-17: 1 new Red, 1 score drops, 1 flags opened"
    body = maya["body"]
    assert "• Shop NV-001 (NV-001): 42, was Green 75. " in body  # baseline: yesterday's snapshot
    assert "• Shop NV-001 (NV-001): 75 → 42 (−33), Red" in body
    assert "NV-002" not in body.split("Score drops")[1].split("\n\n")[0]  # 70 → 66 is not a drop of 10
    assert "• Shop NV-001 (NV-001): Menu sync failure · High" in body
    assert "• Shop NV-002 (NV-002): Menu live, due 2026-06-14 (3 days late)" in body
    assert "• Call the GM · Shop NV-001 · High" in body
    assert "Nothing changed in your 1 accounts" in emails["jon@csm.test"]["body"]
    # The same day again, and again from a fresh process on the same state store: nothing is sent.
    queries = served.org.stats.snapshot()["query"]
    again = send(served, engine, cfg, NOW1 + timedelta(hours=3))
    assert served.org.stats.snapshot()["query"] - queries == 2  # the CSMs of the books, not the books
    restarted = send(served, state_engine(Path(str(engine.url.database))), cfg, NOW1 + timedelta(hours=5))
    assert again.sent == restarted.sent == [] and again.already_sent == restarted.already_sent == 2
    assert len(served.org.messages.emails) == 2


def test_the_next_brief_compares_with_what_the_last_one_saw(
    served: ServedOrg, engine: Engine, cfg: DigestFile
) -> None:
    send(served, engine, cfg, NOW1)
    org = served.org
    nv2 = next(a for a in org.records("Account") if a["Store_Id__c"] == "NV-002")
    nv1 = next(a for a in org.records("Account") if a["Store_Id__c"] == "NV-001")
    org.update("Account", nv2["Id"], {"Health_Score__c": 48, "Health_Band__c": "Red"})
    flag = next(f for f in org.records("Risk_Flag__c") if f["Account__c"] == nv1["Id"])
    org.update("Risk_Flag__c", flag["Id"], {"Status__c": "Resolved",
                                            "Resolved_At__c": sf_time(NOW1 + timedelta(hours=20))})  # fmt: skip
    report = send(served, engine, cfg, NOW1 + timedelta(days=1))
    assert sorted(report.sent) == ["Jon Lee", "Maya Ortiz"]
    (body,) = [e["body"] for e in served.org.messages.emails[2:] if e["to"] == ["maya@csm.test"]]
    assert "• Shop NV-002 (NV-002): 48, was Yellow 66. " in body  # yesterday's brief saw 66, Yellow
    assert "• Shop NV-002 (NV-002): 66 → 48 (−18), Red" in body
    assert "NV-001 (NV-001): 75" not in body  # yesterday's news is not repeated
    assert "Flags resolved (1)" in body and "Flags opened" not in body
    assert len(digest_sent.sent_on(engine, DAY1 + timedelta(days=1))) == 2


def test_chatter_and_a_slack_copy(
    served: ServedOrg, engine: Engine, cfg: DigestFile, slack_hook: tuple[SlackWebhook, str],
    tls_material: TLSMaterial, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    hook, url = slack_hook
    session = tls_material.client_session()
    report = send(served, engine, cfg.model_copy(update={"channel": "chatter"}), NOW1,
                  slack_post=lambda text: slack.post(url, text, session))  # fmt: skip
    assert len(report.sent) == 2 and served.org.messages.emails == []
    users = {u["Id"]: u["Name"] for u in served.org.records("User")}
    posts = served.org.messages.posts
    assert sorted(users[p["subject_id"]] for p in posts) == ["Jon Lee", "Maya Ortiz"]
    assert all(p["text"].startswith("Your book on 2026-06-17") for p in posts)
    assert sorted(m["text"].split("\n", 1)[0] for m in hook.messages) == sorted(
        f"*{p['text'].split(chr(10), 1)[0]}* ({users[p['subject_id']]})" for p in posts
    )
    rows = digest_sent.sent_on(engine, DAY1)
    assert {r.channel for r in rows} == {"chatter+slack"}
    assert all(hook.path not in str(r.model_dump()) for r in rows)  # the webhook URL is never stored


def test_a_refused_slack_copy_is_reported_and_the_brief_still_counts(
    served: ServedOrg, engine: Engine, cfg: DigestFile, slack_hook: tuple[SlackWebhook, str],
    tls_material: TLSMaterial,
) -> None:  # fmt: skip
    _, url = slack_hook
    session = tls_material.client_session()
    report = send(served, engine, cfg, NOW1, slack_post=lambda text: slack.post(url + "x", text, session))
    assert report.partial and sorted(report.slack_failed) == ["Jon Lee", "Maya Ortiz"]
    assert "HTTP 404" in report.slack_failed["Jon Lee"]
    assert len(served.org.messages.emails) == 2
    assert send(served, engine, cfg, NOW1 + timedelta(hours=1)).sent == []  # no second email for Slack's sake


def test_a_brief_salesforce_refused_is_retried_on_the_next_run(
    served: ServedOrg, engine: Engine, cfg: DigestFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = served.org
    maya = next(u for u in org.records("User") if u.get("Username") == "maya@csm.test")
    org.update("User", maya["Id"], {"Email": "   "})  # emailSimple refuses an empty address
    first = send(served, engine, cfg, NOW1)
    assert first.sent == ["Jon Lee"]
    assert first.no_email == ["Maya Ortiz"] or "Maya Ortiz" in first.failed
    org.update("User", maya["Id"], {"Email": "maya@csm.test"})
    second = send(served, engine, cfg, NOW1 + timedelta(hours=1))
    assert second.sent == ["Maya Ortiz"] and second.already_sent == 1
    assert [e["to"] for e in org.messages.emails] == [["jon@csm.test"], ["maya@csm.test"]]


def test_emailsimple_over_the_wire_refuses_a_missing_input(served: ServedOrg) -> None:
    client = served.client()
    results = client.invoke_action("emailSimple", [{"emailAddresses": "a@b.test", "emailSubject": "s"}])
    assert results[0]["isSuccess"] is False and results[0]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(Exception, match="NOT_FOUND"):
        client.invoke_action("noSuchAction", [{"x": 1}])
    assert served.org.messages.emails == []
