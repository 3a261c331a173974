"""The mapping files' shape as frozen pydantic models; load.py adds the checks that need more than one key."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

Severity = Literal["Low", "Medium", "High", "Critical"]
TaskPriority = Literal["High", "Normal", "Low"]
CasePriority = Literal["High", "Medium", "Low"]
Period = Literal["day", "week", "month", "quarter", "once"]
EvidenceFormat = Literal[
    "auto", "number", "int", "pct", "change", "money", "hours", "age", "datetime", "date", "list", "text"
]

OWNER_PATTERN = re.compile(r"^(account:[A-Za-z][A-Za-z0-9_]*|queue:[A-Za-z][A-Za-z0-9_]*)$")
RULE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
PARAM_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

ParamValue = str | bool | int | float | list[str] | list[float]
Points = float  # 0-100, checked by the loader with a sentence rather than a key path into a pair


class Model(BaseModel):
    """Every mapping model: immutable once loaded, and an unknown key is an error, not silence."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


M = TypeVar("M", bound=BaseModel)


def _json_default(value: Any) -> str:
    if isinstance(value, date | datetime | time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not a TOML value")


def validate_strict(model: type[M], raw: Any) -> M:
    """Validate a mapping file's TOML as strictly as its types say, and no more.

    Pydantic's lax mode would read `stale_after_hours = "36"` as 36 and `true` as 1; its strict
    Python mode would refuse a TOML list for a tuple. Validating the same data as JSON in strict mode
    is exactly the admin's contract: numbers are numbers (an integer is a fine float), text is text,
    lists fit tuples, dates are ISO dates, and `inf`/`nan` are refused by `allow_inf_nan=False`.
    """
    return model.model_validate_json(json.dumps(raw, default=_json_default, allow_nan=True), strict=True)


# -- sources.toml ---------------------------------------------------------------------------------
class Source(Model):
    label: str = ""
    stale_after_hours: float = Field(gt=0)
    feed: bool = True  # a data feed (a stale one raises Data feed stale); false for signals like menu_sync
    # "data": stale when the newest data is older than stale_after_hours (dense feeds such as POS);
    # "pull": stale when the last successful pull is (sparse feeds: a month without invoices is normal).
    measured_by: Literal["data", "pull"] = "data"


class SourcesFile(Model):
    default_stale_after_hours: float = Field(default=36.0, gt=0)
    extra_metrics: tuple[str, ...] = ()
    sources: dict[str, Source] = Field(default_factory=dict)


# -- account_health.toml --------------------------------------------------------------------------
class Component(Model):
    """One health component: an expression whose raw value maps to 0-100 points, with a weight."""

    label: str = ""
    weight: float
    expr: str
    scale: tuple[tuple[float, Points], ...] | None = None  # piecewise linear [value, points]
    thresholds: tuple[tuple[float, Points], ...] | None = None  # steps: value >= at -> points
    format: EvidenceFormat = "auto"
    missing: Literal["skip"] | Points = "skip"  # no data: leave it out of the score, or give points


class Bands(Model):
    green: float = 70.0  # score >= green -> Green
    yellow: float = 40.0  # score >= yellow -> Yellow, else Red


class HealthTargets(Model):
    score: str = "Health_Score__c"
    band: str = "Health_Band__c"
    trend: str = "Health_Trend__c"
    change: str = "Health_Score_Change_7d__c"
    drivers: str = "Health_Drivers__c"
    stale: str = "Health_Stale__c"
    updated_at: str = "Health_Updated_At__c"
    override: str = "Health_Override__c"  # read only: a CSM's score wins, csm-sync never writes it
    override_reason: str = "Health_Override_Reason__c"  # the CSM's why; never written either


class Health(Model):
    requires_fresh: tuple[str, ...] | None = None  # None: the file's requires_fresh
    trend_days: int = Field(default=7, ge=1)
    trend_delta: float = Field(default=5.0, ge=0)
    drivers: int = Field(default=3, ge=0, le=7)
    bands: Bands = Bands()
    targets: HealthTargets = HealthTargets()
    components: dict[str, Component] = Field(default_factory=dict)


class Rollup(Model):
    """Per child account, what its MSO parent sums up, and the parent fields the sums go to."""

    live: str = 'total("orders", 28, "channel=online") > 0'
    onboarding_progress: str = 'coalesce(attr("onboarding_progress"), 1)'
    locations_total_field: str = "Locations_Total__c"
    locations_live_field: str = "Locations_Live__c"
    onboarding_progress_field: str = "Onboarding_Progress__c"
    weight_by: Literal["equal", "revenue"] = "equal"  # how the parent's score averages its locations


class AccountHealthFile(Model):
    object: Literal["Account"] = "Account"
    match_key: str = "Store_Id__c"
    requires_fresh: tuple[str, ...] = ()
    params: dict[str, ParamValue] = Field(default_factory=dict)
    fields: dict[str, str] = Field(default_factory=dict)
    open_risk_count_field: str = "Open_Risk_Count__c"
    health: Health = Health()
    rollup: Rollup = Rollup()


# -- risk_rules.toml ------------------------------------------------------------------------------
class EvidenceItem(Model):
    expr: str
    label: str = ""
    format: EvidenceFormat = "auto"


class ForEach(Model):
    var: str = "item"
    in_: str = Field(alias="in")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _owner(value: str) -> str:
    if not OWNER_PATTERN.match(value):
        raise ValueError(f'"{value}" is not an owner (account:CSM__c, account:OwnerId or queue:<Name>)')
    return value


class TaskTemplate(Model):
    subject: str
    description: str = "{evidence}"
    priority: TaskPriority = "Normal"
    due_in_days: int = Field(default=1, ge=0, le=365)
    owner: str = "account:CSM__c"
    status: str = "Not Started"
    type: str = ""

    _check_owner = field_validator("owner")(_owner)


class CaseTemplate(Model):
    subject: str
    description: str = "{evidence}"
    priority: CasePriority = "Medium"
    type: str = ""
    origin: str = "csm-sync"
    owner: str = ""
    status: str = "New"

    @field_validator("owner")
    @classmethod
    def _check_owner(cls, value: str) -> str:
        return _owner(value) if value else value


class Rule(Model):
    name: str
    title: str
    version: int = Field(default=1, ge=1)
    when: str
    severity: Severity
    for_each: ForEach | None = None
    category: str = ""  # Category__c on the flag; "{category}" placeholders allowed
    evidence: dict[str, EvidenceItem] = Field(default_factory=dict)
    suppress_if: str = ""
    requires_fresh: tuple[str, ...] = ()
    resolve_when: str = ""  # default: not when
    cooldown_days: int | None = Field(default=None, ge=0)
    period: Period | None = None
    task: TaskTemplate | None = None
    case: CaseTemplate | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not RULE_NAME.match(value):
            raise ValueError(f'"{value}" is not a rule name (lower_snake_case, starting with a letter)')
        return value


class RuleDefaults(Model):
    cooldown_days: int = Field(default=7, ge=0)
    period: Period = "week"


class RiskRulesFile(Model):
    params: dict[str, ParamValue] = Field(default_factory=dict)
    defaults: RuleDefaults = RuleDefaults()
    rules: tuple[Rule, ...] = ()


def normalize_evidence(raw: Any) -> Any:
    """`name = "expr"` is shorthand for `name = { expr = "expr" }`."""
    if isinstance(raw, dict):
        return {k: {"expr": v} if isinstance(v, str) else v for k, v in raw.items()}
    return raw
