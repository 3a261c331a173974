"""Evaluating one account: KPI fields, health score and risk rules into Desired records, with a trace."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from math import isnan
from typing import Any, NamedTuple

from mappings import records
from mappings.context import AccountData
from mappings.desired import Desired, Managed
from mappings.expressions import EVALUATION_ERRORS, EvaluationError, Expression
from mappings.functions import Metrics, parse_time
from mappings.issues import RISK_FILE
from mappings.load import CompiledComponent, CompiledRule, MappingSet
from mappings.templates import render

FLAG_OBJECT = records.FLAG_OBJECT
KEY_FIELD = records.KEY_FIELD
ACTIVITY_PREFIX = "risk:"  # Task and Case keys: "risk:<flag key>", so the risk job owns exactly these
EVIDENCE_FIELD = "Evidence__c"  # the evidence as a CSM reads it
EVIDENCE_DATA_FIELD = "Evidence_Data__c"  # the same values as JSON, for reports and integrations
MAX_LIST_ITEMS = 10
_VALUES_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False)  # json.dumps would build one per call


# -- results ---------------------------------------------------------------------------------------
class RuleTrace(NamedTuple):
    """What one rule (or one for_each item of it) decided for the account, and why.

    A NamedTuple rather than a dataclass: ~30 are made per account, and creation cost shows in the bench.
    """

    rule: str
    item: str
    instance: str  # "rule" or "rule/item": the name cooldowns and open flags are tracked by
    status: str  # fired | clear | held | suppressed | cooldown | error
    why: str
    when: Any = None
    key: str = ""  # the flag's Sync_Key__c when fired or held open
    calls: tuple[tuple[str, Any], ...] = ()  # every function call and its value (explain only)
    evidence: Mapping[str, Any] | None = None

    @property
    def fired(self) -> bool:
        return self.status == "fired"


class ComponentTrace(NamedTuple):
    name: str
    label: str
    expr: str
    raw: Any
    points: float | None  # None: no data and `missing = "skip"`
    weight: float
    contribution: float  # points * weight / sum of counted weights
    calls: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class HealthOutcome:
    score: float | None  # what the Account shows: the override when a CSM set one
    computed: float | None  # the weighted score from data (None when stale or no data)
    band: str | None
    trend: str | None
    change: float | None
    previous: float | None  # the score `trend_days` ago
    drivers: str
    stale: bool
    stale_sources: tuple[str, ...]
    override: float | None
    components: tuple[ComponentTrace, ...]


class FieldTrace(NamedTuple):
    name: str
    expr: str
    value: Any
    calls: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Explain:
    """Everything `csm-sync explain STORE` shows: each value, each rule, each function call."""

    store_id: str
    today: date
    fields: tuple[FieldTrace, ...]
    kpi_stale_sources: tuple[str, ...]
    health: HealthOutcome | None
    rules: tuple[RuleTrace, ...]
    errors: tuple[str, ...]

    @property
    def data(self) -> dict[str, Any]:
        """JSON-ready form (NaN and inf as text)."""
        out: dict[str, Any] = _jsonable(
            {
                "store_id": self.store_id,
                "today": self.today,
                "fields": [f._asdict() for f in self.fields],
                "kpi_stale_sources": self.kpi_stale_sources,
                "health": None if self.health is None else asdict(self.health),
                "rules": [r._asdict() for r in self.rules],
                "errors": self.errors,
            }
        )
        return out

    def render(self) -> str:
        """Readable text, one line per value, for a terminal."""
        out = [f"Store {self.store_id} — evaluated for {self.today.isoformat()}"]
        out.append("")
        out.append(
            "KPI fields"
            + (f" (held: stale {', '.join(self.kpi_stale_sources)})" if self.kpi_stale_sources else "")
        )
        for f in self.fields:
            out.append(f"  {f.name} = {_show_value(f.value)}    ← {_one_line(f.expr)}")
        h = self.health
        if h is not None:
            out.append("")
            head = f"Health score {_show_value(h.score)} {h.band or ''}".rstrip()
            if h.override is not None:
                head += f" (CSM override; computed {_show_value(h.computed)})"
            if h.stale:
                head += f" — stale data: {', '.join(h.stale_sources)}; previous score kept"
            out.append(head)
            if h.previous is not None:
                out.append(f"  trend {h.trend} ({_show_value(h.change)} vs {_show_value(h.previous)})")
            for c in h.components:
                pts = "skipped (no data)" if c.points is None else f"{c.points:.0f} pts x weight {c.weight:g}"
                out.append(f"  {c.label}: raw {_show_value(c.raw)} → {pts}    ← {_one_line(c.expr)}")
            if h.drivers:
                out.append(f"  drivers: {h.drivers}")
        out.append("")
        out.append("Rules")
        for r in self.rules:
            out.append(f"  {r.instance}: {r.status.upper()} — {r.why}")
            for call, value in r.calls:
                out.append(f"      {call} = {_show_value(value)}")
        if self.errors:
            out.append("")
            out.append("Errors")
            out.extend(f"  {e}" for e in self.errors)
        return "\n".join(out)


@dataclass(frozen=True, eq=False)
class AccountOutcome:
    """The evaluation of one account: Desired records for the planner, and what the jobs report."""

    store_id: str
    desired: list[Desired]
    rules: tuple[RuleTrace, ...]
    health: HealthOutcome | None
    fields: Mapping[str, Any]  # KPI field values written (empty when held for stale data)
    live: bool | None  # for MSO roll-ups
    onboarding_progress: float | None
    open_risks: int
    errors: tuple[str, ...]
    mapping_set: MappingSet = field(repr=False)
    data: AccountData = field(repr=False)
    traced: Explain | None = field(default=None, repr=False)
    # Rule actions that could not be carried out (a queue the org does not have): the record waits.
    warnings: tuple[str, ...] = ()

    @cached_property
    def explain(self) -> Explain:
        """The full trace; computed on first use by re-running the (pure) evaluation with tracing on."""
        if self.traced is not None:
            return self.traced
        again = evaluate_account(self.mapping_set, self.data, trace=True)
        assert again.traced is not None
        return again.traced

    @property
    def fired(self) -> tuple[RuleTrace, ...]:
        return tuple(r for r in self.rules if r.fired)


# -- formatting ------------------------------------------------------------------------------------
def _known(v: Any) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def _show_value(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float):
        if math.isinf(v):
            return "∞" if v > 0 else "-∞"
        if abs(v) >= 1000:
            return f"{v:,.0f}" if v.is_integer() else f"{v:,.2f}"
        return f"{v:.4g}"
    if isinstance(v, datetime):
        return _show_time(v)
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_show_value(x) for x in v) + "]"
    return str(v)


def _one_line(source: str) -> str:
    return " ".join(source.split())


def _show_time(t: datetime) -> str:
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.strftime("%Y-%m-%d %H:%M UTC")


def _item_name(x: Any) -> str:
    if isinstance(x, Mapping):
        return str(x.get("name") or x.get("Name") or x.get("id") or x)
    return str(x)


def format_value(value: Any, fmt: str) -> str:
    """An evidence value as a CSM reads it: "-87%", "$1,240.00", "19.8 h", "Blue Dream 3.5g, …"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if fmt == "auto":
        if isinstance(value, bool):
            fmt = "text"
        elif isinstance(value, int | float):
            fmt = "int" if float(value).is_integer() else "number"
        elif isinstance(value, datetime):
            fmt = "datetime"
        elif isinstance(value, date):
            fmt = "date"
        elif isinstance(value, list | tuple):
            fmt = "list"
        else:
            fmt = "text"
    if isinstance(value, bool):
        return "yes" if value else "no"
    numeric_age = fmt == "age" and isinstance(value, int | float)  # not yet turned into its time (explain)
    if fmt in ("number", "int", "pct", "change", "money", "hours") or numeric_age:
        if not isinstance(value, int | float):
            return str(value)
        v = float(value)
        if math.isinf(v):
            return "never" if fmt in ("hours", "age") and v > 0 else ("∞" if v > 0 else "-∞")
        if fmt == "int":
            return f"{round(v):,}"
        if fmt == "number":
            return f"{v:,.1f}" if abs(v) >= 100 else f"{v:,.2f}".rstrip("0").rstrip(".")
        if fmt == "pct":
            return f"{v * 100:.1f}%"
        if fmt == "change":
            return f"{v * 100:+.0f}%".replace("-", "\u2212")  # a real minus sign reads better
        if fmt == "money":
            return f"${v:,.2f}"
        return f"{v:.1f} h"
    if fmt in ("datetime", "age"):  # an age is shown as the time it is measured from (see age_since)
        t = value if isinstance(value, datetime) else parse_time(value)
        return _show_time(t) if isinstance(t, datetime) else str(value)
    if fmt == "date":
        t = value if isinstance(value, date) else parse_time(value)
        return t.isoformat()[:10] if isinstance(t, date) else str(value)
    if fmt == "list":
        items = list(value) if isinstance(value, list | tuple) else [value]
        names = [_item_name(x) for x in items[:MAX_LIST_ITEMS]]
        more = len(items) - len(names)
        return (", ".join(names) if names else "nothing listed") + (f" (+{more} more)" if more > 0 else "")
    return str(value)


