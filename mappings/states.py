"""State rules and brand MSRP lists as data, and the pure checks of menus and promotions against them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from configfiles import read_toml
from mappings.functions import CATEGORIES
from mappings.lifecycle import FileError, FileIssue, Model, Severity, as_date, number, parse_model

RuleGroup = Literal["potency_display", "purchase_limits", "marketing_language"]
RuleKind = Literal["potency_unit", "serving_max_mg", "package_max_mg", "purchase_limit", "banned_words"]
GROUP_TITLES: dict[str, str] = {
    "potency_display": "Potency display",
    "purchase_limits": "Purchase limits",
    "marketing_language": "Marketing language",
}
RULE_ID = re.compile(r"^[a-z]{2}-[a-z0-9]+(?:-[a-z0-9]+)*$")
STATE_CODE = re.compile(r"^[A-Z]{2}$")
CATEGORY_ALIASES: dict[str, str] = {
    "edible": "edibles",
    "pre_roll": "pre_rolls",
    "preroll": "pre_rolls",
    "prerolls": "pre_rolls",
    "pre-roll": "pre_rolls",
    "pre-rolls": "pre_rolls",
    "vape": "vapes",
    "vaporizers": "vapes",
    "concentrate": "concentrates",
    "extracts": "concentrates",
    "beverage": "beverages",
    "drinks": "beverages",
    "tincture": "tinctures",
    "topical": "topicals",
    "accessory": "accessories",
    "gear": "accessories",
}
NEEDS: dict[str, tuple[str, ...]] = {
    "potency_unit": ("percent_categories", "mg_categories"),
    "serving_max_mg": ("max_mg", "categories"),
    "package_max_mg": ("max_mg", "categories"),
    "purchase_limit": ("item", "amount", "unit"),
    "banned_words": ("words",),
}


class StateRule(Model):
    """One rule of a state, with where it comes from and whether its number was checked at the source."""

    id: str
    group: RuleGroup
    kind: RuleKind
    title: str
    effective_from: date
    effective_to: date | None = None
    source: str = Field(min_length=3)
    checked: date  # when the source was last read for this rule: a rule without one does not load
    verified: bool
    severity: Severity = "Medium"
    note: str = ""
    # parameters, by kind (see NEEDS)
    percent_categories: tuple[str, ...] = ()
    mg_categories: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    max_mg: float | None = Field(default=None, gt=0)
    item: str = ""
    amount: float | None = Field(default=None, gt=0)
    unit: Literal["oz", "g", "mg", "fl oz", ""] = ""
    per: Literal["transaction", "day", ""] = ""
    words: tuple[str, ...] = ()
    except_phrases: tuple[str, ...] = ()  # e.g. "sugar-free": not an offer of free goods
    applies_to: tuple[Literal["promotions", "menu_names"], ...] = ("promotions",)

    @field_validator("id")
    @classmethod
    def _check_id(cls, v: str) -> str:
        if not RULE_ID.match(v):
            raise ValueError(
                f'"{v}" is not a rule id (the state code, a dash, then lower-kebab-case: nv-serving-cap)'
            )
        return v

    @field_validator("percent_categories", "mg_categories", "categories")
    @classmethod
    def _check_categories(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for c in v:
            if c not in CATEGORIES:
                raise ValueError(f'"{c}" is not a category ({", ".join(CATEGORIES)})')
        return v

    @model_validator(mode="after")
    def _check_params(self) -> StateRule:
        missing = [p for p in NEEDS[self.kind] if getattr(self, p) in (None, "", ())]
        if missing:
            raise ValueError(f"a {self.kind} rule needs {', '.join(missing)}")
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        return self

    def in_force(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)

    @property
    def citation(self) -> str:
        mark = "" if self.verified else " (unverified: confirm with the regulator)"
        dates = f"effective {self.effective_from.isoformat()}, checked {self.checked.isoformat()}"
        return f"{self.source}, {dates}{mark}"

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        alts = "|".join(r"\s+".join(re.escape(p) for p in w.split()) for w in self.words)
        return re.compile(rf"(?<![A-Za-z0-9])(?:{alts})(?![A-Za-z0-9])", re.IGNORECASE)


class StateFile(Model):
    state: str
    name: str
    rules: tuple[StateRule, ...] = ()

    @field_validator("state")
    @classmethod
    def _check_state(cls, v: str) -> str:
        if not STATE_CODE.match(v):
            raise ValueError(f'"{v}" is not a two-letter state code')
        return v

    def in_force(self, day: date, group: str | None = None) -> list[StateRule]:
        return [r for r in self.rules if r.in_force(day) and (group is None or r.group == group)]


class BrandItem(Model):
    name: str
    msrp: float = Field(gt=0)
    tolerance_percent: float | None = Field(default=None, ge=0, le=100)


class BrandFile(Model):
    """A brand partner's MSRP list: menu prices off by more than the tolerance are flagged."""

    brand: str
    source: str = Field(min_length=3)
    effective_from: date
    tolerance_percent: float = Field(default=5.0, ge=0, le=100)
    direction: Literal["below", "both"] = "both"
    items: tuple[BrandItem, ...] = ()

    @property
    def rule_id(self) -> str:
        return "msrp-" + slug(self.brand)


