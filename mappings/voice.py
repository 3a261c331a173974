"""Voice of the customer (mappings/voice.toml): feature requests in tickets and NPS comments, matched to
product areas and rolled up across accounts. Pure: records and Account values in, requests out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from mappings.lifecycle import FileIssue, Model, as_date, load_templated, money, number, unique

FILE = "voice.toml"
CODE = re.compile(r"[a-z0-9][a-z0-9_]{0,79}")


class SourceSpec(Model):
    """One stream whose text is read for requests: its source (explain shows its last good pull), the
    stream, how the evidence calls a record of it, and the fields holding the text."""

    source: str
    stream: str
    label: str
    text: tuple[str, ...] = Field(min_length=1)


class Area(Model):
    """A product area: what its request is called and the phrases that point to it."""

    code: str
    title: str = Field(min_length=1, max_length=80)
    phrases: tuple[str, ...] = Field(min_length=1)
    exclude: tuple[str, ...] = ()

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not CODE.fullmatch(v):
            raise ValueError(
                "use up to 80 lower-case letters, digits and _ (it is the request's key in Salesforce)"
            )
        return v


class VoiceFile(Model):
    lookback_days: int = Field(default=180, ge=1, le=730)
    min_accounts: int = Field(default=2, ge=1, le=1000)
    arr_field: str = "ARR__c"
    quotes_per_account: int = Field(default=3, ge=1, le=20)
    sources: tuple[SourceSpec, ...] = Field(min_length=1)
    areas: tuple[Area, ...] = Field(min_length=1)


def _check(cfg: VoiceFile, label: str) -> list[FileIssue]:
    issues = unique([a.code for a in cfg.areas], "area code", label, "areas")
    for area in cfg.areas:
        for part in ("phrases", "exclude"):
            if any(not p.strip().rstrip("*").strip() for p in getattr(area, part)):
                where = f'area "{area.code}" → {part}'
                issues.append(
                    FileIssue(label, where, message="an empty phrase would match every text — remove it")
                )
    return issues


def load(path: Path) -> VoiceFile:
    return load_templated(VoiceFile, path, {}, _check)


def pattern(phrase: str) -> re.Pattern[str]:
    """A phrase as a case-blind, word-bounded pattern; spaces match any spacing, a trailing * a word end."""
    text = phrase.strip()
    stem = text.rstrip("*").strip()
    body = r"\s+".join(re.escape(w) for w in stem.split())
    tail = r"\w*" if text.endswith("*") else ""
    return re.compile(rf"(?<!\w){body}{tail}(?!\w)", re.IGNORECASE)


@dataclass(frozen=True)
class Matcher:
    """The areas' compiled phrases, built once per run."""

    areas: tuple[tuple[Area, tuple[re.Pattern[str], ...], tuple[re.Pattern[str], ...]], ...]

    @classmethod
    def of(cls, cfg: VoiceFile) -> Matcher:
        return cls(
            tuple(
                (a, tuple(pattern(p) for p in a.phrases), tuple(pattern(p) for p in a.exclude))
                for a in cfg.areas
            )
        )

    def areas_of(self, text: str) -> list[str]:
        """Codes of the areas `text` asks for: a phrase matches and no exclusion does."""
        return [
            a.code
            for a, want, avoid in self.areas
            if any(p.search(text) for p in want) and not any(p.search(text) for p in avoid)
        ]


@dataclass(frozen=True)
class Mention:
    store_id: str
    area: str
    label: str  # "ticket", "NPS comment"
    id: str
    day: date
    quote: str


def mentions(
    cfg: VoiceFile,
    matcher: Matcher,
    store_id: str,
    records: Mapping[str, Sequence[Mapping[str, Any]]],
    today: date,
) -> list[Mention]:
    """The store's mentions of every area within the lookback window, oldest first."""
    since = today - timedelta(days=cfg.lookback_days)
    out: list[Mention] = []
    for spec in cfg.sources:
        for rec in records.get(spec.stream, ()):
            day = as_date(rec.get("_day"))
            if day is None or not since <= day <= today:
                continue
            text = " ".join(" ".join(str(rec.get(f) or "") for f in spec.text).split())
            if not text:
                continue
            rid = str(rec.get("id") or str(rec.get("_key") or "").split(":", 1)[-1] or "?")
            out.extend(Mention(store_id, code, spec.label, rid, day, text) for code in matcher.areas_of(text))
    return sorted(out, key=lambda m: (m.day, m.label, m.id, m.area))


@dataclass(frozen=True)
class AccountVoice:
    """One account's part in a request."""

    store_id: str
    account_id: str
    name: str
    arr: float | None  # None: the account has no ARR value (counted as 0)
    mentions: tuple[Mention, ...]  # oldest first

    @property
    def latest(self) -> Mention:
        return self.mentions[-1]


@dataclass(frozen=True)
class Request:
    code: str
    title: str
    accounts: tuple[AccountVoice, ...]  # by ARR, largest first, then store id

    @property
    def arr_total(self) -> float:
        """Each account's ARR once, however often it asked; a missing ARR counts as 0."""
        return sum(a.arr or 0.0 for a in self.accounts)

    @property
    def mention_count(self) -> int:
        return sum(len(a.mentions) for a in self.accounts)

    @property
    def first_seen(self) -> date:
        return min(a.mentions[0].day for a in self.accounts)

    @property
    def last_seen(self) -> date:
        return max(a.latest.day for a in self.accounts)

    @property
    def without_arr(self) -> tuple[str, ...]:
        return tuple(a.store_id for a in self.accounts if a.arr is None)


def rollup(
    cfg: VoiceFile,
    found: Iterable[Mention],
    accounts: Mapping[str, Mapping[str, Any]],
) -> list[Request]:
    """One request per area that at least `min_accounts` accounts mention; areas in the file's order."""
    by_area: dict[str, dict[str, list[Mention]]] = {}
    for m in found:
        if accounts.get(m.store_id, {}).get("Id"):
            by_area.setdefault(m.area, {}).setdefault(m.store_id, []).append(m)
    out: list[Request] = []
    for area in cfg.areas:
        stores = by_area.get(area.code, {})
        if len(stores) < cfg.min_accounts:
            continue
        voices = []
        for store_id, ms in stores.items():
            acct = accounts[store_id]
            voices.append(
                AccountVoice(
                    store_id,
                    str(acct["Id"]),
                    str(acct.get("Name") or store_id),
                    number(acct.get(cfg.arr_field)),
                    tuple(sorted(ms, key=lambda m: (m.day, m.label, m.id))),
                )
            )
        voices.sort(key=lambda v: (-(v.arr or 0.0), v.store_id))
        out.append(Request(area.code, area.title, tuple(voices)))
    return out


def evidence(req: Request, quotes: int) -> str:
    """The request's business case as text: totals, then each account with its ARR and latest quotes."""
    lines = [
        f"{req.title}: {len(req.accounts)} accounts, {money(req.arr_total)} ARR, "
        f"{req.mention_count} mentions ({req.first_seen} … {req.last_seen})."
    ]
    if req.without_arr:
        lines.append(f"No ARR on {', '.join(req.without_arr)}: counted as $0.00.")
    for a in req.accounts:
        arr = money(a.arr) if a.arr is not None else "no ARR"
        n = len(a.mentions)
        lines += ["", f"{a.name} ({a.store_id}) · {arr} · {n} mention{'s' if n != 1 else ''}"]
        lines += [f'  {m.day} {m.label} {m.id}: "{m.quote}"' for m in reversed(a.mentions[-quotes:])]
    return "\n".join(lines)