def age_since(hours: Any, now: datetime) -> Any:
    """An age in hours (from `freshness`) as the time it is measured from, to the second.

    The age grows with the clock and the time does not: written as the time, a flag whose data did not
    change is not rewritten by the next run. Unknown ages (None, NaN) stay as they are; inf is "never".
    """
    if not isinstance(hours, int | float) or isinstance(hours, bool) or math.isnan(hours):
        return hours
    if math.isinf(hours):
        return None if hours > 0 else hours
    since = now - timedelta(hours=float(hours))
    return datetime.fromtimestamp(round(since.timestamp()), UTC)


def _jsonable(v: Any) -> Any:
    cls = v.__class__
    if cls is str or cls is int or cls is bool or v is None:  # the common cases first: every fired rule
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return round(v, 6)
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, tuple) and hasattr(v, "_asdict"):
        return _jsonable(v._asdict())
    if isinstance(v, list | tuple | set | frozenset):
        return [_jsonable(x) for x in v]
    if v is None or isinstance(v, bool | int | str):
        return v
    return str(v)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | date)


def _kind_of(value: Any) -> str:
    if isinstance(value, list | tuple | set | frozenset):
        return "a list"
    if isinstance(value, Mapping):
        return "a table"
    return f"a {type(value).__name__}"