# -- loading --------------------------------------------------------------------------------------
def load_states(directory: Path, label_root: str = "mappings") -> dict[str, StateFile]:
    """Every `<ST>.toml` in the folder, checked: the file name matches its state, rule ids are unique."""
    out: dict[str, StateFile] = {}
    issues: list[FileIssue] = []
    ids: dict[str, str] = {}
    for path in sorted(directory.glob("*.toml")):
        label = f"{label_root}/{directory.name}/{path.name}"
        raw, problems = read_toml(path, label)
        issues += problems
        if raw is None:
            continue
        parsed, problems = parse_model(StateFile, raw, label)
        issues += problems
        if parsed is None:
            continue
        if parsed.state != path.stem:
            issues.append(
                FileIssue(
                    label, path="state", message=f'"{parsed.state}" does not match the file name {path.name}'
                )
            )
        for r in parsed.rules:
            if not r.id.startswith(parsed.state.lower() + "-"):
                issues.append(
                    FileIssue(label, f'rule "{r.id}"', "id", f'must start with "{parsed.state.lower()}-"')
                )
            if r.id in ids:
                issues.append(FileIssue(label, f'rule "{r.id}"', "id", f"already used in {ids[r.id]}"))
            ids[r.id] = label
        out[parsed.state] = parsed
    if issues:
        raise FileError(issues)
    return out


def load_brands(directory: Path, label_root: str = "mappings") -> dict[str, BrandFile]:
    """Brand MSRP lists by lower-case brand name; a missing folder means no lists."""
    out: dict[str, BrandFile] = {}
    issues: list[FileIssue] = []
    if not directory.is_dir():
        return out
    for path in sorted(directory.glob("*.toml")):
        label = f"{label_root}/{directory.name}/{path.name}"
        raw, problems = read_toml(path, label)
        issues += problems
        if raw is None:
            continue
        parsed, problems = parse_model(BrandFile, raw, label)
        issues += problems
        if parsed is None:
            continue
        key = parsed.brand.lower()
        if key in out:
            issues.append(FileIssue(label, path="brand", message=f'"{parsed.brand}" already has a list'))
        names = [i.name.lower() for i in parsed.items]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            issues.append(FileIssue(label, path="items", message=f'"{dup}" is listed twice'))
        out[key] = parsed
    if issues:
        raise FileError(issues)
    return out


def brands_from_records(records: Iterable[Mapping[str, Any]], today: date) -> dict[str, BrandFile]:
    """Brand lists served by the platform (`/v1/brands/{brand}/msrp`), in the file model's shape."""
    out: dict[str, BrandFile] = {}
    for rec in records:
        brand = str(rec.get("brand") or "").strip()
        items = []
        for it in rec.get("items") or ():
            msrp = number(it.get("msrp"))
            if it.get("name") and msrp and msrp > 0:
                tol = number(it.get("tolerance_percent"))
                items.append(BrandItem(name=str(it["name"]), msrp=msrp, tolerance_percent=tol))
        if brand and items:
            out[brand.lower()] = BrandFile(
                brand=brand,
                source=f"platform MSRP list for {brand}",
                effective_from=as_date(rec.get("effective_from")) or today,
                items=tuple(items),
            )
    return out


