"""Loading the mapping files into a MappingSet, gathering every problem across every file into one error."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from configfiles import pydantic_issues, read_toml
from configfiles.issues import unique_issues
from configfiles.translate import finite_message
from configfiles.translate import show as _show
from mappings.describe import validate_against_describe
from mappings.expressions import (
    CONSTANT_NAMES,
    Expression,
    ExpressionError,
    Scope,
    compile_expression,
    did_you_mean,
    namespace,
)
from mappings.functions import CLOCK_FUNCTIONS, KNOWN_METRICS, SPECS
from mappings.issues import FILES, HEALTH_FILE, RISK_FILE, SOURCES_FILE, MappingError, MappingIssue
from mappings.schema import (
    FIELD_NAME,
    PARAM_NAME,
    AccountHealthFile,
    Component,
    EvidenceFormat,
    ParamValue,
    Period,
    RiskRulesFile,
    Rule,
    SourcesFile,
    normalize_evidence,
    validate_strict,
)
from mappings.templates import placeholders, unknown_placeholders

DEFAULT_DIRECTORY = Path(__file__).parent

# Variables every expression may read; Account fields are read by their API names on top of these.
BASE_NAMES: dict[str, str] = {
    "today": "date",
    "yesterday": "date",
    "now": "datetime",
    "store_id": "text",
    "state": "text",
}
# Placeholders every rule template may use, filled by the evaluator (see README "Templates").
AUTO_PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "evidence", "title", "rule", "version", "severity", "store_id", "account_name", "state",
        "today", "window", "baseline", "data_as_of", "flag_key", "case_subject", "case_key",
    }
)  # fmt: skip
LITERAL_NOUNS: dict[tuple[str, ...], str] = {
    ("task", "priority"): "a Task priority",
    ("case", "priority"): "a Case priority",
    ("severity",): "a severity",
    ("period",): "a period",
    ("format",): "an evidence format",
    ("object",): "a supported target object",
    ("missing",): 'a missing-data policy ("skip" or points)',
}


@dataclass(frozen=True)
class CompiledComponent:
    name: str
    label: str
    weight: float
    expr: Expression
    scale: tuple[tuple[float, float], ...] | None
    thresholds: tuple[tuple[float, float], ...] | None
    format: EvidenceFormat
    missing: str | float

    def points(self, raw: float) -> float:
        """Raw value to 0-100: piecewise linear over `scale`, or the step `thresholds` reached."""
        if self.scale is not None:
            pts = self.scale
            if raw <= pts[0][0]:
                return pts[0][1]
            for x0, p0, x1, p1 in self._segments:
                if raw <= x1:
                    return p0 + (p1 - p0) * (raw - x0) / (x1 - x0)
            return pts[-1][1]
        steps = self.thresholds or ()
        reached = [p for at, p in steps if raw >= at]
        return reached[-1] if reached else 0.0

    @cached_property
    def _segments(self) -> tuple[tuple[float, float, float, float], ...]:
        """The scale's consecutive point pairs, flattened once (points() runs per component per store)."""
        return tuple((x0, p0, x1, p1) for (x0, p0), (x1, p1) in pairwise(self.scale or ()))


@dataclass(frozen=True)
class CompiledEvidence:
    name: str
    label: str
    format: EvidenceFormat
    expr: Expression


@dataclass(frozen=True)
class CompiledRule:
    spec: Rule
    when: Expression
    suppress_if: Expression | None
    resolve_when: Expression | None
    for_each: Expression | None
    var: str
    evidence: tuple[CompiledEvidence, ...]
    cooldown_days: int
    period: Period

    @property
    def name(self) -> str:
        return self.spec.name

    @cached_property
    def fresh_static(self) -> tuple[str, ...]:
        """requires_fresh sources without placeholders: checked once per account, not per item."""
        return tuple(s for s in self.spec.requires_fresh if "{" not in s)

    @cached_property
    def fresh_templates(self) -> tuple[str, ...]:
        return tuple(s for s in self.spec.requires_fresh if "{" in s)

    @cached_property
    def uses_baseline(self) -> bool:
        exprs = [e for e in (self.when, self.suppress_if, self.resolve_when) if e is not None]
        exprs += [ev.expr for ev in self.evidence]
        return any(e.functions & {"baseline", "vs_baseline", "robust_z"} for e in exprs)


