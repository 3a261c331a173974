"""What `csm-sync status` reports, read from the state store as plain data (rendered by worker.render).

The board: recent runs, data freshness per source, the outbox, records Salesforce rejected. One run
(`--run`): its ledger row and every record it could not land, with Salesforce's error per row, the
way reverse-ETL tools show a sync's rejected rows (exportable as CSV).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from state import status as state_status
from state.engine import Engine
from state.tables import Freshness, OutboxEntry, RunRecord
from worker.metrics import status_lines

REJECTED_COLUMNS = ("kind", "object", "key", "op", "status", "attempts", "error_code", "error")


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _iso(t: datetime | None) -> str | None:
    return _aware(t).isoformat(timespec="seconds") if t is not None else None


def run_data(r: RunRecord) -> dict[str, Any]:
    secs = (_aware(r.finished_at) - _aware(r.started_at)).total_seconds() if r.finished_at else None
    return {
        "run_id": r.id,
        "job": r.job,
        "started_at": _iso(r.started_at),
        "finished_at": _iso(r.finished_at),
        "seconds": round(secs, 1) if secs is not None else None,
        "status": r.status,
        "exit_code": r.exit_code,
        "counts": r.counts,
        "api_calls": r.api_calls,
        "error": r.error,
        "host": r.host,
    }


def _error_code(error: str) -> str:
    """Salesforce's status code from an outbox error ("FIELD_CUSTOM_VALIDATION_EXCEPTION: …")."""
    head, sep, _ = error.partition(":")
    return head.strip() if sep and head.strip().replace("_", "").isalnum() and head.isupper() else ""


def rejected_data(e: OutboxEntry) -> dict[str, Any]:
    return {
        "kind": "salesforce",
        "object": e.sobject,
        "key": e.key,
        "op": e.op,
        "status": e.status,
        "attempts": e.attempts,
        "error_code": _error_code(e.error),
        "error": e.error,
        "run_id": e.run_id,
    }


def board(
    engine: Engine, now: datetime, stale_hours: float = 24.0, job: str | None = None, limit: int = 15
) -> dict[str, Any]:
    """The status board as data: what `status` prints, and what `status --json` returns."""
    found = state_status.board(engine, job, limit)
    runs, dead = found.runs, found.rejected
    by_source: dict[str, list[Freshness]] = {}
    for f in found.freshness:
        by_source.setdefault(f.source, []).append(f)
    sources = []
    for source, rows in sorted(by_source.items()):
        newest = max((_aware(r.newest_data_at) for r in rows if r.newest_data_at), default=None)
        success = max((_aware(r.last_success_at) for r in rows if r.last_success_at), default=None)
        stale = sum(
            1
            for r in rows
            if r.newest_data_at is None
            or (now - _aware(r.newest_data_at)).total_seconds() > stale_hours * 3600
        )
        sources.append(
            {
                "source": source,
                "stores": len(rows),
                "stale": stale,
                "errors": sum(1 for r in rows if r.last_error),
                "newest_data_at": _iso(newest),
                "last_success_at": _iso(success),
            }
        )
    latest: dict[str, RunRecord] = {}
    for r in runs:
        latest.setdefault(r.job, r)
    return {
        "runs": [run_data(r) for r in runs],
        # rule actions the latest run of each job could not carry out (e.g. a missing queue)
        "run_warnings": [
            {"job": r.job, "run_id": r.id, "warning": str(w)}
            for r in latest.values()
            for w in (r.counts or {}).get("warnings", ())
        ],
        "freshness": sources,
        "stale_hours": stale_hours,
        "outbox": found.outbox,
        "cursors": found.cursors,
        "quarantined": found.quarantined,
        "notes": status_lines(engine, now, stale_hours),
        "rejected": [rejected_data(d) for d in dead],
    }


def run_detail(engine: Engine, run_id: str) -> dict[str, Any] | None:
    """One run: its ledger row and every record it could not land (None when there is no such run).

    Rejected records are the outbox rows the run enqueued that Salesforce refused (still failed, or
    dead after max_attempts) and, for a pull, the source records quarantined with their reason.
    """
    rows = state_status.run_rows(engine, run_id)
    if rows is None:
        return None
    run, entries, quarantine = rows.run, rows.rejected, rows.quarantined
    rejected = [rejected_data(e) for e in entries]
    rejected += [
        {
            "kind": "source",
            "object": f"{q.source}/{q.stream}",
            "key": q.store_id,
            "op": "pull",
            "status": "quarantined",
            "attempts": 1,
            "error_code": "",
            "error": q.reason,
            "run_id": q.run_id,
        }
        for q in quarantine
    ]
    return {"run": run_data(run), "rejected": rejected}


def rejected_csv(rows: Sequence[dict[str, Any]]) -> str:
    """Rejected records as CSV (a header row, then one row per record), for a spreadsheet or a ticket."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=REJECTED_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
