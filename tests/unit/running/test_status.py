"""`status --run`: one run's record and every record Salesforce rejected in it, with the error per row."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from jobs.store import OutboxEntry, Quarantine, RunRecord
from worker.app import App
from worker.output import Output
from worker.status import board, rejected_csv, run_detail

from .conftest import Clock

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def seed(app: App) -> None:
    with Session(app.engine) as s:
        s.add(RunRecord(id="r1", job="risk_alerts", started_at=NOW - timedelta(minutes=5), finished_at=NOW,
                        status="partial", exit_code=1, counts={"applied": {"created": 3, "failed": 2}}))  # fmt: skip
        s.add(RunRecord(id="r0", job="pull", started_at=NOW - timedelta(hours=1), finished_at=NOW,
                        status="ok", exit_code=0, counts={"records": 10, "rejected": 1}))  # fmt: skip
        rows = [
            ("Risk_Flag__c", "risk:NV-001:menu", "failed", 1,
             "FIELD_CUSTOM_VALIDATION_EXCEPTION: Evidence is required, when Status is Open"),
            ("Task", "task:AZ-001:drop", "dead", 5, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST: Priority: bad value"),
            ("Task", "task:CA-001:ok", "sent", 1, ""),
        ]  # fmt: skip
        for seq, (sobject, key, status, attempts, error) in enumerate(rows):
            s.add(OutboxEntry(run_id="r1", seq=seq, job="risk_alerts", sobject=sobject, key_field="Sync_Key__c",
                              key=key, op="create", status=status, attempts=attempts, error=error))  # fmt: skip
        s.add(OutboxEntry(run_id="other", seq=0, job="risk_alerts", sobject="Task", key_field="Sync_Key__c",
                          key="task:X", op="update", status="failed", attempts=1, error="UNKNOWN_EXCEPTION: x"))  # fmt: skip
        s.add(Quarantine(run_id="r0", source="pos", stream="orders", store_id="NV-004", payload={"id": 1},
                         reason="orders: total is not a number ('abc')"))  # fmt: skip
        s.commit()


def test_a_runs_rejected_records_with_salesforces_error_per_row(make_app: Callable[..., App]) -> None:
    app = make_app(Clock(NOW))
    seed(app)
    detail = run_detail(app.engine, "r1")
    assert detail is not None and detail["run"]["status"] == "partial" and detail["run"]["seconds"] == 300.0
    rows = detail["rejected"]
    assert [(r["object"], r["key"], r["status"], r["error_code"]) for r in rows] == [
        ("Risk_Flag__c", "risk:NV-001:menu", "failed", "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
        ("Task", "task:AZ-001:drop", "dead", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
    ]  # the sent row and another run's row are not this run's rejections
    table = list(csv.DictReader(io.StringIO(rejected_csv(rows))))
    assert table[0]["error"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION: Evidence is required, when Status is Open"
    assert table[1]["attempts"] == "5" and set(table[0]) == {
        "kind", "object", "key", "op", "status", "attempts", "error_code", "error"
    }  # fmt: skip
    pulled = run_detail(app.engine, "r0")
    assert pulled is not None
    (q,) = pulled["rejected"]
    assert q["kind"] == "source" and q["status"] == "quarantined" and "not a number" in q["error"]
    assert run_detail(app.engine, "nope") is None


def test_board_filters_by_job_and_status_command_renders_without_cutting(
    make_app: Callable[..., App],
) -> None:
    from worker import commands  # noqa: PLC0415

    app = make_app(Clock(NOW))
    seed(app)
    data = board(app.engine, NOW, job="pull")
    assert [r["run_id"] for r in data["runs"]] == ["r0"] and data["rejected"] == []
    stream = io.StringIO()
    out = Output("status", False, stream)
    assert commands.status(app, out, run="r1") == 0
    text = stream.getvalue()
    # off a terminal nothing is cut: the whole error, the whole key
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION: Evidence is required, when Status is Open" in text
    assert "…" not in text
    stream = io.StringIO()
    out = Output("status", False, stream)
    assert commands.status(app, out, run="r1", job="pull") == 2
    assert "no run 'r1' of job pull" in stream.getvalue()
    assert commands.status(app, Output("status", False, io.StringIO()), csv=True) == 2
