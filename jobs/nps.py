"""NPS follow-up: a Task for the CSM per detractor answer; promoters mark a reference candidate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from jobs.compliance import hold, read_open
from jobs.current import Reader
from jobs.job import JobBase
from mappings import records
from mappings.context import AccountData
from mappings.desired import Desired, Managed
from mappings.lifecycle import (
    Model,
    TaskTemplate,
    as_date,
    load_templated,
    mapping_dir,
    number,
    task,
)
from mappings.states import slug

FILE = "nps.toml"
NAME = "nps_followup"
PREFIX = "nps:"
PLACEHOLDERS = {
    "detractor_task": ("account", "store", "score", "comment", "answered", "lookback_days", "recent"),
}


class NpsFile(Model):
    stream: str = "responses"
    source: str = "nps"
    stale_after_hours: float = Field(default=72.0, gt=0)
    detractor_max: int = Field(default=6, ge=0, le=10)
    promoter_min: int = Field(default=9, ge=0, le=10)
    lookback_days: int = Field(default=30, ge=1, le=365)
    business_days: int = Field(default=2, ge=0, le=30)
    reference_field: str = "Reference_Candidate__c"
    reference_days: int = Field(default=180, ge=1, le=730)
    detractor_task: TaskTemplate

    @model_validator(mode="after")
    def _bands(self) -> NpsFile:
        if self.promoter_min <= self.detractor_max:
            raise ValueError("promoter_min must be above detractor_max")
        return self


def load(path: Path) -> NpsFile:
    return load_templated(NpsFile, path, PLACEHOLDERS)


@dataclass(frozen=True)
class Answer:
    """One survey answer as the job reads it: the store's local day, not the UTC time."""

    id: str
    score: int
    comment: str
    day: date

    @classmethod
    def of(cls, rec: Mapping[str, Any]) -> Answer | None:
        score = number(rec.get("score"))
        day = as_date(rec.get("_day")) or as_date(rec.get("responded_at"))
        if score is None or day is None:
            return None
        key = str(rec.get("_key") or "")
        return cls(
            id=str(rec.get("id") or key.split(":", 1)[-1] or "?"),
            score=int(score),
            comment=" ".join(str(rec.get("comment") or "").split()),
            day=day,
        )


def add_business_days(day: date, n: int) -> date:
    """`n` weekdays after `day` (Saturday and Sunday skipped): an answer on Friday is due on Tuesday."""
    out = day
    while n > 0:
        out += timedelta(days=1)
        if out.weekday() < 5:
            n -= 1
    return out


@dataclass(frozen=True)
class Verdict:
    answers: tuple[Answer, ...]  # every answer known, oldest first
    follow_up: tuple[Answer, ...]  # detractors in the window not answered better since
    cleared: tuple[Answer, ...]  # detractors a later, better answer cleared
    candidate: bool  # a recent promoter, no detractor since


def assess(cfg: NpsFile, data: AccountData) -> Verdict:
    """What the store's answers call for today (pure)."""
    answers = tuple(
        sorted(
            (a for a in (Answer.of(r) for r in data.records.get(cfg.stream, ())) if a is not None),
            key=lambda a: (a.day, a.id),
        )
    )
    since = data.today - timedelta(days=cfg.lookback_days)
    follow, cleared = [], []
    for i, a in enumerate(answers):
        if a.score > cfg.detractor_max:
            continue
        if any(b.score > cfg.detractor_max for b in answers[i + 1 :]):
            cleared.append(a)
        elif a.day >= since:
            follow.append(a)
    window = data.today - timedelta(days=cfg.reference_days)
    promoters = [i for i, a in enumerate(answers) if a.score >= cfg.promoter_min and a.day >= window]
    candidate = bool(promoters) and not any(
        b.score <= cfg.detractor_max for b in answers[promoters[-1] + 1 :]
    )
    return Verdict(answers, tuple(follow), tuple(cleared), candidate)


def task_key(store: str, answer_id: str) -> str:
    return f"{PREFIX}{store}:{slug(answer_id)}"