@dataclass(frozen=True)
class MappingSet:
    """The loaded, checked and compiled mapping files: what evaluate_account runs, once per run."""

    directory: Path
    sources: SourcesFile
    health_file: AccountHealthFile
    risk_file: RiskRulesFile
    fields: tuple[tuple[str, Expression], ...]
    components: tuple[CompiledComponent, ...]
    rules: tuple[CompiledRule, ...]  # in evaluation order: a rule after the rules its fired() reads
    live: Expression
    onboarding_progress: Expression
    health_params: Mapping[str, Any] = field(default_factory=dict)
    risk_params: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def stale_after(self) -> dict[str, float]:
        return {name: s.stale_after_hours for name, s in self.sources.sources.items()}

    @cached_property
    def health_namespace(self) -> dict[str, Any]:
        """The per-run part of account_health.toml's namespace; each account copies it and adds its own."""
        return namespace({}, self.health_params)

    @cached_property
    def risk_namespace(self) -> dict[str, Any]:
        return namespace({}, self.risk_params)

    @cached_property
    def component_formats(self) -> dict[str, str]:
        """Evidence format per health component name, for the drivers line."""
        return {c.name: c.format for c in self.components}

    @cached_property
    def pull_measured(self) -> frozenset[str]:
        """Sources whose freshness is the age of the last successful pull, not of the newest data."""
        return frozenset(name for name, s in self.sources.sources.items() if s.measured_by == "pull")

    @cached_property
    def feed_sources(self) -> frozenset[str]:
        return frozenset(name for name, s in self.sources.sources.items() if s.feed)

    @cached_property
    def account_fields(self) -> frozenset[str]:
        """Every Account field an expression reads: the jobs must select these in their SOQL."""
        exprs: list[Expression] = [e for _, e in self.fields]
        exprs += [c.expr for c in self.components] + [self.live, self.onboarding_progress]
        for r in self.rules:
            exprs += [e for e in (r.when, r.suppress_if, r.resolve_when, r.for_each) if e is not None]
            exprs += [ev.expr for ev in r.evidence]
        out: set[str] = set()
        for e in exprs:
            out |= e.account_fields
        return frozenset(out)

    @cached_property
    def objects(self) -> frozenset[str]:
        """The Salesforce objects this set writes: the describes `validate_against_describe` needs."""
        out: set[str] = {self.health_file.object}
        if self.rules:
            out.add("Risk_Flag__c")
        if any(r.spec.task is not None for r in self.rules):
            out.add("Task")
        if any(r.spec.case is not None for r in self.rules):
            out.add("Case")
        return frozenset(out)

    @property
    def summary(self) -> str:
        """One line for `csm-sync validate`: what was loaded."""
        tasks = sum(1 for r in self.rules if r.spec.task is not None)
        cases = sum(1 for r in self.rules if r.spec.case is not None)
        return (
            f"{self.directory.name}/: {len(self.fields)} KPI fields, "
            f"{len(self.components)} health components, {len(self.rules)} risk rules "
            f"({tasks} with a Task, {cases} with a Case), "
            f"{len(self.sources.sources)} sources"
        )

    def rule(self, name: str) -> CompiledRule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def file_label(self, filename: str) -> str:
        return f"{self.directory.name}/{filename}"


# -- pydantic errors into sentences ----------------------------------------------------------------
def _pydantic_issues(
    file: str, where: str, model: type[BaseModel], exc: ValidationError, prefix: tuple[str | int, ...] = ()
) -> list[MappingIssue]:
    """The shared translator's issues; a param's union type adds a segment per member, said once here."""
    params: list[MappingIssue] = []
    rest = []
    for err in exc.errors():
        loc = prefix + tuple(err["loc"])
        if loc and loc[0] == "params" and len(loc) >= 2:
            bad = err.get("input")
            text = (
                finite_message(bad)
                if isinstance(bad, float) and not math.isfinite(bad)
                else "expected a number, text, true/false or a list of them"
            )
            params.append(MappingIssue(file, where, f"params.{loc[1]}", text))
        else:
            rest.append(err)
    issues = pydantic_issues(file, rest, model=model, where=where, prefix=prefix, nouns=LITERAL_NOUNS)
    return unique_issues([*params, *issues])


# -- reading files ---------------------------------------------------------------------------------
def _read_toml(path: Path, label: str, issues: list[MappingIssue]) -> dict[str, Any] | None:
    raw, problems = read_toml(path, label)
    issues.extend(problems)
    return raw


def _param_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "list"


_KIND_WORDS = {
    "bool": "a condition (true or false)",
    "number": "a number",
    "text": "text",
    "list": "a list",
    "date": "a date",
    "datetime": "a time",
    "none": "nothing (None)",
}


