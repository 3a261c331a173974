"""Metric functions that expressions call: pure over one AccountData, memoized per account evaluation."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from mappings.context import AccountData
from mappings.events import excluded_days, excluded_ordinals
from mappings.series import DaySeries

NAN = math.nan
INF = math.inf
MIN_BASELINE_WEEKS = 4  # fewer same-weekday samples than this and there is no baseline (NaN)
MAD_TO_SIGMA = 1.4826  # scales the median absolute deviation to a normal standard deviation
MEANAD_TO_SIGMA = 1.2533  # the same for the mean absolute deviation, used when the MAD is 0

# The metric vocabulary of docs/architecture.md: a misspelt metric would silently read zeros forever,
# so constant metric names are checked at load time against this list (plus sources.toml extras).
KNOWN_METRICS: frozenset[str] = frozenset(
    {
        "orders", "revenue", "units",
        "sessions", "carts", "checkouts", "online_orders", "online_revenue",
        "logins", "active_users",
        "tickets_opened", "tickets_closed", "tickets_high_priority",
        "nps_responses", "nps_promoters", "nps_detractors",
        "invoiced", "paid", "payments_failed", "payments_returned",
        "metrc_sales", "metrc_receipts",
        "menu_top_sellers_unavailable", "menu_items_hidden", "menu_items_out_of_stock",
        "menu_broken_images", "menu_items",
    }
)  # fmt: skip
DIMENSION_KEYS: tuple[str, ...] = ("channel", "category")  # the fixed order of dimension pairs
CHANNELS: frozenset[str] = frozenset({"online", "in_store"})
CATEGORIES: tuple[str, ...] = (
    "flower", "pre_rolls", "vapes", "concentrates", "edibles",
    "beverages", "tinctures", "topicals", "accessories",
)  # fmt: skip

REQUIRED = object()  # marks a parameter without a default in a FunctionSpec
_UNSEEN: Any = object()  # a series not looked up yet (None means looked up and absent)


@dataclass(frozen=True)
class FunctionSpec:
    """What the validator knows of a function: its parameters, what it returns, what its arguments mean."""

    name: str
    params: tuple[tuple[str, Any], ...]  # (name, default or REQUIRED), in positional order
    returns: str  # number | bool | text | list | datetime | date | any
    doc: str
    varargs: bool = False  # min/max/coalesce take any number of arguments
    filters: bool = False  # count/sum_of take where-like keyword filters
    metric: bool = False  # the first argument is a metric name
    dim_param: str = ""  # the parameter holding a dimension
    source_param: str = ""  # the parameter holding a source name
    rule_param: str = ""  # the parameter holding a rule name

    @property
    def signature(self) -> str:
        parts = []
        for name, default in self.params:
            parts.append(name if default is REQUIRED else f"{name}={default!r}")
        if self.varargs:
            parts.append("...")
        if self.filters:
            parts.append("**filters")
        return f"{self.name}({', '.join(parts)})"


def _spec(name: str, params: str, returns: str, doc: str, **kw: Any) -> FunctionSpec:
    parsed: list[tuple[str, Any]] = []
    for part in filter(None, (p.strip() for p in params.split(","))):
        if "=" in part:
            pname, raw = part.split("=", 1)
            parsed.append((pname, eval(raw, {"__builtins__": {}})))  # noqa: S307 - literal defaults of our own table
        else:
            parsed.append((part, REQUIRED))
    return FunctionSpec(name, tuple(parsed), returns, doc, **kw)


# Functions whose value moves with the run's clock (not only with the data or the store's day): a value
# written to Salesforce from them would differ on every run, so evidence shows them as a time (format "age").
CLOCK_FUNCTIONS: frozenset[str] = frozenset({"freshness"})

SPECS: dict[str, FunctionSpec] = {
    s.name: s
    for s in (
        _spec("total", "metric, days=7, dim='', offset=0", "number",
              "Sum over `days` complete days ending `offset` days before yesterday.", metric=True,
              dim_param="dim"),
        _spec("sum", "metric, days=7, dim='', offset=0", "number", "Alias of total.", metric=True,
              dim_param="dim"),
        _spec("avg", "metric, days=7, dim='', offset=0", "number", "Daily mean over the window.",
              metric=True, dim_param="dim"),
        _spec("daily", "metric, dim='', offset=0", "number",
              "One day's value: yesterday, or `offset` days before it.", metric=True, dim_param="dim"),
        _spec("latest", "metric, dim=''", "number",
              "The newest day's value up to today (snapshot metrics such as menu health).",
              metric=True, dim_param="dim"),
        _spec("wow_change", "metric, dim=''", "number",
              "Last 7 complete days vs the 7 before, as a fraction (-0.2 = down 20%); NaN without a "
              "prior week.", metric=True, dim_param="dim"),
        _spec("wow_change_excluding", "metric, dim, part", "number",
              "Week-over-week change of `dim` minus `part` (e.g. online revenue outside one category).",
              metric=True, dim_param="dim"),
        _spec("vs_trailing", "metric, dim='', weeks=4", "number",
              "Last 7 days vs the mean of the `weeks` weeks before, as a fraction.", metric=True,
              dim_param="dim"),
        _spec("baseline", "metric, dim='', weeks=8, offset=0", "number",
              "Median of the same weekday over the prior `weeks` weeks, holidays and events excluded; "
              "NaN with fewer than 4 samples.", metric=True, dim_param="dim"),
        _spec("vs_baseline", "metric, dim='', weeks=8, offset=0", "number",
              "The day's value vs its same-weekday baseline, as a fraction (-0.3 = 30% below).",
              metric=True, dim_param="dim"),
        _spec("robust_z", "metric, dim='', weeks=8, offset=0", "number",
              "(x - median) / (1.4826 * MAD) against the same-weekday baseline sample.", metric=True,
              dim_param="dim"),
        _spec("share", "metric, dim, days=7", "number", "total(metric, dim) / total(metric) over the window.",
              metric=True, dim_param="dim"),
        _spec("days_since", "value", "number",
              "Whole days from a date, a time or an Account field (by name) to today; inf when empty."),
        _spec("freshness", "source", "number", "Hours since the source's newest data; inf when never.",
              source_param="source"),
        _spec("stale", "source", "bool", "freshness(source) over the source's stale_after_hours.",
              source_param="source"),
        _spec("last_data", "source", "datetime", "When the source's newest data is from (None: never).",
              source_param="source"),
        _spec("last_success", "source", "datetime", "The source's last successful pull (None: never).",
              source_param="source"),
        _spec("pulling", "source", "bool",
              "Whether the source's last successful pull is within its stale_after_hours: a stale feed "
              "whose pulls succeed is a quiet source, not a broken connection.", source_param="source"),
        _spec("stale_after", "source", "number", "The source's stale_after_hours from sources.toml.",
              source_param="source"),
        _spec("sources", "", "list", "The sources this store is connected to."),
        _spec("feeds", "", "list",
              "The connected sources that are data feeds (sources.toml `feed = true`): a stale one "
              "raises Data feed stale."),
        _spec("categories", "", "list", "Product categories present in this store's series."),
        _spec("count", "stream", "number",
              "Records of a stream matching filters: field=value, field__gt/ge/lt/le/ne/in/contains=value.",
              filters=True),
        _spec("sum_of", "stream, field", "number", "Sum of a numeric field over the matching records.",
              filters=True),
        _spec("list_of", "stream, fields", "list",
              "The matching records (filters as for count), oldest key first, each as its `fields` "
              "(comma-separated names) joined with \" · \": tickets or invoices as evidence. At most 20.",
              filters=True),
        _spec("attr", "name, default=None", "any", "A derived check the jobs supply in AccountData.attrs."),
        _spec("fired", "rule, item=''", "bool",
              "Whether a rule (or one for_each item of it) detected its condition earlier in this "
              "evaluation: raised its flag, or would have but for its cooldown.",
              rule_param="rule"),
        _spec("date_ago", "days", "text", "ISO date `days` before today, to compare with record dates."),
        _spec("ratio", "a, b", "number", "a / b, NaN when b is 0."),
        _spec("safe_div", "a, b, default=0", "number", "a / b, `default` when b is 0."),
        _spec("coalesce", "", "any", "The first argument that is not None/NaN.", varargs=True),
        _spec("known", "value", "bool", "False for None and NaN."),
        _spec("clamp", "value, low, high", "number", "value limited to [low, high]."),
        _spec("min", "", "number", "Smallest argument (or of one list).", varargs=True),
        _spec("max", "", "number", "Largest argument (or of one list).", varargs=True),
        _spec("abs", "value", "number", "Absolute value."),
        _spec("round", "value, digits=0", "number", "Rounded value (NaN stays NaN)."),
        _spec("len", "value", "number", "Length of a list or text (0 for None)."),
    )
}  # fmt: skip


LIST_OF_MAX = 20  # records list_of() shows: evidence a CSM reads, not an export


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _known(x: Any) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def ratio(a: Any, b: Any) -> float:
    """a / b with 0 or missing denominators giving NaN, so comparisons on it are simply false."""
    if a is None or b is None or not b:
        return NAN
    try:
        return float(a) / float(b)
    except (TypeError, ValueError):
        return NAN


def safe_div(a: Any, b: Any, default: Any = 0) -> Any:
    """a / b, or `default` when the division is undefined (KPI fields want a number, not NaN)."""
    r = ratio(a, b)
    return default if math.isnan(r) else r


def coalesce(*values: Any) -> Any:
    return next((v for v in values if _known(v)), None)


def clamp(value: Any, low: Any, high: Any) -> Any:
    if not _known(value):
        return value
    return max(low, min(high, value))


def _minmax(pick: Callable[..., Any]) -> Callable[..., Any]:
    def f(*values: Any) -> Any:
        items = values[0] if len(values) == 1 and isinstance(values[0], list | tuple) else values
        known = [v for v in items if _known(v)]
        return pick(known) if known else NAN

    return f


def safe_round(value: Any, digits: int = 0) -> Any:
    if not _finite(value):
        return value
    return round(float(value), int(digits))


def safe_len(value: Any) -> int:
    return 0 if value is None else len(value)


def safe_abs(value: Any) -> Any:
    return abs(value) if _known(value) else value


PURE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "ratio": ratio,
    "safe_div": safe_div,
    "coalesce": coalesce,
    "known": _known,
    "clamp": clamp,
    "min": _minmax(min),
    "max": _minmax(max),
    "abs": safe_abs,
    "round": safe_round,
    "len": safe_len,
}

ACCOUNT_FUNCTIONS: tuple[str, ...] = tuple(n for n in SPECS if n not in PURE_FUNCTIONS)


def parse_time(value: Any) -> datetime | date | None:
    """A date or time from Salesforce/ISO text (or already one); None when it is not one."""
    if isinstance(value, datetime | date):
        return value
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _median_sorted(xs: Sequence[float]) -> float:
    n = len(xs)
    mid = n // 2
    return xs[mid] if n % 2 else (xs[mid - 1] + xs[mid]) / 2.0


def _ordered(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    """An ordering test that is simply false for a missing or incomparable value (records are messy)."""

    def test(a: Any, b: Any) -> bool:
        if a is None:
            return False
        try:
            return compare(a, b)
        except TypeError:
            return False

    return test


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": _ordered(lambda a, b: a > b),
    "ge": _ordered(lambda a, b: a >= b),
    "gte": _ordered(lambda a, b: a >= b),
    "lt": _ordered(lambda a, b: a < b),
    "le": _ordered(lambda a, b: a <= b),
    "lte": _ordered(lambda a, b: a <= b),
    "in": _ordered(lambda a, b: a in b),
    "contains": _ordered(lambda a, b: b in a),
}
FILTER_OPS: frozenset[str] = frozenset(_OPS)


def split_filter(key: str) -> tuple[str, str]:
    """`due_on__lt` -> ("due_on", "lt"); a bare field means equality."""
    fieldname, sep, op = key.rpartition("__")
    if sep and op in _OPS:
        return fieldname, op
    return key, "eq"


@dataclass
class Metrics:
    """The metric functions bound to one account; every result is memoized for this evaluation.

    Many rules ask the same questions (`total("orders", dim="channel=online")` appears in several), so
    each answer is computed once per account. The object lives for one `evaluate_account` call only.
    """

    data: AccountData
    thresholds: Mapping[str, float]  # source -> hours after which its data counts as stale
    default_stale_after: float = 36.0
    feed_sources: frozenset[str] | None = None  # None: every source is a data feed
    pull_measured: frozenset[str] = frozenset()  # freshness = age of the last successful pull
    fired_rules: set[str] = field(default_factory=set)  # "rule" and "rule/item" that fired so far
    memo: dict[tuple[Any, ...], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.yesterday = self.data.today - timedelta(days=1)
        self.y_ord = self.yesterday.toordinal()
        self.today_ord = self.data.today.toordinal()
        self.state = str(self.data.store.get("state") or self.data.account.get("BillingState") or "")
        self._dense: dict[tuple[str, str], DaySeries | None] = {}
        self._totals: dict[tuple[str, int, str, int], float] = {}
        self._stale_sets: dict[tuple[str, ...], tuple[str, ...]] = {}

    # -- series access -------------------------------------------------------------------------
    def series(self, metric: str, dim: str = "") -> DaySeries | None:
        key = (metric, dim)
        s: DaySeries | None = self._dense.get(key, _UNSEEN)
        if s is _UNSEEN:  # first look: a probe, not a KeyError (most first looks miss)
            raw = self.data.series.get(key)
            s = self._dense[key] = None if raw is None else DaySeries.from_mapping(raw)
        return s

    def _value_at(self, s: DaySeries | None, ordinal: int) -> float | None:
        """A day's value; None before the series starts (no history), 0 after it ends (no activity)."""
        if s is None:
            return None
        i = ordinal - s.start_ordinal
        if i < 0:
            return None
        return float(s.dense[i]) if i < len(s.dense) else 0.0

    # -- windows -------------------------------------------------------------------------------
    def total(self, metric: str, days: int = 7, dim: str = "", offset: int = 0) -> float:
        # The hottest function (~80 calls per account): series lookup and window sum are inlined.
        key = (metric, days, dim, offset)
        r = self._totals.get(key)
        if r is None:
            s = self._dense.get((metric, dim), _UNSEEN)
            if s is _UNSEEN:
                s = self.series(metric, dim)
            r = 0.0
            if s is not None:
                if offset.__class__ is not int:
                    offset = int(offset)
                if days.__class__ is not int:
                    days = int(days)
                hi = self.y_ord - offset - s.start_ordinal + 1  # exclusive index of the window end
                lo = hi - days
                if hi > 0 and lo < len(s.dense):  # slicing clips the end itself
                    r = float(sum(s.dense[lo if lo > 0 else 0 : hi]))
            self._totals[key] = r
        return r

    def sum(self, metric: str, days: int = 7, dim: str = "", offset: int = 0) -> float:
        return self.total(metric, days, dim, offset)

    def avg(self, metric: str, days: int = 7, dim: str = "", offset: int = 0) -> float:
        return self.total(metric, days, dim, offset) / days if days > 0 else NAN

    def daily(self, metric: str, dim: str = "", offset: int = 0) -> float:
        return self.total(metric, 1, dim, offset)

    def latest(self, metric: str, dim: str = "") -> float:
        key = ("latest", metric, dim)
        r = self.memo.get(key)
        if r is None:
            s = self.series(metric, dim)
            r = 0.0
            if s is not None and len(s.dense):
                last = min(s.start_ordinal + len(s.dense) - 1, self.today_ord)
                r = self._value_at(s, last) or 0.0
            self.memo[key] = r
        return r

    def wow_change(self, metric: str, dim: str = "") -> float:
        now, before = self.total(metric, 7, dim, 0), self.total(metric, 7, dim, 7)
        return NAN if before == 0 else now / before - 1.0

    def wow_change_excluding(self, metric: str, dim: str, part: str) -> float:
        now = self.total(metric, 7, dim, 0) - self.total(metric, 7, part, 0)
        before = self.total(metric, 7, dim, 7) - self.total(metric, 7, part, 7)
        return NAN if before <= 0 else now / before - 1.0

    def vs_trailing(self, metric: str, dim: str = "", weeks: int = 4) -> float:
        prior = [self.total(metric, 7, dim, 7 * k) for k in range(1, int(weeks) + 1)]
        mean = sum(prior) / len(prior) if prior else 0.0
        return NAN if mean == 0 else self.total(metric, 7, dim, 0) / mean - 1.0

    # -- same-weekday baseline -----------------------------------------------------------------
    def _sample(self, metric: str, dim: str, weeks: int, offset: int) -> tuple[float | None, list[float]]:
        """The day's value and the sorted same-weekday sample it is compared with."""
        key = ("sample", metric, dim, weeks, offset)
        hit: tuple[float | None, list[float]] | None = self.memo.get(key)
        if hit is not None:
            return hit
        s = self.series(metric, dim)
        target = self.y_ord - int(offset)
        x = self._value_at(s, target)
        sample: list[float] = []
        if s is not None and x is not None:
            on_excluded, steps = weekday_steps(self.state, target, int(weeks))
            if on_excluded:
                sample = self._same_event_last_year(s, target)
            else:
                dense, n = s.dense, len(s.dense)
                base = target - s.start_ordinal
                for k in steps:
                    i = base - 7 * k
                    if i < 0:  # before the history starts: the sample is simply shorter
                        break
                    sample.append(float(dense[i]) if i < n else 0.0)
                if len(sample) < MIN_BASELINE_WEEKS:
                    sample = []
        sample.sort()
        out = (x, sample)
        self.memo[key] = out
        return out

    def _same_event_last_year(self, s: DaySeries, target: int) -> list[float]:
        """A holiday is compared with the same holiday a year before, never with a normal weekday."""
        day = date.fromordinal(target)
        name = excluded_days(self.state, day.year).get(day, "")
        for d, other in excluded_days(self.state, day.year - 1).items():
            if other == name:
                v = self._value_at(s, d.toordinal())
                return [] if v is None else [v]
        return []

    def baseline(self, metric: str, dim: str = "", weeks: int = 8, offset: int = 0) -> float:
        _, sample = self._sample(metric, dim, weeks, offset)
        return _median_sorted(sample) if sample else NAN

    def vs_baseline(self, metric: str, dim: str = "", weeks: int = 8, offset: int = 0) -> float:
        x, sample = self._sample(metric, dim, weeks, offset)
        if x is None or not sample:
            return NAN
        med = _median_sorted(sample)
        return NAN if med == 0 else x / med - 1.0

    def robust_z(self, metric: str, dim: str = "", weeks: int = 8, offset: int = 0) -> float:
        key = ("robust_z", metric, dim, weeks, offset)
        r = self.memo.get(key)
        if r is None:
            x, sample = self._sample(metric, dim, weeks, offset)
            r = self.memo[key] = robust_z_of(x, sample)
        return r

    def share(self, metric: str, dim: str, days: int = 7) -> float:
        part, whole = self.total(metric, days, dim), self.total(metric, days, "")
        return part / whole if whole else NAN  # ratio() inlined: both are floats here

    # -- time and freshness --------------------------------------------------------------------
    def days_since(self, value: Any) -> float:
        when = parse_time(value)
        if when is None and isinstance(value, str):
            when = parse_time(self.data.account.get(value))
        if when is None:
            return INF
        day = when.date() if isinstance(when, datetime) else when
        return float((self.data.today - day).days)

    def freshness(self, source: str) -> float:
        by_pull = source in self.pull_measured
        when = (self.data.last_success if by_pull else self.data.freshness).get(source)
        if when is None:
            return INF
        return max(0.0, (self.data.now - when).total_seconds() / 3600.0)

    def stale_after(self, source: str) -> float:
        return float(self.thresholds.get(source, self.default_stale_after))

    def stale_of(self, sources: tuple[str, ...]) -> tuple[str, ...]:
        """The stale ones among `sources` (memoized per tuple: many rules require the same sources)."""
        hit = self._stale_sets.get(sources)
        if hit is None:
            hit = self._stale_sets[sources] = tuple(s for s in sources if self.stale(s))
        return hit

    def stale(self, source: str) -> bool:
        key = ("stale", source)
        r = self.memo.get(key)
        if r is None:
            r = self.memo[key] = self.freshness(source) > self.stale_after(source)
        return r

    def last_data(self, source: str) -> datetime | None:
        return self.data.freshness.get(source)

    def last_success(self, source: str) -> datetime | None:
        return self.data.last_success.get(source)

    def pulling(self, source: str) -> bool:
        when = self.data.last_success.get(source)
        if when is None:
            return False
        return (self.data.now - when).total_seconds() / 3600.0 <= self.stale_after(source)

    def sources(self) -> list[str]:
        return sorted(self.data.freshness)

    def feeds(self) -> list[str]:
        feeds = self.feed_sources
        return [s for s in sorted(self.data.freshness) if feeds is None or s in feeds]

    def categories(self) -> list[str]:
        hit = self.memo.get(("categories",))
        if hit is None:
            found = set()
            for _metric, dim in self.data.series:
                if "category=" in dim:  # most series have none: skip the split
                    for pair in dim.split(","):
                        if pair.startswith("category="):
                            found.add(pair[9:])
            hit = self.memo[("categories",)] = sorted(found)
        return list(hit)

    # -- records and attrs ---------------------------------------------------------------------
    def _matching(self, stream: str, filters: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
        tests = [(f, _OPS[op], v) for f, op, v in ((*split_filter(k), v) for k, v in filters.items())]
        for rec in self.data.records.get(stream, ()):
            if all(test(rec.get(f), v) for f, test, v in tests):
                yield rec

    def count(self, stream: str, **filters: Any) -> float:
        key = ("count", stream, _hashable(filters))  # sorted: the same filters in any order share
        r = self.memo.get(key)
        if r is None:
            r = self.memo[key] = float(sum(1 for _ in self._matching(stream, filters)))
        return r

    def sum_of(self, stream: str, field: str, **filters: Any) -> float:
        key = ("sum_of", stream, field, _hashable(filters))
        r = self.memo.get(key)
        if r is None:
            total = 0.0
            for rec in self._matching(stream, filters):
                v = rec.get(field)
                if isinstance(v, int | float) and _finite(v):
                    total += float(v)
            r = self.memo[key] = total
        return r

    def list_of(self, stream: str, fields: str, **filters: Any) -> list[str]:
        names = [f.strip() for f in str(fields).split(",") if f.strip()]
        rows = sorted(self._matching(stream, filters), key=lambda r: str(r.get("_key", "")))
        out = []
        for rec in rows[:LIST_OF_MAX]:
            parts = [str(rec[n]) for n in names if rec.get(n) not in (None, "")]
            out.append(" · ".join(parts) or str(rec.get("_key", "")).split(":", 1)[-1])
        return out

    def attr(self, name: str, default: Any = None) -> Any:
        return self.data.attrs.get(name, default)

    def fired(self, rule: str, item: str = "") -> bool:
        return (f"{rule}/{item}" if item else rule) in self.fired_rules

    def date_ago(self, days: int) -> str:
        key = ("date_ago", days)
        r = self.memo.get(key)
        if r is None:
            r = self.memo[key] = (self.data.today - timedelta(days=int(days))).isoformat()
        return str(r)

    def bind(self) -> dict[str, Callable[..., Any]]:
        """The function table for one account: pure helpers plus this object's methods."""
        table: dict[str, Callable[..., Any]] = dict(PURE_FUNCTIONS)
        for name in ACCOUNT_FUNCTIONS:
            table[name] = getattr(self, name)
        return table


@lru_cache(maxsize=8192)
def weekday_steps(state: str, target: int, weeks: int) -> tuple[bool, tuple[int, ...]]:
    """Whether day `target` (an ordinal) is itself excluded, and which k in 1..weeks keep target - 7k.

    Every store of a state evaluated on the same day asks the same question, so the answer is shared
    across accounts instead of rebuilding dates and set lookups for each baseline.
    """
    excluded = excluded_ordinals(state, date.fromordinal(target - 7 * weeks), date.fromordinal(target))
    kept = tuple(k for k in range(1, weeks + 1) if target - 7 * k not in excluded)
    return target in excluded, kept


def robust_z_of(x: float | None, sample: Sequence[float]) -> float:
    """Robust z-score of x against a sorted sample: (x - median) / (1.4826 * MAD).

    When the MAD is 0 (more than half the sample identical) the mean absolute deviation stands in;
    when that is 0 too, any difference is infinitely unusual and no difference scores 0.
    """
    if x is None or not sample:
        return NAN
    med = _median_sorted(sample)
    deviations = sorted([abs(v - med) for v in sample])
    scale = MAD_TO_SIGMA * _median_sorted(deviations)
    if scale == 0:
        scale = MEANAD_TO_SIGMA * (sum(deviations) / len(deviations))
    if scale == 0:
        return 0.0 if x == med else math.copysign(INF, x - med)
    return (x - med) / scale


def _hashable(filters: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in filters.items()))
