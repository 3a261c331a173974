"""The run ledger's rows: a run recorded before its body runs and finished after, whatever happens."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from state.tables import RunRecord

ERROR_LENGTH = 4000


def start(engine: Engine, run_id: str, job: str, started_at: datetime, host: str) -> None:
    """Record a run as `running` before its body starts, so a crash still leaves it in the ledger."""
    with Session(engine) as s:
        s.add(RunRecord(id=run_id, job=job, started_at=started_at, host=host))
        s.commit()


def get(engine: Engine, run_id: str) -> RunRecord | None:
    """One run's ledger row, detached from any session (None when there is no such run)."""
    with Session(engine, expire_on_commit=False) as s:
        return s.get(RunRecord, run_id)


def finish(
    engine: Engine,
    run_id: str,
    finished_at: datetime,
    status: str,
    exit_code: int,
    error: str,
    counts: Mapping[str, Any] | None = None,
    api: tuple[int, int | None, int | None] | None = None,
    *,
    only_if: Callable[[RunRecord], bool] | None = None,
) -> bool:
    """Write a run's outcome (error redacted as it is stored, `state/tables.py`); `api` is (calls,
    used, max). With `only_if`, a predicate on the current row, nothing is written unless it holds.
    Returns whether the row was written."""
    with Session(engine) as s:
        rec = s.get(RunRecord, run_id)
        if rec is None or (only_if is not None and not only_if(rec)):
            return False
        rec.finished_at = finished_at
        rec.status = status
        rec.exit_code = exit_code
        rec.error = error[:ERROR_LENGTH]
        if counts is not None:
            rec.counts = dict(counts)
        if api is not None:
            rec.api_calls, rec.api_used, rec.api_max = api
        s.add(rec)
        s.commit()
    return True


def mark_lost(engine: Engine, run_id: str, now: datetime, error: str) -> bool:
    """A run still `running` whose process died becomes `failed` with `error`; False if it was not running."""
    with Session(engine) as s:
        rec = s.get(RunRecord, run_id)
        if rec is None or rec.status != "running":
            return False
        rec.status = "failed"
        rec.finished_at = now
        rec.error = error
        s.add(rec)
        s.commit()
    return True