class _Compiler:
    """Compiles expressions of one file, turning ExpressionErrors into located issues."""

    def __init__(self, label: str, issues: list[MappingIssue]) -> None:
        self.label = label
        self.issues = issues

    def expr(
        self, source: str, scope: Scope, where: str, path: str, want: tuple[str, ...] = ()
    ) -> Expression | None:
        try:
            compiled = compile_expression(source, scope)
        except ExpressionError as exc:
            for problem in exc.problems:
                self.issues.append(MappingIssue(self.label, where, path, problem))
            return None
        if want and compiled.type not in (*want, "any"):
            wanted = " or ".join(_KIND_WORDS.get(w, w) for w in want)
            got = _KIND_WORDS.get(compiled.type, compiled.type)
            self.issues.append(MappingIssue(self.label, where, path, f"must give {wanted}, but gives {got}"))
            return None
        return compiled

    def add(self, where: str, path: str, message: str) -> None:
        self.issues.append(MappingIssue(self.label, where, path, message))


def _check_params(params: Mapping[str, ParamValue], c: _Compiler) -> None:
    reserved = {*SPECS, *BASE_NAMES, *CONSTANT_NAMES}
    for name in params:
        if not PARAM_NAME.match(name):
            c.add(f'param "{name}"', "", "param names are lower_snake_case (they are read as plain names)")
        elif name in reserved:
            c.add(f'param "{name}"', "", f'"{name}" is already a function or variable; choose another name')


def _load_sources(raw: dict[str, Any] | None, label: str, issues: list[MappingIssue]) -> SourcesFile | None:
    if raw is None:
        return None
    try:
        sources = validate_strict(SourcesFile, raw)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(label, "", SourcesFile, exc))
        return None
    for name in sources.sources:
        if not PARAM_NAME.match(name):
            issues.append(MappingIssue(label, f'source "{name}"', "", "source names are lower_snake_case"))
    return sources


def _check_sources_list(
    names: Iterable[str], known: frozenset[str], c: _Compiler, where: str, path: str, var: str = ""
) -> None:
    if not known:
        return
    for name in names:
        used, problems = placeholders(name)
        if problems or any(u != var for u in used):
            c.add(
                where,
                path,
                f'"{name}" may only use the placeholder {{{var}}}'
                if var
                else f'"{name}" is not a source name',
            )
            continue
        if used:
            continue
        if name not in known:
            hint = did_you_mean(name, known)
            c.add(where, path, f'unknown source "{name}"{hint} (known: {", ".join(sorted(known))})')