# -- the menu and promotions as the checks see them -------------------------------------------------
@dataclass(frozen=True)
class MenuItem:
    id: str
    name: str
    brand: str
    category: str
    price: float | None
    visible: bool
    potency: float | None
    unit: str  # "mg", "%" or ""
    package_mg: float | None

    @classmethod
    def of(cls, rec: Mapping[str, Any]) -> MenuItem:
        """Reads the platform's menu item (`potency: {thc, unit}`) and flat variants of it alike."""
        pot = rec.get("potency")
        value: Any = rec.get("potency_value", rec.get("thc"))
        unit: Any = rec.get("potency_unit", rec.get("thc_unit", ""))
        if isinstance(pot, Mapping):
            value, unit = pot.get("thc", pot.get("value")), pot.get("unit", unit)
        elif pot is not None:
            value = pot
        return cls(
            id=str(rec.get("id") or rec.get("_key") or rec.get("menu_id") or rec.get("name") or "?"),
            name=str(rec.get("name") or rec.get("id") or "?"),
            brand=str(rec.get("brand") or ""),
            category=category(rec.get("category")),
            price=number(rec.get("price")),
            visible=rec.get("visible") is not False,
            potency=number(value),
            unit=str(unit or "").strip().lower().replace("percent", "%"),
            package_mg=number(rec.get("package_thc_mg")),
        )


@dataclass(frozen=True)
class Promotion:
    id: str
    title: str
    text: str
    starts_on: date | None
    ends_on: date | None

    @classmethod
    def of(cls, rec: Mapping[str, Any]) -> Promotion:
        title = str(rec.get("title") or "")
        return cls(
            id=str(rec.get("id") or rec.get("_key") or title),
            title=title,
            text=f"{title}\n{rec.get('description') or ''}",
            starts_on=as_date(rec.get("starts_on")),
            ends_on=as_date(rec.get("ends_on")),
        )

    def active(self, day: date) -> bool:
        return (self.starts_on is None or self.starts_on <= day) and (
            self.ends_on is None or day <= self.ends_on
        )


def category(value: Any) -> str:
    c = str(value or "").strip().lower().replace(" ", "_")
    return CATEGORY_ALIASES.get(c, c)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


@dataclass(frozen=True)
class Violation:
    """One item breaking one rule: what the flag and Task say."""

    rule_id: str
    group: str
    title: str
    item_id: str
    item: str
    finding: str
    citation: str
    severity: str
    verified: bool
    details: tuple[str, ...] = ()  # lines the evidence lists after the rule (orders, days and amounts)

    @property
    def key_part(self) -> str:
        return f"{self.rule_id}:{slug(self.item_id)}"

    @property
    def evidence(self) -> str:
        return "\n".join(
            [
                f"Item: {self.item}",
                f"Finding: {self.finding}",
                f"Rule: {self.title} ({self.rule_id})",
                f"Source: {self.citation}",
                *self.details,
            ]
        )


def _amount(x: float) -> str:
    return f"{x:g}"


def check_menu(
    state: StateFile, items: Sequence[MenuItem], today: date, only_visible: bool = True
) -> list[Violation]:
    """Potency display and mg caps of the state's rules in force, per shown menu item."""
    out: list[Violation] = []
    shown = [i for i in items if i.visible or not only_visible]
    for rule in state.in_force(today):
        for it in shown:
            finding = _menu_finding(rule, it, state.state)
            if finding:
                out.append(_violation(rule, it.id, f"{it.name} ({it.category or 'no category'})", finding))
    return out


