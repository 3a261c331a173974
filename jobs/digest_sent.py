"""What morning briefs were sent: the state that makes it one brief per CSM per day across runs and restarts.

All of the digest's SQL is here, so it moves with the rest of the state store as one piece.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select


class DigestSent(SQLModel, table=True):
    """One CSM's brief of one day: claimed (`sending`) before the send, then `sent` or `failed`.

    A claim whose send never reported back (the process died mid-call) stays `sending` and is not
    sent again: a brief is sent at most once a day; a known failure (`failed`) is retried next run.
    """

    __tablename__ = "digest_sent"
    csm_id: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    state: str = "sending"  # sending | sent | failed
    run_id: str = ""
    channel: str = ""  # email | chatter, plus +slack when it also went to Slack
    subject: str = ""
    claimed_at: datetime
    sent_at: datetime | None = None
    error: str = ""
    # What the brief saw of each account (Id → [score, band]): the next brief's baseline.
    seen: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


def last_sent(engine: Engine, csm_id: str) -> DigestSent | None:
    """The CSM's latest brief that went out, if any."""
    with Session(engine) as s:
        stmt = (
            select(DigestSent)
            .where(DigestSent.csm_id == csm_id, DigestSent.state == "sent")
            .order_by(col(DigestSent.day).desc())
            .limit(1)
        )
        return s.exec(stmt).first()


def claim(engine: Engine, csm_id: str, day: date, run_id: str, now: datetime) -> bool:
    """True when this run may send the CSM's brief of `day`: none yet, or the last attempt failed."""
    with Session(engine) as s:
        row = s.get(DigestSent, (csm_id, day))
        if row is not None:
            if row.state != "failed":
                return False
            taken = s.execute(
                update(DigestSent)
                .where(
                    col(DigestSent.csm_id) == csm_id,
                    col(DigestSent.day) == day,
                    col(DigestSent.state) == "failed",
                )
                .values(state="sending", run_id=run_id, claimed_at=now, error="")
            )
            s.commit()
            return bool(getattr(taken, "rowcount", 0))
        s.add(DigestSent(csm_id=csm_id, day=day, run_id=run_id, claimed_at=now))
        try:
            s.commit()
        except IntegrityError:  # another replica claimed it first
            s.rollback()
            return False
        return True


def settle(
    engine: Engine,
    csm_id: str,
    day: date,
    *,
    sent_at: datetime | None,
    channel: str,
    subject: str,
    seen: dict[str, Any],
    error: str = "",
) -> None:
    """Mark a claimed brief `sent` (with what it saw) or, given an error, `failed` (retried next run)."""
    with Session(engine) as s:
        row = s.get(DigestSent, (csm_id, day))
        if row is None:
            return
        row.state = "failed" if error else "sent"
        row.sent_at, row.channel, row.subject, row.error = sent_at, channel, subject, error[:500]
        row.seen = seen
        s.add(row)
        s.commit()


def sent_on(engine: Engine, day: date) -> list[DigestSent]:
    """Every brief row of a day (status, tests)."""
    with Session(engine) as s:
        return list(s.exec(select(DigestSent).where(DigestSent.day == day)))