def _clean(value: Any) -> Any:
    """What a field receives: NaN and inf become empty (Salesforce has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# -- periods and keys ------------------------------------------------------------------------------
def period_label(period: str, day: date) -> str:
    """The period part of a flag key: a new occurrence after resolution in a new period gets a new key."""
    if period == "week":
        iso = day.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if period == "day":
        return day.isoformat()
    return "once"


def flag_key(store_id: str, instance: str, period: str) -> str:
    return f"{store_id}:{instance}:{period}"


def instance_of_key(key: str) -> tuple[str, str, str] | None:
    """(store, instance, period) from a flag key (or a Task/Case key), None if it is not one of ours."""
    key = key.removeprefix(ACTIVITY_PREFIX)
    parts = key.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        return None
    return parts[0], parts[1], parts[2]


def flag_attrs(flags: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Build `attrs["open_flags"]` and `attrs["recent_resolved"]` from one account's Risk_Flag__c rows.

    The jobs read the account's flags (Sync_Key__c, Status__c, Resolved_At__c) with the current state
    the plan diffs against, and merge this into AccountData.attrs.
    """
    open_flags: dict[str, str] = {}
    resolved: dict[str, str] = {}
    for row in flags:
        key = str(row.get(KEY_FIELD) or "")
        parsed = instance_of_key(key)
        if parsed is None:
            continue
        instance = parsed[1]
        status = row.get("Status__c")
        if status in ("Open", "Snoozed"):
            open_flags[instance] = key
        elif status == "Resolved" and row.get("Resolved_At__c"):
            at = str(row["Resolved_At__c"])
            if at > resolved.get(instance, ""):
                resolved[instance] = at
    return {"open_flags": open_flags, "recent_resolved": resolved}


# -- tracing ---------------------------------------------------------------------------------------
class _Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def take(self) -> tuple[tuple[str, Any], ...]:
        out = tuple(self.calls)
        self.calls = []
        return out


