"""The run ledger in Salesforce: each finished run upserted as a Sync_Run__c keyed by its run id."""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors import redact
from jobs.apply import ApplyOptions, ApplyReport, Writer, enqueue, send
from jobs.plan import Create, Plan
from state import runs
from state.engine import Engine
from state.tables import RunRecord

log = structlog.get_logger(__name__)

SYNC_RUN = "Sync_Run__c"
RUN_KEY = "Run_Key__c"
DETAIL_LENGTH = 32_768
# RunRecord.status -> the Sync_Run__c Status__c picklist (Running, OK, Partial, Failed, Stopped).
_STATUS = {
    "running": "Running",
    "ok": "OK",
    "partial": "Partial",
    "stopped": "Stopped",
    "busy": "Stopped",
    "refused": "Stopped",
}


def totals(counts: Mapping[str, Any]) -> dict[str, int]:
    """Records created, updated and closed and record errors, over the run's resume and its own apply."""
    out = {"creates": 0, "updates": 0, "closes": 0, "errors": 0}
    parts = [counts.get("applied"), counts.get("resumed")]
    if not any(isinstance(p, Mapping) for p in parts) and "created" in counts:
        parts = [counts]
    for part in parts:
        if isinstance(part, Mapping):
            out["creates"] += int(part.get("created") or 0)
            out["updates"] += int(part.get("updated") or 0)
            out["closes"] += int(part.get("closed") or 0)
            out["errors"] += int(part.get("failed") or 0)
    return out


def sync_run_fields(run: RunRecord) -> dict[str, Any]:
    """The Sync_Run__c fields of a run: what it wrote, its API calls and its outcome."""
    t = totals(run.counts)
    detail = json.dumps(
        redact.value(
            {
                "run_id": run.id,
                "host": run.host,
                "exit_code": run.exit_code,
                "duration_seconds": duration(run),
                "api_used": run.api_used,
                "api_max": run.api_max,
                "error": run.error[:2000],
                "counts": run.counts,
            }
        ),
        default=str,
        sort_keys=True,
    )
    return {
        "Name": f"{run.job} {_aware(run.started_at):%Y-%m-%d %H:%M:%S}"[:80],
        "Job__c": run.job[:40],
        "Status__c": _STATUS.get(run.status, "Failed"),
        "Started_At__c": _aware(run.started_at).isoformat(timespec="seconds"),
        "Finished_At__c": _aware(run.finished_at).isoformat(timespec="seconds") if run.finished_at else None,
        "Creates__c": t["creates"],
        "Updates__c": t["updates"],
        "Closes__c": t["closes"],
        "Errors__c": t["errors"],
        "Api_Calls__c": run.api_calls,
        "Detail__c": detail[:DETAIL_LENGTH],
    }


def duration(run: RunRecord) -> float | None:
    if run.finished_at is None:
        return None
    return round((_aware(run.finished_at) - _aware(run.started_at)).total_seconds(), 3)


def publish(
    engine: Engine, writer: Writer, run_id: str, now: datetime, opts: ApplyOptions | None = None
) -> ApplyReport | None:
    """Upsert the run's Sync_Run__c through the outbox; never raises.

    The write is one Collections call outside the run's budget, so a run its budget stopped is
    still recorded. If Salesforce refuses or cannot be reached, the row stays queued in the outbox
    and the job's next run resumes it: the ledger is written exactly once, late rather than never.
    """
    opts = opts or ApplyOptions()
    run = runs.get(engine, run_id)
    if run is None:
        log.warning("sync_run_not_recorded", run_id=run_id, error="no such run")
        return None
    fields = sync_run_fields(run)
    job = run.job
    plan = Plan((Create(SYNC_RUN, RUN_KEY, run_id, fields, reason="run ledger"),))
    try:
        queued = enqueue(engine, plan, run_id, job, now, opts)
        with _unbudgeted(writer):
            report = send(engine, writer, queued.ids, now, opts)
    except Exception as exc:  # the ledger must never turn a run's outcome into a crash
        log.warning("sync_run_not_recorded", run_id=run_id, error=f"{type(exc).__name__}: {exc}"[:500])
        return None
    if report.sent:
        log.info("sync_run_recorded", run_id=run_id)
    else:
        log.warning("sync_run_not_recorded", run_id=run_id, error=report.stopped or str(report.errors)[:500])
    return report


def _unbudgeted(writer: Writer) -> AbstractContextManager[None]:
    """The writer's `unbudgeted()` (SalesforceClient has one), else nothing."""
    method = getattr(writer, "unbudgeted", None)
    if method is None:
        return nullcontext()
    manager: AbstractContextManager[None] = method()
    return manager


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)
