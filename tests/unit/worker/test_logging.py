"""Secrets never reach the logs: registered values and sensitive keys are redacted in every event."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import structlog

from worker.logging import configure, redact, register_secrets


@pytest.fixture(autouse=True)
def _restore_structlog() -> object:
    """These tests reconfigure structlog globally; later tests on the worker expect the defaults."""
    yield
    structlog.reset_defaults()


def test_registered_secret_is_redacted_everywhere_in_json_logs() -> None:
    out = io.StringIO()
    configure("info", "json", out)
    register_secrets(["sk-live-9f8e7d6c5b"])
    log = structlog.get_logger("t")
    log.info(
        "login_failed",
        error="token sk-live-9f8e7d6c5b was refused",
        nested={"detail": ["sk-live-9f8e7d6c5b"]},
    )
    log.info("headers", authorization="Bearer abc", client_secret="xyz", store="NV-001")
    text = out.getvalue()
    assert "sk-live-9f8e7d6c5b" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["error"] == "token *** was refused"
    assert lines[1]["authorization"] == "***" and lines[1]["client_secret"] == "***"
    assert lines[1]["store"] == "NV-001"


def test_console_format_on_request() -> None:
    out = io.StringIO()
    configure("info", "console", out)
    structlog.get_logger("t").info("pull_done", records=3)
    assert "pull_done" in out.getvalue() and "records=3" in out.getvalue()


def test_level_filters_debug() -> None:
    out = io.StringIO()
    configure("warning", "json", out)
    structlog.get_logger("t").info("quiet")
    structlog.get_logger("t").warning("loud")
    assert "quiet" not in out.getvalue() and "loud" in out.getvalue()


def test_every_command_logs_through_the_redaction_step(capsys: pytest.CaptureFixture[str]) -> None:
    configure("info", "json")  # what the CLI does first, for every command
    assert redact in structlog.get_config()["processors"]
    register_secrets(["cli-secret-4242"])
    structlog.get_logger("t").warning(
        "source_error", error="GET /x?token=unregistered failed: cli-secret-4242"
    )
    err = capsys.readouterr().err
    assert json.loads(err)["error"] == "GET /x?token=*** failed: ***"


def test_every_command_logs_as_the_config_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_app (every command but demo) applies [logging]: level and format, on stderr not stdout."""
    from worker.commands import load_app  # noqa: PLC0415

    config = tmp_path / "config.toml"
    base = (
        '[state]\nurl = "sqlite:///x.db"\n[salesforce]\nauth = "client_credentials"\nclient_id = "a"\n'
        'client_secret_env = "CSM_SYNC_TEST_SECRET"\n'
    )
    config.write_text(base + '[logging]\nlevel = "warning"\nformat = "json"\n')
    monkeypatch.setenv("CSM_SYNC_TEST_SECRET", "test-secret-value")
    load_app(config)
    log = structlog.get_logger("t")
    log.info("quiet_event")
    log.warning("loud_event", store="NV-001")
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert json.loads(line)["event"] == "loud_event"
    config.write_text(base + '[logging]\nlevel = "debug"\nformat = "console"\n')
    load_app(config)
    log.debug("chatty_event", n=1)
    err = capsys.readouterr().err
    assert "chatty_event" in err and not err.startswith("{")
