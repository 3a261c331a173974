"""What a command prints: one JSON envelope with --json, whole lines off a terminal."""

from __future__ import annotations

import io
import json

from rich.table import Table

from worker.output import Output


def test_json_mode_prints_one_envelope_and_nothing_else() -> None:
    stream = io.StringIO()
    out = Output("status", True, stream)
    out.print("a table a person would read")
    out.text("a line")
    out.warn("2 store(s) have no Salesforce Account")
    out.result = {"runs": [{"id": "r1"}], "when": object()}  # not JSON: shown as text, not a crash
    out.error("state store unreachable")
    assert out.finish(3) == 3
    (line,) = stream.getvalue().splitlines()
    data = json.loads(line)
    assert data["command"] == "status" and data["exit_code"] == 3 and data["status"] == "unavailable"
    assert data["warnings"] == ["2 store(s) have no Salesforce Account"]
    assert data["errors"] == ["state store unreachable"] and data["result"]["runs"] == [{"id": "r1"}]


def test_the_envelope_is_sent_once_even_when_a_command_sends_it_early() -> None:
    stream = io.StringIO()
    out = Output("demo", True, stream)
    out.result = {"sandbox": {"salesforce": "https://127.0.0.1:1"}}
    out.send_envelope(0)  # demo --serve: the result is known before it stops
    out.finish(0)
    assert len(stream.getvalue().splitlines()) == 1


def test_human_output_off_a_terminal_is_never_cut_or_wrapped() -> None:
    stream = io.StringIO()
    out = Output("plan", False, stream)
    long_key = "onboarding:" + "MSO-1-location-" * 12
    table = Table(title="Plan")
    for name in ("object", "key", "field"):
        table.add_column(name)
    table.add_row("Onboarding_Milestone__c", long_key, "Status__c")
    out.print(table)
    out.text("x" * 300)
    text = stream.getvalue()
    assert long_key in text and "Onboarding_Milestone__c" in text and "…" not in text
    assert "x" * 300 in text.splitlines()
    assert "\x1b[" not in text  # no colour codes in a pipe
    assert out.finish(0) == 0 and stream.getvalue() == text  # no envelope without --json