def _load_health(
    raw: dict[str, Any] | None, label: str, issues: list[MappingIssue], base: Scope
) -> (
    tuple[AccountHealthFile, list[tuple[str, Expression]], list[CompiledComponent], Expression, Expression]
    | None
):
    if raw is None:
        return None
    c = _Compiler(label, issues)
    raw = dict(raw)
    health_raw = raw.get("health", {})
    components_raw: Any = {}
    if isinstance(health_raw, dict):
        health_raw = dict(health_raw)
        components_raw = health_raw.pop("components", {})
        raw["health"] = health_raw
    try:
        model = validate_strict(AccountHealthFile, raw)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(label, "", AccountHealthFile, exc))
        return None
    components: dict[str, Component] = {}
    invalid: list[tuple[str, Any, ValidationError]] = []
    if not isinstance(components_raw, dict):
        c.add("", "health.components", f"expected a table, got {_show(components_raw)}")
    else:
        for name, comp_raw in components_raw.items():
            where = f'component "{name}"'
            try:
                components[name] = validate_strict(Component, comp_raw)
            except ValidationError as exc:
                issues.extend(_pydantic_issues(label, where, Component, exc))
                invalid.append((where, comp_raw, exc))
    _check_params(model.params, c)
    scope = base.with_names({k: _param_type(v) for k, v in model.params.items()})
    for where, comp_raw, error in invalid:  # the rest of a component with a bad key is checked too
        _check_other_exprs(comp_raw, {"expr": ("number", "bool")}, error, scope, c, where)
    known_sources = base.sources
    _check_sources_list(model.requires_fresh, known_sources, c, "", "requires_fresh")
    if model.health.requires_fresh is not None:
        _check_sources_list(model.health.requires_fresh, known_sources, c, "", "health.requires_fresh")

    targets = model.health.targets
    written = {
        getattr(targets, k) for k in ("score", "band", "trend", "change", "drivers", "stale", "updated_at")
    }
    fields: list[tuple[str, Expression]] = []
    for name, source in model.fields.items():
        where = f'field "{name}"'
        if not FIELD_NAME.match(name):
            c.add(where, "", "is not a Salesforce field API name")
            continue
        if name in (targets.override, targets.override_reason):
            c.add(where, "", f"{name} belongs to CSMs: csm-sync reads it and never writes it")
            continue
        if name in written or name in (model.match_key, model.open_risk_count_field):
            c.add(where, "", f"{name} is written by the health score; map another field")
            continue
        if not isinstance(source, str):
            continue
        compiled = c.expr(source, scope, where, "")
        if compiled is not None:
            fields.append((name, compiled))

    bands = model.health.bands
    for key in ("green", "yellow"):
        value = getattr(bands, key)
        if not 0 <= value <= 100:
            c.add("", f"health.bands.{key}", f"must be between 0 and 100, got {_show(value)}")
    if bands.green <= bands.yellow:
        c.add(
            "",
            "health.bands",
            f"green ({_show(bands.green)}) must be above yellow ({_show(bands.yellow)}): "
            "a score at or above green is Green, at or above yellow is Yellow, else Red",
        )
    if not components and isinstance(components_raw, dict) and not components_raw:
        c.add("", "health.components", "the score needs at least one component")

    compiled_components: list[CompiledComponent] = []
    for name, comp in components.items():
        where = f'component "{name}"'
        ok = True
        if not PARAM_NAME.match(name):
            c.add(where, "", "component names are lower_snake_case")
            ok = False
        if isinstance(comp.missing, float | int) and not 0 <= comp.missing <= 100:
            c.add(where, "missing", f"points must be between 0 and 100, got {_show(comp.missing)}")
            ok = False
        if comp.weight <= 0:
            c.add(where, "weight", f"must be positive, got {_show(comp.weight)}")
            ok = False
        if (comp.scale is None) == (comp.thresholds is None):
            c.add(where, "", "give exactly one of scale (piecewise linear) or thresholds (steps)")
            ok = False
        for key in ("scale", "thresholds"):
            pts = getattr(comp, key)
            if pts is None:
                continue
            if len(pts) < (2 if key == "scale" else 1):
                c.add(where, key, f"needs at least {2 if key == 'scale' else 1} [value, points] pairs")
                ok = False
            bad = [p for _, p in pts if not 0 <= p <= 100]
            if bad:
                c.add(where, key, f"points must be between 0 and 100, got {_show(bad[0])}")
                ok = False
            xs = [x for x, _ in pts]
            for a, b in pairwise(xs):
                if b <= a:
                    c.add(where, key, f"values must increase: {_show(b)} comes after {_show(a)}")
                    ok = False
                    break
        compiled = c.expr(comp.expr, scope, where, "expr", want=("number", "bool"))
        if compiled is None or not ok:
            continue
        compiled_components.append(
            CompiledComponent(
                name, comp.label or name.replace("_", " ").capitalize(), comp.weight, compiled,
                comp.scale, comp.thresholds, comp.format, comp.missing,
            )
        )  # fmt: skip
    live = c.expr(model.rollup.live, scope, "", "rollup.live", want=("bool",))
    progress = c.expr(
        model.rollup.onboarding_progress, scope, "", "rollup.onboarding_progress", want=("number",)
    )
    if live is None or progress is None:
        return None
    return model, fields, compiled_components, live, progress


RULE_EXPRS: dict[str, tuple[str, ...]] = {
    "when": ("bool",),
    "suppress_if": ("bool",),
    "resolve_when": ("bool",),
}


def _check_other_exprs(
    raw: Any,
    exprs: Mapping[str, tuple[str, ...]],
    exc: ValidationError,
    scope: Scope,
    c: _Compiler,
    where: str,
) -> None:
    """Compile the expressions of an entry that failed validation on another key, so one mistake
    does not hide a second one in the same component or rule until the first is fixed."""
    if not isinstance(raw, dict):
        return
    flagged = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
    for key, want in exprs.items():
        source = raw.get(key)
        if key not in flagged and isinstance(source, str):
            c.expr(source, scope, where, key, want=want)


def _rule_label(raw: Any, index: int) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    return f'rule "{name}"' if isinstance(name, str) and name else f"rule #{index + 1}"