class NpsJob(JobBase):
    """Detractor follow-up Tasks (closed when a later answer is better) and the reference-candidate mark."""

    name = NAME

    def __init__(self, cfg: NpsFile) -> None:
        self.cfg = cfg
        self._counts: dict[str, int] = {}

    @classmethod
    def build(cls, source: Any) -> NpsJob:
        return cls(load(mapping_dir(source) / FILE))

    @property
    def account_fields(self) -> frozenset[str]:
        return frozenset({"CSM__c", "OwnerId", self.cfg.reference_field} - {""})

    @property
    def streams(self) -> tuple[str, ...]:
        return (self.cfg.stream,)

    def prepare(
        self, org: Reader, accounts: Mapping[str, Mapping[str, Any]], now: datetime
    ) -> dict[str, Any]:
        self._counts = {"detractor_tasks": 0, "reference_candidates": 0, "held": 0}
        return read_open(org, accounts, PREFIX)

    def managed(self, now: datetime) -> Sequence[Managed]:
        return (records.close_tasks(PREFIX, "a later NPS answer is no longer a detractor"),)

    def stale(self, data: AccountData) -> bool:
        at = data.last_success.get(self.cfg.source)
        return at is None or (data.now - at).total_seconds() / 3600.0 > self.cfg.stale_after_hours

    def evaluate(self, data: AccountData) -> Sequence[Desired]:
        acct = data.account
        if not acct.get("Id"):
            return []
        if self.stale(data):
            self._count("held")
            return hold(data, f"no good pull of {self.cfg.source} in {self.cfg.stale_after_hours:g} hours")
        v = assess(self.cfg, data)
        name = str(acct.get("Name") or data.store_id)
        recent_from = data.today - timedelta(days=self.cfg.lookback_days)
        recent = ", ".join(f"{a.score} on {a.day}" for a in v.answers if a.day >= recent_from)
        out: list[Desired] = []
        for a in v.follow_up:
            values = {
                "account": name,
                "store": data.store_id,
                "score": a.score,
                "comment": f'"{a.comment}"' if a.comment else "(left blank)",
                "answered": a.day.isoformat(),
                "lookback_days": self.cfg.lookback_days,
                "recent": recent or "no answers",
            }
            out.append(
                task(
                    task_key(data.store_id, a.id),
                    acct,
                    self.cfg.detractor_task,
                    values,
                    data.today,
                    store_id=data.store_id,
                    due=add_business_days(a.day, self.cfg.business_days),
                    reason=f"NPS detractor answer {a.id} ({a.score})",
                )
            )
            self._count("detractor_tasks")
        # A follow-up Task still open for an answer now outside the window stays until the CSM closes it;
        # only a later, better answer (or the answer itself corrected to a better score) completes it.
        wanted = {d.key for d in out}
        better = [a for a in v.answers if a.score > self.cfg.detractor_max]
        cleared = {task_key(data.store_id, a.id) for a in (*v.cleared, *better)}
        open_tasks: Sequence[str] = (data.attrs.get("open_keys") or {}).get("Task", ())
        for key in sorted(set(open_tasks) - wanted - cleared):
            out.append(records.hold("Task", key, data.store_id, "held: open"))
        field = self.cfg.reference_field
        if field:
            if v.candidate:
                self._count("reference_candidates")
            if v.candidate or acct.get(field):  # False is written only over a True: a no-op stays one
                out.append(
                    Desired(
                        "Account",
                        "Store_Id__c",
                        data.store_id,
                        {field: v.candidate},
                        account_key=data.store_id,
                        reason="recent NPS promoter" if v.candidate else "no recent promoter answer",
                        # the mark follows the answers by design: not an overwrite for the safety check
                        routine=frozenset({field}),
                    )
                )
        return out

    def _count(self, what: str) -> None:
        self._counts[what] = self._counts.get(what, 0) + 1

    def summary(self, desired: Sequence[Desired]) -> dict[str, Any]:
        return {**super().summary(desired), "nps": dict(self._counts)}

    def explain(self, data: AccountData) -> dict[str, Any]:
        v = assess(self.cfg, data)
        return {
            "job": self.name,
            "store": data.store_id,
            "held_for_stale": self.stale(data),
            "answers": [{"id": a.id, "score": a.score, "day": a.day.isoformat()} for a in v.answers],
            "follow_up": [a.id for a in v.follow_up],
            "cleared_by_later_answer": [a.id for a in v.cleared],
            "reference_candidate": v.candidate,
        }