def _call_repr(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> str:
    parts = [repr(a) if isinstance(a, str) else _show_value(a) for a in args]
    parts += [f"{k}={v!r}" if isinstance(v, str) else f"{k}={_show_value(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _traced(name: str, fn: Callable[..., Any], sink: _Sink) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        value = fn(*args, **kwargs)
        sink.calls.append((_call_repr(name, args, kwargs), value))
        return value

    return wrapper


# -- evaluation ------------------------------------------------------------------------------------
class _Run:
    """State of one account's evaluation."""

    def __init__(self, ms: MappingSet, data: AccountData, trace: bool) -> None:
        self.ms = ms
        self.data = data
        self.trace = trace
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.rule_base: dict[str, Any] | None = None  # see _rule_values
        self.as_of: dict[tuple[str, ...], str] = {}  # "data as of" text per requires_fresh list
        self.metrics = Metrics(
            data,
            ms.stale_after,
            ms.sources.default_stale_after_hours,
            ms.feed_sources,
            ms.pull_measured,
        )
        functions = self.metrics.bind()
        self.sink = _Sink()
        if trace:
            functions = {n: _traced(n, f, self.sink) for n, f in functions.items()}
        account = data.account
        values: dict[str, Any] = {f: account.get(f) for f in ms.account_fields}
        values.update(
            today=data.today,
            yesterday=self.metrics.yesterday,
            now=data.now,
            store_id=data.store_id,
            state=self.metrics.state,
        )
        self.health_ns = ms.health_namespace.copy()
        self.health_ns.update(functions)
        self.health_ns.update(values)
        self.risk_ns = ms.risk_namespace.copy()
        self.risk_ns.update(functions)
        self.risk_ns.update(values)

    def run(self, expr: Expression, ns: dict[str, Any], *where: str) -> Any:
        """Evaluate; on failure note where (joined only then: this is the hot path) and re-raise."""
        try:
            return expr.run(ns)
        except EvaluationError as exc:
            self.errors.append(f"{' '.join(where)}: {exc}")
            raise

    def note(self, expr: Expression, exc: Exception, *where: str) -> None:
        """The error `run` would have recorded, for loops that evaluate compiled code directly."""
        self.errors.append(f"{' '.join(where)}: {expr.source}: {type(exc).__name__}: {exc}")

    def calls(self) -> tuple[tuple[str, Any], ...]:
        return self.sink.take() if self.trace else ()


def _stale(metrics: Metrics, sources: Sequence[str]) -> tuple[str, ...]:
    return metrics.stale_of(tuple(sources))


def _previous_score(data: AccountData, days: int) -> float | None:
    direct = data.attrs.get("health_score_7d_ago") if days == 7 else None
    if isinstance(direct, int | float) and _known(direct):
        return float(direct)
    history = data.attrs.get("health_history")
    if not isinstance(history, Mapping):
        return None
    target = data.today - timedelta(days=days)
    best: tuple[date, float] | None = None
    for k, v in history.items():
        d = parse_time(k)
        if isinstance(d, datetime):
            d = d.date()
        if not isinstance(d, date) or not _known(v) or d > target or d < target - timedelta(days=3):
            continue
        if best is None or d > best[0]:
            best = (d, float(v))
    return None if best is None else best[1]


def _band(ms: MappingSet, score: float) -> str:
    bands = ms.health_file.health.bands
    if score >= bands.green:
        return "Green"
    return "Yellow" if score >= bands.yellow else "Red"


def _health(r: _Run) -> tuple[HealthOutcome, dict[str, Any], dict[str, Any]]:
    ms, data = r.ms, r.data
    cfg = ms.health_file.health
    t = cfg.targets
    required = cfg.requires_fresh if cfg.requires_fresh is not None else ms.health_file.requires_fresh
    stale = _stale(r.metrics, required)
    override_raw = data.account.get(t.override)
    override = float(override_raw) if isinstance(override_raw, int | float) and _known(override_raw) else None

    components: list[ComponentTrace] = []
    computed: float | None = None
    if not stale:
        counted: list[tuple[CompiledComponent, float, float, Any, tuple[tuple[str, Any], ...]]] = []
        ns = r.health_ns
        for comp in ms.components:
            try:
                raw = eval(comp.expr.code, ns)  # noqa: S307 - checked, compiled expression (see expressions.py)
            except EVALUATION_ERRORS as exc:
                r.note(comp.expr, exc, "component", comp.name)
                raw = None
            calls = r.sink.take() if r.trace else ()
            if raw.__class__ is float and not isnan(raw):  # the usual case, a known float: straight to points
                points = comp.points(raw)
                counted.append((comp, points, comp.weight, raw, calls))
                continue
            if isinstance(raw, bool):
                raw = 1.0 if raw else 0.0
            if not _known(raw) or not isinstance(raw, int | float):
                if comp.missing == "skip":
                    components.append(ComponentTrace(comp.name, comp.label, comp.expr.source, raw, None,
                                                     comp.weight, 0.0, calls))  # fmt: skip
                    continue
                points = float(comp.missing)
            else:
                points = comp.points(float(raw))
            counted.append((comp, points, comp.weight, raw, calls))
        total_weight = sum([w for _, _, w, _, _ in counted])
        if total_weight > 0:
            computed = round(sum([p * w for _, p, w, _, _ in counted]) / total_weight)
            for comp, points, w, raw, calls in counted:
                components.append(ComponentTrace(comp.name, comp.label, comp.expr.source, raw, points, w,
                                                 points * w / total_weight, calls))  # fmt: skip
        if len(components) > len(counted):  # skipped ones went first: back to file order
            order = {c.name: i for i, c in enumerate(ms.components)}
            components.sort(key=lambda c: order[c.name])

    shown = override if override is not None else computed
    previous = _previous_score(data, cfg.trend_days)
    change = None if shown is None or previous is None else round(shown - previous, 1)
    trend = None
    if change is not None:
        trend = (
            "Improving"
            if change >= cfg.trend_delta
            else "Declining"
            if change <= -cfg.trend_delta
            else "Stable"
        )
    drivers = _drivers(ms, components, override, computed, stale)
    outcome = HealthOutcome(
        score=shown,
        computed=computed,
        band=None if shown is None else _band(ms, shown),
        trend=trend,
        change=change,
        previous=previous,
        drivers=drivers,
        stale=bool(stale),
        stale_sources=stale,
        override=override,
        components=tuple(components),
    )
    fields: dict[str, Any] = {t.stale: bool(stale)}
    touch: dict[str, Any] = {}
    if shown is not None:
        fields.update(
            {
                t.score: shown,
                t.band: outcome.band,
                t.trend: trend,
                t.change: change,
                t.drivers: drivers,
            }
        )
        touch[t.updated_at] = data.now
    return outcome, fields, touch


def _drivers(
    ms: MappingSet,
    components: Sequence[ComponentTrace],
    override: float | None,
    computed: float | None,
    stale: Sequence[str],
) -> str:
    """The components pulling the score down most (weight x shortfall), as one line a CSM can read."""
    formats = ms.component_formats
    # (shortfall, name, position): the position keeps the order stable exactly as a key= sort would
    keyed = [(-(c.weight * (100 - (c.points or 0))), c.name, i) for i, c in enumerate(components)
             if c.points is not None]  # fmt: skip
    scored = keyed
    keyed.sort()
    parts = []
    for _, _, i in keyed[: ms.health_file.health.drivers]:
        c = components[i]
        if (c.points or 0) >= 100:
            break
        fmt = formats.get(c.name, "auto")
        parts.append(f"{c.label} {c.points:.0f}/100 ({format_value(c.raw, fmt)})")
    text = "; ".join(parts) if parts else ("All components healthy" if scored else "")
    if override is not None:
        basis = f"computed {computed:.0f}" if computed is not None else "no computed score"
        if stale:
            basis = f"data stale: {', '.join(stale)}"
        text = f"CSM override {override:g} ({basis})" + (f"; {text}" if text else "")
    elif stale:
        text = ""
    return text


def _rule_values(r: _Run, rule: CompiledRule, item: str, title: str) -> dict[str, Any]:
    """Placeholders shared by every template of a rule instance (before evidence is added)."""
    data = r.data
    base = r.rule_base
    if base is None:  # the parts every rule of this account shares, built at the first fired rule
        first, last = data.today - timedelta(days=7), data.today - timedelta(days=1)
        base = {k: str(v) for k, v in r.ms.risk_params.items()}
        base.update(
            {
                "store_id": data.store_id,
                "account_name": str(data.account.get("Name") or data.store_id),
                "state": r.metrics.state,
                "today": data.today.isoformat(),
                "window": f"{first.isoformat()} to {last.isoformat()}",
                "baseline": "median of the same weekday over the prior 8 weeks, holidays and events excluded",
            }
        )
        r.rule_base = base
    sources = tuple(render(s, {rule.var: item}) if rule.var else s for s in rule.spec.requires_fresh)
    as_of = r.as_of.get(sources)
    if as_of is None:
        times = [data.freshness.get(s) for s in (sources or list(data.freshness))]
        known_times = [t for t in times if t is not None]
        as_of = r.as_of[sources] = _show_time(min(known_times)) if known_times else "n/a"
    values: dict[str, Any] = base.copy()
    values["rule"] = rule.name
    values["version"] = str(rule.spec.version)
    values["severity"] = rule.spec.severity
    values["data_as_of"] = as_of
    values["title"] = title
    if rule.var:
        values[rule.var] = item
    return values


def _evidence(
    r: _Run, rule: CompiledRule, item: str
) -> tuple[dict[str, Any], dict[str, str], tuple[tuple[str, Any], ...]]:
    raw: dict[str, Any] = {}
    shown: dict[str, str] = {}
    ns = r.risk_ns
    for ev in rule.evidence:
        try:
            value = eval(ev.expr.code, ns)  # noqa: S307 - checked, compiled expression (see expressions.py)
        except EVALUATION_ERRORS as exc:
            r.note(ev.expr, exc, "rule", rule.name, "evidence", ev.name)
            value = None
        if ev.format == "age":
            value = age_since(value, r.data.now)
        raw[ev.name] = value
        shown[ev.name] = "never" if value is None and ev.format == "age" else format_value(value, ev.format)
    return raw, shown, r.calls()


def _evidence_text(rule: CompiledRule, title: str, values: Mapping[str, str]) -> str:
    lines = [f"{title} — severity {rule.spec.severity}"]
    lines += [f"{ev.label}: {values[ev.name]}" for ev in rule.evidence]
    lines += [
        "",
        f"Window: {values['window']} (last complete day {_yesterday(values['today'])})",
        *([f"Baseline: {values['baseline']}"] if rule.uses_baseline else []),
        f"Data as of: {values['data_as_of']}",
        f"Rule: {rule.name} v{rule.spec.version}",
    ]
    return "\n".join(lines)


def evidence_data(raw: Mapping[str, Any]) -> str:
    """The evidence values as JSON (sorted keys, floats to 6 places): the same data gives the same text."""
    return _VALUES_JSON.encode(_jsonable(raw))


def _yesterday(today_iso: str) -> str:
    return (date.fromisoformat(today_iso) - timedelta(days=1)).isoformat()


def _owner(r: _Run, owner: str) -> str | None:
    """The owner Id an action names: an Account user field (else the owner), or a queue of the org."""
    account = r.data.account
    kind, _, name = owner.partition(":")
    if kind == "account":
        return account.get(name) or account.get("OwnerId") or None
    queues = r.data.attrs.get("queues") or {}
    found = queues.get(name) if isinstance(queues, Mapping) else None
    return None if found is None else str(found)


def _unresolved(r: _Run, rule: CompiledRule, path: str, owner: str, sobject: str, key: str) -> Desired | None:
    """A hold for a Task/Case whose queue the org lacks: kept if it exists, not created, and reported.

    Never a fallback to another owner: a Case created for the wrong owner would stay there.
    """
    if not owner.startswith("queue:") or _owner(r, owner) is not None:
        return None
    name = owner.partition(":")[2]
    r.warnings.append(
        f'{r.ms.file_label(RISK_FILE)}: rule "{rule.spec.name}" → {path}: the org has no queue "{name}"; '
        f"the {sobject} for {r.data.store_id} is not created until the queue exists or the owner is fixed"
    )
    return records.hold(sobject, key, r.data.store_id, f"held: no queue {name}")


def _records(
    r: _Run, rule: CompiledRule, item: str, key: str, hold: bool
) -> tuple[list[Desired], dict[str, Any]]:
    """The flag, Task and Case of a fired (or held-open) rule instance."""
    data, spec = r.data, rule.spec
    account_id = data.account.get("Id")
    raw, shown, _ = _evidence(r, rule, item)
    base = _rule_values(r, rule, item, "")
    title = render(spec.title, {**base, **shown})
    values = {**base, **shown, "title": title, "flag_key": key}
    if spec.case is not None:  # the Task names the Case it refers to (CaseNumber is not known yet)
        values["case_key"] = ACTIVITY_PREFIX + key
    values["category"] = render(spec.category, values) if spec.category else item
    evidence = _evidence_text(rule, title, values)
    values["evidence"] = evidence
    if spec.case is not None:
        values["case_subject"] = records.clip("Subject", render(spec.case.subject, values))
    reason = f"rule {spec.name} v{spec.version}: {title}"
    out = [
        records.flag(
            key,
            account_id=account_id,
            rule=spec.name,
            name=title,
            severity=spec.severity,
            evidence=evidence,
            category=values["category"],
            now=data.now,
            store_id=data.store_id,
            version=str(spec.version),
            evidence_data=evidence_data(raw),
            reason=reason,
            hold=hold,
        )
    ]
    activity = ACTIVITY_PREFIX + key
    task_hold = _unresolved(r, rule, "task.owner", spec.task.owner, "Task", activity) if spec.task else None
    case_hold = _unresolved(r, rule, "case.owner", spec.case.owner, "Case", activity) if spec.case else None
    if task_hold is not None:
        out.append(task_hold)
    elif spec.task is not None:
        task = spec.task
        out.append(
            records.task(
                activity,
                account_id=account_id,
                subject=render(task.subject, values),
                description=render(task.description, values),
                priority=task.priority,
                due=data.today + timedelta(days=task.due_in_days),
                status=task.status,
                owner=_owner(r, task.owner),
                type=task.type,
                store_id=data.store_id,
                reason=reason,
            )
        )
    if case_hold is not None:
        out.append(case_hold)
    elif spec.case is not None:
        case = spec.case
        out.append(
            records.case(
                activity,
                account_id=account_id,
                subject=render(case.subject, values),
                description=render(case.description, values),
                priority=case.priority,
                status=case.status,
                origin=case.origin,
                owner=_owner(r, case.owner) if case.owner else None,
                type=case.type,
                store_id=data.store_id,
                reason=reason,
            )
        )
    return out, raw


def _truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def _hold(r: _Run, rule: CompiledRule, item: str, key: str, desired: list[Desired]) -> None:
    """Keep an open flag (and its Task/Case) as they are: the rule could not decide this time."""
    recs, _ = _records(r, rule, item, key, hold=True)
    desired += recs


def _rules(r: _Run) -> tuple[list[RuleTrace], list[Desired], int]:
    """Run every rule instance in dependency order.

    This loop runs ~30 times per account, so it evaluates compiled code directly rather than through
    helper layers, and outside explain it records only the instances that did something (not "clear").
    """
    data, ms, trace = r.data, r.ms, r.trace
    attrs = data.attrs
    open_flags: Mapping[str, str] = attrs.get("open_flags") or {}
    recent: Mapping[str, Any] = attrs.get("recent_resolved") or {}
    period_day = data.today - timedelta(days=1)
    traces: list[RuleTrace] = []
    desired: list[Desired] = []
    open_count = 0
    ns = r.risk_ns
    fired_rules = r.metrics.fired_rules

    for rule in ms.rules:
        spec = rule.spec
        name, var = spec.name, rule.var
        items: Sequence[str] = ("",)
        if rule.for_each is not None:
            try:
                got = r.run(rule.for_each, ns, "rule", name, "for_each")
                items = list(dict.fromkeys([str(x).replace(":", "_") for x in (got or ())]))
            except EvaluationError as exc:
                for instance, key in open_flags.items():
                    if instance.startswith(name + "/"):
                        ns[var] = instance.split("/", 1)[1]
                        _hold(r, rule, ns[var], key, desired)
                        open_count += 1
                why = f"for_each failed: {exc}"
                traces.append(RuleTrace(name, "", name, "error", why, calls=r.calls()))
                continue
            r.calls()
        stale_for_all = r.metrics.stale_of(rule.fresh_static) if rule.fresh_static else ()
        when_code = rule.when.code
        for item in items:
            if var:
                ns[var] = item
            instance = f"{name}/{item}" if item else name
            open_key = open_flags.get(instance) if open_flags else None
            stale = stale_for_all
            if rule.fresh_templates:
                stale += _stale(r.metrics, [render(t, {var: item}) for t in rule.fresh_templates])
            if stale:
                if open_key:
                    _hold(r, rule, item, open_key, desired)
                    open_count += 1
                why = f"data stale ({', '.join(stale)}): neither raised nor resolved"
                traces.append(RuleTrace(name, item, instance, "held", why, key=open_key or ""))
                continue
            part = "when"
            try:
                when = eval(when_code, ns)  # noqa: S307 - checked, compiled expression (see expressions.py)
                fire = bool(when) and not (when.__class__ is float and isnan(when))  # NaN: no data, no fire
                suppressed = False
                if not fire and open_key and rule.resolve_when is not None:
                    part = "resolve_when"
                    resolved = eval(rule.resolve_when.code, ns)  # noqa: S307 - as above
                    fire = not (bool(resolved) and not (resolved.__class__ is float and isnan(resolved)))
                if fire and rule.suppress_if is not None:
                    part = "suppress_if"
                    held_by = eval(rule.suppress_if.code, ns)  # noqa: S307 - as above
                    suppressed = bool(held_by) and not (held_by.__class__ is float and isnan(held_by))
            except EVALUATION_ERRORS as exc:
                source = getattr(getattr(rule, part), "source", "")
                message = f"{source}: {type(exc).__name__}: {exc}"
                r.errors.append(f"rule {instance} {part}: {message}")
                if open_key:
                    _hold(r, rule, item, open_key, desired)
                    open_count += 1
                why = f"{part} failed ({message}); flag left as it is"
                traces.append(
                    RuleTrace(name, item, instance, "error", why, key=open_key or "", calls=r.calls())
                )
                continue
            if not fire:
                if trace:
                    traces.append(
                        RuleTrace(name, item, instance, "clear", "when is false", when, calls=r.calls())
                    )
                continue
            calls = r.calls() if trace else ()
            if suppressed:
                held = rule.suppress_if.source if rule.suppress_if else ""
                why = f"when is true but suppress_if holds ({held})"
                traces.append(RuleTrace(name, item, instance, "suppressed", why, when, calls=calls))
                continue
            if not open_key and rule.cooldown_days > 0 and instance in recent:
                last = parse_time(recent[instance])
                if isinstance(last, datetime) and last.tzinfo is None:
                    last = last.replace(tzinfo=UTC)
                if isinstance(last, datetime) and data.now - last < timedelta(days=rule.cooldown_days):
                    # The cause is still detected, only not re-raised: rules that defer to it stay quiet.
                    fired_rules.add(name)
                    fired_rules.add(instance)
                    until = _show_time(last + timedelta(days=rule.cooldown_days))
                    why = f"when is true but it resolved {_show_time(last)}; cooling down until {until}"
                    traces.append(RuleTrace(name, item, instance, "cooldown", why, when, calls=calls))
                    continue
            why = "when is true" if when else "still open: resolve_when is not met yet"
            key = open_key or flag_key(data.store_id, instance, period_label(rule.period, period_day))
            fired_rules.add(name)
            fired_rules.add(instance)
            recs, raw = _records(r, rule, item, key, hold=False)
            desired += recs
            open_count += 1
            traces.append(RuleTrace(name, item, instance, "fired", why, when, key, calls + r.calls(), raw))
        if var:
            ns.pop(var, None)
    return traces, desired, open_count


def evaluate_account(mapping_set: MappingSet, data: AccountData, *, trace: bool = False) -> AccountOutcome:
    """Evaluate one store: Account fields (KPIs, health), and risk flags with their Tasks and Cases.

    Pure: the result depends only on the mapping set and `data` (time included), so `plan` is
    reproducible and `explain` — a re-run with tracing — tells the truth about what was decided.
    """
    ms = mapping_set
    r = _Run(ms, data, trace)
    hf = ms.health_file

    kpi_stale = _stale(r.metrics, hf.requires_fresh)
    field_values: dict[str, Any] = {}
    field_traces: list[FieldTrace] = []
    if not kpi_stale:
        ns = r.health_ns
        for name, expr in ms.fields:
            try:
                value = _clean(eval(expr.code, ns))  # noqa: S307 - checked, compiled expression
            except EVALUATION_ERRORS as exc:
                r.note(expr, exc, "field", name)
                r.calls()
                continue
            if not _scalar(value):
                # An expression whose type the loader could not infer gave a list or a table: no
                # Salesforce field holds one. This store's field is left as it is, the error says why.
                r.errors.append(
                    f"field {name}: {expr.source}: gives {_kind_of(value)}, "
                    "but a Salesforce field takes one value; the field is left unchanged"
                )
                r.calls()
                continue
            field_values[name] = value
            if trace:
                field_traces.append(FieldTrace(name, expr.source, value, r.calls()))

    health, health_fields, touch = _health(r)
    rule_traces, risk_desired, open_count = _rules(r)

    live: bool | None = None
    progress: float | None = None
    try:
        live = _truthy(r.run(ms.live, r.health_ns, "rollup.live"))
        p = r.run(ms.onboarding_progress, r.health_ns, "rollup.onboarding_progress")
        progress = float(p) if isinstance(p, int | float) and _known(p) else None
    except EvaluationError:
        pass
    r.calls()

    desired: list[Desired] = []
    if not data.account.get("Id"):
        r.errors.append(f"store {data.store_id} has no Salesforce Account (no Id): nothing is written for it")
    else:
        account_fields = {**field_values, **health_fields, hf.open_risk_count_field: open_count}
        desired.append(
            Desired(
                sobject=hf.object,
                key_field=hf.match_key,
                key=data.store_id,
                fields=account_fields,
                touch=touch,
                account_key=data.store_id,
                reason="account health and KPIs",
            )
        )
        desired += risk_desired

    errors = tuple(r.errors)
    traced = None
    if trace:
        traced = Explain(data.store_id, data.today, tuple(field_traces), kpi_stale, health,
                         tuple(rule_traces), errors)  # fmt: skip
    return AccountOutcome(
        store_id=data.store_id,
        desired=desired,
        rules=tuple(rule_traces),
        health=health,
        fields=field_values,
        live=live,
        onboarding_progress=progress,
        open_risks=open_count,
        errors=errors,
        mapping_set=ms,
        data=data,
        traced=traced,
        warnings=tuple(dict.fromkeys(r.warnings)),
    )


def managed(mapping_set: MappingSet, now: datetime) -> list[Managed]:
    """The records risk rules own, and how each is closed when no longer desired.

    Flags are scoped per rule (`Rule__c`), so flags written by anything else are never closed here;
    Tasks by the `risk:` key prefix. Snoozed flags and Tasks a person closed are left alone. Cases
    belong to engineering once opened and are not closed automatically.
    """
    out = [
        records.close_flags(now, rule=r.name, reason=f"rule {r.name}: condition cleared")
        for r in mapping_set.rules
    ]
    note = f"Closed automatically: condition cleared on {now.date().isoformat()}."
    out.append(records.close_tasks(ACTIVITY_PREFIX, "risk condition cleared", note))
    return out