def _load_risk(
    raw: dict[str, Any] | None, label: str, issues: list[MappingIssue], base: Scope
) -> tuple[RiskRulesFile, list[CompiledRule]] | None:
    if raw is None:
        return None
    c = _Compiler(label, issues)
    raw = dict(raw)
    rules_raw = raw.pop("rules", [])
    try:
        top = validate_strict(RiskRulesFile, raw)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(label, "", RiskRulesFile, exc))
        top = None
    if not isinstance(rules_raw, list):
        c.add("", "rules", "expected an array of rules ([[rules]] tables)")
        rules_raw = []
    _check_params(top.params if top else {}, c)
    params = top.params if top else {}
    defaults = top.defaults if top else None

    all_names = {r.get("name") for r in rules_raw if isinstance(r, dict) and isinstance(r.get("name"), str)}
    # A param refused above is still a known name: its own issue says what is wrong, not every use.
    raw_params = raw.get("params")
    named = {str(k): "any" for k in raw_params} if isinstance(raw_params, dict) and top is None else {}
    scope = Scope(
        {**base.names, **named, **{k: _param_type(v) for k, v in params.items()}},
        base.sources,
        frozenset(n for n in all_names if n),
        base.metrics,
    )
    first_seen: dict[str, int] = {}
    compiled: list[CompiledRule] = []
    for index, rule_raw in enumerate(rules_raw):
        where = _rule_label(rule_raw, index)
        if not isinstance(rule_raw, dict):
            c.add(where, "", f"expected a table, got {_show(rule_raw)}")
            continue
        normalized = {**rule_raw, "evidence": normalize_evidence(rule_raw.get("evidence", {}))}
        try:
            rule = validate_strict(Rule, normalized)
        except ValidationError as exc:
            issues.extend(_pydantic_issues(label, where, Rule, exc))
            _check_other_exprs(rule_raw, RULE_EXPRS, exc, scope, c, where)
            continue
        if rule.name in first_seen:
            c.add(where, "name", f"duplicate rule name (first defined as rule #{first_seen[rule.name] + 1})")
            continue
        first_seen[rule.name] = index
        built = _compile_rule(rule, scope, params, defaults.cooldown_days if defaults else 7,
                              defaults.period if defaults else "week", c, where)  # fmt: skip
        if built is not None:
            compiled.append(built)
    if top is None:
        return None
    ordered = _order_rules(compiled, c)
    return top.model_copy(update={"rules": tuple(r.spec for r in compiled)}), ordered


def _compile_rule(
    rule: Rule,
    scope: Scope,
    params: Mapping[str, Any],
    default_cooldown: int,
    default_period: Period,
    c: _Compiler,
    where: str,
) -> CompiledRule | None:
    before = len(c.issues)
    var = ""
    for_each: Expression | None = None
    if rule.for_each is not None:
        var = rule.for_each.var
        if not PARAM_NAME.match(var):
            c.add(where, "for_each.var", f'"{var}" is not a variable name (lower_snake_case)')
        elif var in scope.names or var in SPECS or var in CONSTANT_NAMES:
            c.add(where, "for_each.var", f'"{var}" is already a function, variable or param')
        for_each = c.expr(rule.for_each.in_, scope, where, "for_each.in", want=("list",))
    rule_scope = scope.with_names({var: "text"}) if var else scope
    when = c.expr(rule.when, rule_scope, where, "when", want=("bool",))
    suppress = (
        c.expr(rule.suppress_if, rule_scope, where, "suppress_if", ("bool",)) if rule.suppress_if else None
    )
    resolve = (
        c.expr(rule.resolve_when, rule_scope, where, "resolve_when", ("bool",)) if rule.resolve_when else None
    )
    evidence: list[CompiledEvidence] = []
    for name, item in rule.evidence.items():
        path = f"evidence.{name}"
        if not PARAM_NAME.match(name):
            c.add(where, path, "evidence names are lower_snake_case (they become {placeholders})")
            continue
        if name in AUTO_PLACEHOLDERS or name == var:
            c.add(where, path, f'"{name}" is filled in automatically; choose another evidence name')
            continue
        compiled = c.expr(item.expr, rule_scope, where, path)
        clocked = sorted(CLOCK_FUNCTIONS & compiled.functions) if compiled is not None else []
        if clocked and item.format != "age":
            c.add(where, f"{path}.format",
                  f"{clocked[0]}() is measured from the run's clock, so the flag would be rewritten on every "
                  'run; set format = "age" (written as the time it is measured from) '
                  "or show the time itself (last_data, last_success)")  # fmt: skip
        elif compiled is not None:
            label = item.label or name.replace("_", " ").capitalize()
            evidence.append(CompiledEvidence(name, label, item.format, compiled))
    _check_sources_list(rule.requires_fresh, scope.sources, c, where, "requires_fresh", var)

    names = {*rule.evidence, *params}
    if var:
        names.add(var)
    basic = {"store_id", "rule", "version", "state", "account_name", "today", "window"}
    _check_template(rule.title, names | basic | {"severity"}, c, where, "title")
    if rule.category:
        _check_template(rule.category, names | basic, c, where, "category")
    everything = names | AUTO_PLACEHOLDERS | {"category"}
    if rule.task is not None:
        _check_template(rule.task.subject, everything, c, where, "task.subject")
        _check_template(rule.task.description, everything, c, where, "task.description")
    if rule.case is not None:
        _check_template(rule.case.subject, everything, c, where, "case.subject")
        _check_template(rule.case.description, everything, c, where, "case.description")
    if len(c.issues) > before or when is None:
        return None
    return CompiledRule(
        spec=rule,
        when=when,
        suppress_if=suppress,
        resolve_when=resolve,
        for_each=for_each,
        var=var,
        evidence=tuple(evidence),
        cooldown_days=default_cooldown if rule.cooldown_days is None else rule.cooldown_days,
        period=rule.period or default_period,
    )


