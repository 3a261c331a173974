"""Run one job as a recorded run: run id in every log line, a ledger row, and a documented exit code."""

from __future__ import annotations

import socket
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import structlog

from connectors import redact
from connectors.salesforce.auth import SigningKeyError
from connectors.salesforce.client import LimitReached, SalesforceUnavailable
from jobs import ledger
from jobs.apply import Writer
from jobs.sync import SafetyRefused
from mappings.load import MappingError
from state import runs
from worker.app import App
from worker.settings import ConfigError, signing_key_problem

log = structlog.get_logger(__name__)


class ExitCode(IntEnum):
    OK = 0  # everything planned was written
    PARTIAL = 1  # finished, but some records or stores failed (kept for the next run) or a limit stopped it
    CONFIG = 2  # bad config or mapping file: nothing was written
    UNAVAILABLE = 3  # Salesforce could not be reached or refused the login: nothing lost, retry later
    REFUSED = 4  # the safety check refused a surprising plan: review it, rerun with --force
    BUSY = 5  # another run of the same job holds the lock


@dataclass
class Outcome:
    """What a job body reports: counts for the ledger and whether anything was left for next time."""

    counts: dict[str, Any] = field(default_factory=dict)
    partial: bool = False
    api_calls: int = 0
    api_used: int | None = None
    api_max: int | None = None
    summary: Any = None  # the job's own result, for the CLI to render
    org: Writer | None = None  # the Salesforce client the run used; the ledger write reuses it


@dataclass
class RunResult:
    run_id: str
    exit_code: ExitCode
    outcome: Outcome | None
    error: str = ""


def new_run_id() -> str:
    return uuid.uuid4().hex[:16]


def execute(app: App, job: str, body: Callable[[str], Outcome]) -> RunResult:
    """Run `body(run_id)` with the run recorded before and after, whatever happens inside."""
    run_id = new_run_id()
    started = app.clock()
    runs.start(app.engine, run_id, job, started, socket.gethostname())
    structlog.contextvars.bind_contextvars(run_id=run_id, job=job)
    outcome: Outcome | None = None
    error = ""
    try:
        log.info("run_started")
        outcome = body(run_id)
        code = ExitCode.PARTIAL if outcome.partial else ExitCode.OK
    except (ConfigError, MappingError) as exc:
        code, error = ExitCode.CONFIG, str(exc)
    except SigningKeyError as exc:
        code, error = ExitCode.CONFIG, signing_key_problem("salesforce.private_key", exc)
    except SafetyRefused as exc:
        code, error = ExitCode.REFUSED, str(exc)
    except SalesforceUnavailable as exc:
        code, error = ExitCode.UNAVAILABLE, str(exc)
    except LimitReached as exc:
        code, error = ExitCode.PARTIAL, str(exc)
    except Exception as exc:
        code, error = ExitCode.PARTIAL, f"{type(exc).__name__}: {exc}"
        log.error("run_crashed", error=error, traceback=traceback.format_exc())
    status = {
        ExitCode.OK: "ok",
        ExitCode.PARTIAL: "partial",
        ExitCode.REFUSED: "refused",
        ExitCode.BUSY: "busy",
    }.get(code, "failed")
    # The error is redacted as it is stored, like the log line below.
    runs.finish(
        app.engine,
        run_id,
        app.clock(),
        status,
        int(code),
        error,
        outcome.counts if outcome is not None else None,
        (outcome.api_calls, outcome.api_used, outcome.api_max) if outcome is not None else None,
    )
    log_fn = log.info if code == ExitCode.OK else log.warning
    log_fn("run_finished", status=status, exit_code=int(code), error=error[:500] or None)
    if app.settings.salesforce.write_sync_runs:
        # Never raises; if Salesforce refuses, the record waits in the outbox for the job's next run.
        writer = outcome.org if outcome is not None and outcome.org is not None else app.org()
        ledger.publish(app.engine, writer, run_id, app.clock(), app.job_options().apply)
    structlog.contextvars.unbind_contextvars("run_id", "job")
    return RunResult(run_id, code, outcome, redact.text(error))