def _menu_finding(rule: StateRule, it: MenuItem, st: str) -> str:
    if rule.kind == "potency_unit":
        want = (
            "%"
            if it.category in rule.percent_categories
            else "mg"
            if it.category in rule.mg_categories
            else ""
        )
        if not want:
            return ""
        if it.potency is None or not it.unit:
            return f"no potency shown; {st} menus show {it.category} potency in {want}"
        if it.unit != want:
            shown = f"{_amount(it.potency)} {it.unit}"
            return f"potency shown as {shown}; {st} menus show {it.category} potency in {want}"
        return ""
    if rule.kind == "serving_max_mg" and it.category in rule.categories and rule.max_mg is not None:
        if it.unit == "mg" and it.potency is not None and it.potency > rule.max_mg:
            return (
                f"{_amount(it.potency)} mg THC per serving; {st} caps a serving at {_amount(rule.max_mg)} mg"
            )
        return ""
    if rule.kind == "package_max_mg" and it.category in rule.categories and rule.max_mg is not None:
        if it.package_mg is not None and it.package_mg > rule.max_mg:
            cap = _amount(rule.max_mg)
            return f"{_amount(it.package_mg)} mg THC per package; {st} caps a package at {cap} mg"
        return ""
    if rule.kind == "banned_words" and "menu_names" in rule.applies_to:
        word = banned_word(rule, it.name)
        if word:
            return f'the item name says "{word}"'
    return ""


def check_promotions(state: StateFile, promotions: Sequence[Promotion], today: date) -> list[Violation]:
    """Marketing-language rules in force against the running promotions' title and description."""
    out: list[Violation] = []
    running = [p for p in promotions if p.active(today)]
    for rule in state.in_force(today):
        if rule.kind != "banned_words" or "promotions" not in rule.applies_to:
            continue
        for p in running:
            word = banned_word(rule, p.text)
            if word:
                out.append(_violation(rule, p.id, f'promotion "{p.title}"', f'the promotion says "{word}"'))
    return out


def banned_word(rule: StateRule, text: str) -> str:
    """The first banned word in the text ('' when none), after removing the allowed phrases."""
    cleaned = text
    for phrase in rule.except_phrases:
        cleaned = re.sub(re.escape(phrase), " ", cleaned, flags=re.IGNORECASE)
    m = rule.pattern.search(cleaned)
    return m.group(0) if m else ""


def check_msrp(brands: Mapping[str, BrandFile], items: Sequence[MenuItem], today: date,
               only_visible: bool = True) -> list[Violation]:  # fmt: skip
    """Menu prices against the brand partners' MSRP lists, outside the tolerance."""
    out: list[Violation] = []
    for it in items:
        if only_visible and not it.visible:
            continue
        lst = brands.get(it.brand.lower())
        if lst is None or lst.effective_from > today or it.price is None:
            continue
        entry = next((e for e in lst.items if e.name.lower() == it.name.lower()), None)
        if entry is None:
            continue
        tol = entry.tolerance_percent if entry.tolerance_percent is not None else lst.tolerance_percent
        off = (it.price - entry.msrp) / entry.msrp * 100.0
        if off < -tol or (lst.direction == "both" and off > tol):
            way = "below" if off < 0 else "above"
            out.append(
                Violation(
                    rule_id=lst.rule_id,
                    group="brand_msrp",
                    title=f"{lst.brand} MSRP list",
                    item_id=it.id,
                    item=f"{it.name} ({lst.brand})",
                    finding=(
                        f"menu price ${it.price:,.2f} is {abs(off):.1f}% {way} the MSRP ${entry.msrp:,.2f} "
                        f"(tolerance {tol:g}%)"
                    ),
                    citation=f"{lst.source}, effective {lst.effective_from.isoformat()}",
                    severity="Medium",
                    verified=True,
                )
            )
    return out


def _violation(rule: StateRule, item_id: str, item: str, finding: str) -> Violation:
    return Violation(
        rule_id=rule.id,
        group=rule.group,
        title=rule.title,
        item_id=item_id,
        item=item,
        finding=finding,
        citation=rule.citation,
        severity=rule.severity,
        verified=rule.verified,
    )


def group_detail(state: StateFile | None, group: str, today: date) -> str:
    """The state's specifics for one onboarding milestone: each rule in force with its source."""
    if state is None:
        return "No state rules on file for this store's state."
    rules = state.in_force(today, group)
    head = f"{GROUP_TITLES.get(group, group)} — {state.name} ({state.state})"
    if not rules:
        return f"{head}: no rules on file."
    lines = [head + ":"]
    lines += [f"- {r.title} [{r.citation}]" + (f" — {r.note}" if r.note else "") for r in rules]
    return "\n".join(lines)