def _check_template(template: str, known: set[str], c: _Compiler, where: str, path: str) -> None:
    _, problems = placeholders(template)
    for problem in problems:
        c.add(where, path, problem)
    for name, close in unknown_placeholders(template, known):
        hint = f"; did you mean {{{close}}}?" if close else ""
        c.add(where, path, f"unknown placeholder {{{name}}}{hint}")


def _order_rules(rules: list[CompiledRule], c: _Compiler) -> list[CompiledRule]:
    """Rules that read fired("x") run after x; a cycle is an error, file order breaks ties."""
    by_name = {r.name: r for r in rules}
    deps: dict[str, set[str]] = {}
    for r in rules:
        used: set[str] = set()
        for e in (r.when, r.suppress_if, r.resolve_when, r.for_each):
            if e is not None:
                used |= e.rules
        for ev in r.evidence:
            used |= ev.expr.rules
        deps[r.name] = {d for d in used if d in by_name}
    ordered: list[CompiledRule] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = " → ".join([*trail[trail.index(name) :], name])
            c.add(f'rule "{name}"', "", f"fired() references form a cycle: {cycle}")
            return
        state[name] = 1
        for d in sorted(deps[name], key=lambda n: rules.index(by_name[n])):
            visit(d, [*trail, name])
        state[name] = 2
        ordered.append(by_name[name])

    for r in rules:
        visit(r.name, [])
    return ordered


def load_mapping_set(directory: Path = DEFAULT_DIRECTORY) -> MappingSet:
    """Read, check and compile the mapping files in `directory`; raises MappingError listing all issues."""
    directory = Path(directory)
    issues: list[MappingIssue] = []

    def label(name: str) -> str:
        return f"{directory.name}/{name}"

    raws = {name: _read_toml(directory / name, label(name), issues) for name in FILES}
    sources = _load_sources(raws[SOURCES_FILE], label(SOURCES_FILE), issues)
    metrics = KNOWN_METRICS | set(sources.extra_metrics if sources else ())
    base = Scope(
        BASE_NAMES,
        frozenset(sources.sources) if sources else frozenset(),
        frozenset(),
        frozenset(metrics),
    )
    health = _load_health(raws[HEALTH_FILE], label(HEALTH_FILE), issues, base)
    risk = _load_risk(raws[RISK_FILE], label(RISK_FILE), issues, base)
    if issues or sources is None or health is None or risk is None:
        raise MappingError(issues or [MappingIssue(label(HEALTH_FILE), message="could not be loaded")])
    health_file, fields, components, live, progress = health
    risk_file, rules = risk
    return MappingSet(
        directory=directory,
        sources=sources,
        health_file=health_file,
        risk_file=risk_file,
        fields=tuple(fields),
        components=tuple(components),
        rules=tuple(rules),
        live=live,
        onboarding_progress=progress,
        health_params=dict(health_file.params),
        risk_params=dict(risk_file.params),
    )


__all__ = [
    "FILES",
    "HEALTH_FILE",
    "RISK_FILE",
    "SOURCES_FILE",
    "MappingError",
    "MappingIssue",
    "MappingSet",
    "load_mapping_set",
    "validate_against_describe",
]
