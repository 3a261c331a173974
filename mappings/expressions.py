"""Safe expressions: parsed and checked once at load, then run as compiled code against a locked namespace."""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from simpleeval import (
    MAX_STRING_LENGTH,
    EvalWithCompoundTypes,
    InvalidExpression,
    IterableTooLong,
    safe_mult,
    safe_power,
)

from configfiles.translate import did_you_mean as suggest
from mappings.functions import (
    CATEGORIES,
    CHANNELS,
    DIMENSION_KEYS,
    FILTER_OPS,
    REQUIRED,
    SPECS,
    FunctionSpec,
    split_filter,
)

MAX_SOURCE_LENGTH = 2000
MAX_DEPTH = 40
MAX_EXPONENT = 100
# Windows a metric function may reach back: the jobs keep at most two years of daily facts.
MAX_WINDOW_DAYS = 730
# Whole-number arguments bounded at load time when written as constants: (lowest, highest).
WINDOW_BOUNDS: dict[str, tuple[int, int]] = {
    "days": (1, MAX_WINDOW_DAYS),
    "offset": (0, MAX_WINDOW_DAYS),
    "weeks": (1, MAX_WINDOW_DAYS // 7),
    "digits": (0, 10),
}
DATE_AGO_DAYS = (0, 3650)
MAX_TEXT_CONSTANT = 2000

# Account fields read by name: custom fields (`Plan__c`) and these standard ones.
STANDARD_ACCOUNT_FIELDS: frozenset[str] = frozenset(
    {
        "Id", "Name", "OwnerId", "ParentId", "Type", "Industry", "BillingState", "BillingCity",
        "ShippingState", "AnnualRevenue", "NumberOfEmployees", "CreatedDate", "LastActivityDate",
    }
)  # fmt: skip
_CUSTOM_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*__c$")

_BOOL_OPS = {ast.And: "and", ast.Or: "or"}
_BIN_OPS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
_UNARY_OPS = {ast.Not: "not", ast.USub: "-", ast.UAdd: "+"}
_CMP_OPS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
}
# Constructs refused with a sentence saying why, rather than a bare node name.
_FORBIDDEN: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access ({detail}) is not allowed",
    ast.Subscript: "indexing with [...] is not allowed; use attr(name, default) for derived values",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.Starred: "* unpacking is not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Set: "set literals are not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Slice: "slicing is not allowed",
}


class ExpressionError(ValueError):
    """An expression that failed validation; `problems` lists every reason, first one is the message."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if problems else "invalid expression")
        self.problems = problems


class EvaluationError(RuntimeError):
    """An expression that failed while running (a type mismatch on real data, a division by zero...)."""


# What a checked expression can raise on real data: anything else is a bug in csm-sync, not the mapping.
EVALUATION_ERRORS = (ArithmeticError, TypeError, ValueError, LookupError, InvalidExpression, NameError)


@dataclass(frozen=True)
class Scope:
    """What an expression may name: variables with their types, and whether Account fields are readable."""

    names: Mapping[str, str]  # name -> type (number, text, bool, date, datetime, list, any)
    sources: frozenset[str] = frozenset()  # known source names, for freshness("...") and friends
    rules: frozenset[str] = frozenset()  # known rule names, for fired("...")
    metrics: frozenset[str] = frozenset()  # known metric names
    account_fields: bool = True

    def with_names(self, extra: Mapping[str, str]) -> Scope:
        return Scope({**self.names, **extra}, self.sources, self.rules, self.metrics, self.account_fields)


@dataclass(frozen=True)
class Expression:
    """A checked expression: source text, its type, what it reads, and compiled code to run it."""

    source: str
    type: str
    names: frozenset[str]  # variables and parameters it reads
    account_fields: frozenset[str]  # Account fields it reads by name
    functions: frozenset[str]
    rules: frozenset[str]  # rules it depends on through fired("...")
    tree: ast.Expression = field(repr=False, compare=False)
    code: Any = field(repr=False, compare=False)

    def run(self, namespace: dict[str, Any]) -> Any:
        """Evaluate against a namespace made by `namespace()`; errors come back as EvaluationError."""
        try:
            return eval(self.code, namespace)  # noqa: S307 - code compiled from a whitelisted, checked AST
        except EVALUATION_ERRORS as exc:
            raise EvaluationError(f"{self.source}: {type(exc).__name__}: {exc}") from exc

    def interpret(self, functions: Mapping[str, Callable[..., Any]], names: Mapping[str, Any]) -> Any:
        """Reference evaluation with simpleeval's tree walker over the same parsed tree (tests, audits).

        The compiled path is the one production uses; this one exists so tests can show both agree.
        """
        evaluator = EvalWithCompoundTypes(functions=dict(functions), names=dict(names))
        return evaluator.eval(self.source, previously_parsed=self.tree.body)


def safe_mod(a: Any, b: Any) -> Any:
    """`%` for numbers only: on text it would be printf-style formatting, a memory and data leak."""
    if isinstance(a, str | bytes):
        raise TypeError("text formatting with % is not allowed")
    return a % b


def guarded_add(a: Any, b: Any) -> Any:
    """`+` with simpleeval's length limit on text and lists, checked after the fact.

    Checking afterwards is safe: without assignment or loops a sum can only be as large as its parts,
    so the limit stops repeated concatenation of large values, not a single huge allocation.
    """
    result = a + b
    if (result.__class__ is str or result.__class__ is list) and len(result) > MAX_STRING_LENGTH:
        raise IterableTooLong("Sorry, adding those two together would make something too long.")
    return result


def guarded_mult(a: Any, b: Any) -> Any:
    """`*` for numbers at full speed; anything else goes through simpleeval's length-checked version."""
    if (a.__class__ is float or a.__class__ is int) and (b.__class__ is float or b.__class__ is int):
        return a * b
    return safe_mult(a, b)


RUNTIME_HELPERS: dict[str, Callable[..., Any]] = {
    "_pow": safe_power,
    "_mul": guarded_mult,
    "_add": guarded_add,
    "_mod": safe_mod,
}
_REWRITE = {ast.Pow: "_pow", ast.Mult: "_mul", ast.Add: "_add", ast.Mod: "_mod"}
CONSTANT_NAMES: dict[str, Any] = {"inf": math.inf, "nan": math.nan, "true": True, "false": False}


def namespace(functions: Mapping[str, Callable[..., Any]], values: Mapping[str, Any]) -> dict[str, Any]:
    """A fresh global namespace: no builtins at all, the guarded operators, functions and values."""
    ns: dict[str, Any] = {"__builtins__": {}}
    ns.update(RUNTIME_HELPERS)
    ns.update(CONSTANT_NAMES)
    ns.update(functions)
    ns.update(values)
    return ns


def is_account_field(name: str) -> bool:
    return name in STANDARD_ACCOUNT_FIELDS or bool(_CUSTOM_FIELD.match(name))


def did_you_mean(word: str, candidates: Iterable[str], quote: str = '"') -> str:
    """`; did you mean "x"?` for the closest candidate, or "" when nothing is close (to follow a message)."""
    hint = suggest(word, candidates, quote)
    return f"; {hint}" if hint else ""


def check_dimension(dim: str) -> str:
    """ "" when a constant dimension is well formed, else what is wrong with it."""
    if dim == "":
        return ""
    keys: list[str] = []
    for pair in dim.split(","):
        k, sep, v = pair.partition("=")
        if not sep or not v:
            return f'dimension "{dim}" must be key=value pairs such as "channel=online"'
        if k not in DIMENSION_KEYS:
            return (
                f'dimension key "{k}" is unknown{did_you_mean(k, DIMENSION_KEYS)} (known: channel, category)'
            )
        if k == "channel" and v not in CHANNELS:
            return f'channel "{v}" is unknown{did_you_mean(v, CHANNELS)} (known: in_store, online)'
        if k == "category" and v not in CATEGORIES:
            return f'category "{v}" is unknown{did_you_mean(v, CATEGORIES)}'
        keys.append(k)
    if keys != sorted(keys, key=DIMENSION_KEYS.index) or len(set(keys)) != len(keys):
        return f'dimension "{dim}" must list channel before category, each once'
    return ""


class _Checker:
    """Walks a parsed expression, collecting every problem and inferring the result type."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.problems: list[str] = []
        self.names: set[str] = set()
        self.account_fields: set[str] = set()
        self.functions: set[str] = set()
        self.rules: set[str] = set()

    def fail(self, message: str) -> str:
        if message not in self.problems:
            self.problems.append(message)
        return "any"

    def visit(self, node: ast.AST, depth: int = 0) -> str:
        if depth > MAX_DEPTH:
            return self.fail(f"expression nests deeper than {MAX_DEPTH} levels")
        forbidden = _FORBIDDEN.get(type(node))
        if forbidden is not None:
            detail = f".{node.attr}" if isinstance(node, ast.Attribute) else ""
            self.fail(forbidden.format(detail=detail))
            if isinstance(node, ast.Attribute | ast.Subscript):  # keep looking: report the whole chain
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.expr):
                        self.visit(child, depth + 1)
            return "any"
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            return self.fail(f"{type(node).__name__} is not allowed in expressions")
        result: str = method(node, depth + 1)
        return result

    def visit_Constant(self, node: ast.Constant, depth: int) -> str:
        v = node.value
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int | float):
            return "number"
        if isinstance(v, str):
            if len(v) > MAX_TEXT_CONSTANT:
                return self.fail(f"text constants are limited to {MAX_TEXT_CONSTANT} characters")
            return "text"
        if v is None:
            return "none"
        return self.fail(f"{type(v).__name__} constants are not allowed")

    def visit_Name(self, node: ast.Name, depth: int) -> str:
        name = node.id
        if name.startswith("_"):
            return self.fail(f'name "{name}" is not allowed (names starting with "_" are reserved)')
        if name in SPECS:
            return self.fail(f'function "{name}" must be called: {SPECS[name].signature}')
        if name in self.scope.names:
            self.names.add(name)
            return self.scope.names[name]
        if name in CONSTANT_NAMES:
            return "number" if name in ("inf", "nan") else "bool"
        if self.scope.account_fields and is_account_field(name):
            self.account_fields.add(name)
            return "any"
        known = [*self.scope.names, *CONSTANT_NAMES]
        hint = did_you_mean(name, [*known, *SPECS])
        return self.fail(f'unknown name "{name}"{hint}')

    def visit_BoolOp(self, node: ast.BoolOp, depth: int) -> str:
        types = {self.visit(v, depth) for v in node.values}
        return types.pop() if len(types) == 1 else "any"

    def visit_BinOp(self, node: ast.BinOp, depth: int) -> str:
        op = type(node.op)
        if op not in _BIN_OPS:
            return self.fail(f"operator {type(node.op).__name__} is not allowed")
        left = self.visit(node.left, depth)
        right = self.visit(node.right, depth)
        if op is ast.Pow:
            exp = node.right
            if isinstance(exp, ast.UnaryOp) and isinstance(exp.op, ast.USub | ast.UAdd):
                exp = exp.operand
            if not (
                isinstance(exp, ast.Constant)
                and isinstance(exp.value, int | float)
                and not isinstance(exp.value, bool)
                and abs(exp.value) <= MAX_EXPONENT
            ):
                return self.fail(f"the exponent of ** must be a constant number up to {MAX_EXPONENT}")
        if op is ast.Mult and ("text" in (left, right) or "list" in (left, right)):
            return self.fail("repeating text or lists with * is not allowed")
        if op is ast.Mod and left == "text":
            return self.fail("text formatting with % is not allowed")
        if op is ast.Add and {left, right} == {"text", "number"}:
            return self.fail("cannot add text and a number")
        if op is ast.Add and left == right == "text":
            return "text"
        if op is ast.Add and left == right == "list":
            return "list"
        for side in (left, right):
            if side in ("text", "list", "date", "datetime", "none") and op is not ast.Add:
                return self.fail(f"cannot use {_BIN_OPS[op]} on {side}")
        return "number" if "any" not in (left, right) else "any"

    def visit_UnaryOp(self, node: ast.UnaryOp, depth: int) -> str:
        if type(node.op) not in _UNARY_OPS:
            return self.fail(f"operator {type(node.op).__name__} is not allowed")
        inner = self.visit(node.operand, depth)
        if isinstance(node.op, ast.Not):
            return "bool"
        if inner in ("text", "list", "none"):
            return self.fail(f"cannot negate {inner}")
        return "number" if inner != "any" else "any"

    def visit_Compare(self, node: ast.Compare, depth: int) -> str:
        for op in node.ops:
            if type(op) not in _CMP_OPS:
                return self.fail(f"comparison {type(op).__name__} is not allowed")
        types = [self.visit(node.left, depth)] + [self.visit(c, depth) for c in node.comparators]
        for op, (a, b) in zip(node.ops, pairwise(types), strict=False):
            ordered = isinstance(op, ast.Lt | ast.LtE | ast.Gt | ast.GtE)
            if ordered and {a, b} == {"text", "number"}:
                self.fail(f"cannot compare text and a number with {_CMP_OPS[type(op)]}")
        return "bool"

    def visit_IfExp(self, node: ast.IfExp, depth: int) -> str:
        self.visit(node.test, depth)
        a, b = self.visit(node.body, depth), self.visit(node.orelse, depth)
        return a if a == b else "any"

    def visit_List(self, node: ast.List, depth: int) -> str:
        for elt in node.elts:
            self.visit(elt, depth)
        return "list"

    def visit_Tuple(self, node: ast.Tuple, depth: int) -> str:
        return self.visit_List(node, depth)  # type: ignore[arg-type]

    def visit_Call(self, node: ast.Call, depth: int) -> str:
        if not isinstance(node.func, ast.Name):
            if isinstance(node.func, ast.Attribute):
                self.fail(f"attribute access (.{node.func.attr}) is not allowed")
                self.visit(node.func.value, depth)
            elif isinstance(node.func, ast.Lambda):
                self.visit(node.func, depth)
            else:
                self.fail("only named functions can be called")
                self.visit(node.func, depth)
            for a in node.args:
                self.visit(a, depth)
            return "any"
        name = node.func.id
        if name.startswith("_"):
            return self.fail(f'name "{name}" is not allowed (names starting with "_" are reserved)')
        spec = SPECS.get(name)
        if spec is None:
            return self.fail(f'unknown function "{name}"{did_you_mean(name, SPECS)}')
        self.functions.add(name)
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.fail("* unpacking is not allowed")
            else:
                self.visit(a, depth)
        for kw in node.keywords:
            if kw.arg is None:
                self.fail("** unpacking is not allowed")
            else:
                self.visit(kw.value, depth)
        self._check_arguments(spec, node)
        return spec.returns

    def _check_arguments(self, spec: FunctionSpec, node: ast.Call) -> None:
        params = [p for p, _ in spec.params]
        bound: dict[str, ast.expr] = {}
        if not spec.varargs and len(node.args) > len(params):
            self.fail(f"{spec.name}() takes at most {len(params)} arguments ({spec.signature})")
        for pname, arg in zip(params, node.args, strict=False):
            bound[pname] = arg
        for kw in node.keywords:
            if kw.arg is None:
                continue
            if kw.arg.startswith("_"):
                self.fail(f'argument "{kw.arg}" is not allowed (names starting with "_" are reserved)')
            elif kw.arg in params:
                if kw.arg in bound:
                    self.fail(f'{spec.name}() got "{kw.arg}" twice')
                bound[kw.arg] = kw.value
            elif spec.filters:
                _, op = split_filter(kw.arg)
                if "__" in kw.arg and op == "eq" and not kw.arg.endswith("__eq"):
                    self.fail(
                        f'filter "{kw.arg}" has an unknown operator; use one of '
                        f"{', '.join(sorted(FILTER_OPS))} after __"
                    )
            else:
                self.fail(f'{spec.name}() has no argument "{kw.arg}"{did_you_mean(kw.arg, params)}')
        for pname, default in spec.params:
            if default is REQUIRED and pname not in bound:
                self.fail(f'{spec.name}() needs "{pname}" ({spec.signature})')
        if spec.varargs and not node.args:
            self.fail(f"{spec.name}() needs at least one argument")
        self._check_constants(spec, bound)

    def _check_windows(self, spec: FunctionSpec, bound: Mapping[str, ast.expr]) -> None:
        """Constant windows within what the store keeps: `total("orders", 10**9)` fails here, not at run."""
        for pname, limits in WINDOW_BOUNDS.items():
            if pname not in bound:
                continue
            low, high = DATE_AGO_DAYS if (spec.name, pname) == ("date_ago", "days") else limits
            value = _constant_number(bound[pname])
            if value is None:
                continue
            if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
                self.fail(f'{spec.name}() needs "{pname}" as a whole number, got {value!r}')
            elif not low <= value <= high:
                self.fail(f'{spec.name}() needs "{pname}" between {low} and {high}, got {value:g}')

    def _check_constants(self, spec: FunctionSpec, bound: Mapping[str, ast.expr]) -> None:
        def const(p: str) -> str | None:
            node = bound.get(p)
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                return node.value
            return None

        self._check_windows(spec, bound)
        if spec.metric:
            metric = const("metric")
            if metric is not None and self.scope.metrics and metric not in self.scope.metrics:
                self.fail(f'unknown metric "{metric}"{did_you_mean(metric, self.scope.metrics)}')
        for p in (spec.dim_param, "part") if spec.dim_param else ():
            dim = const(p)
            if dim is not None and (problem := check_dimension(dim)):
                self.fail(problem)
        if spec.source_param:
            source = const(spec.source_param)
            if source is not None and self.scope.sources and source not in self.scope.sources:
                known = ", ".join(sorted(self.scope.sources))
                self.fail(
                    f'unknown source "{source}"{did_you_mean(source, self.scope.sources)} (known: {known})'
                )
        if spec.rule_param:
            rule_node = bound.get(spec.rule_param)
            rule = const(spec.rule_param)
            if rule_node is not None and rule is None:
                self.fail(f"{spec.name}() needs the rule name as quoted text")
            elif rule is not None:
                if rule not in self.scope.rules:
                    self.fail(f'unknown rule "{rule}"{did_you_mean(rule, self.scope.rules)}')
                self.rules.add(rule)


def _constant_number(node: ast.expr | None) -> int | float | None:
    """A number written as a literal (`28`, `-3`, `1.5`); None for anything computed."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = -1 if isinstance(node.op, ast.USub) else 1
        node = node.operand
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return sign * node.value
    return None


class _Rewriter(ast.NodeTransformer):
    """Routes the operators that can blow up (**, *, +, %) through simpleeval's guarded versions."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        helper = _REWRITE.get(type(node.op))
        if helper is None:
            return node
        call = ast.Call(func=ast.Name(id=helper, ctx=ast.Load()), args=[node.left, node.right], keywords=[])
        return ast.copy_location(call, node)


def _syntax_problem(source: str, exc: SyntaxError) -> str:
    stripped = source.strip()
    if re.match(r"^(import|from)\s", stripped):
        return "import is not allowed"
    if re.match(r"^\w+\s*=[^=]", stripped):
        return "assignment is not allowed; an expression computes a value"
    lines = stripped.count("\n") + 1
    line = (exc.lineno or 2) - 1  # the opening bracket took line 1
    where = " at the end"
    if 1 <= line <= lines and exc.offset:
        where = f" at line {line}, column {exc.offset}" if lines > 1 else f" at column {exc.offset}"
    msg = exc.msg.replace("'(' was never closed", "a bracket is never closed")
    return f"syntax error{where}: {msg}"


def _unbalanced(text: str) -> str:
    """The bracket wrapping must not let `a) or (b` through as if it were balanced."""
    depth = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.OP and tok.string in "([":
                depth += 1
            elif tok.type == tokenize.OP and tok.string in ")]":
                depth -= 1
                if depth < 0:
                    return f"syntax error at column {tok.start[1] + 1}: unmatched '{tok.string}'"
    except (tokenize.TokenError, SyntaxError):
        return ""
    return ""


def compile_expression(source: str, scope: Scope) -> Expression:
    """Parse, check and compile one expression; raises ExpressionError listing every problem."""
    if not isinstance(source, str) or not source.strip():
        raise ExpressionError(["expression is empty"])
    if len(source) > MAX_SOURCE_LENGTH:
        raise ExpressionError([f"expression is longer than {MAX_SOURCE_LENGTH} characters"])
    text = source.strip()
    # Bracketed on lines of their own, so an expression may span lines (TOML multi-line strings) and
    # end in a comment; positions in messages refer to the text as written.
    wrapped = f"(\n{text}\n)"
    try:
        tree = ast.parse(wrapped, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError([_syntax_problem(text, exc)]) from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError(["expression could not be parsed"]) from None
    if problem := _unbalanced(text):
        raise ExpressionError([problem])
    checker = _Checker(scope)
    result_type = checker.visit(tree.body)
    if checker.problems:
        raise ExpressionError(checker.problems)
    rewritten = _Rewriter().visit(ast.parse(wrapped, mode="eval"))
    ast.fix_missing_locations(rewritten)
    code = compile(rewritten, f"<expression {text[:60]!r}>", "eval", dont_inherit=True)
    return Expression(
        source=text,
        type=result_type,
        names=frozenset(checker.names),
        account_fields=frozenset(checker.account_fields),
        functions=frozenset(checker.functions),
        rules=frozenset(checker.rules),
        tree=tree,
        code=code,
    )


__all__ = [
    "EVALUATION_ERRORS",
    "MAX_STRING_LENGTH",
    "EvaluationError",
    "Expression",
    "ExpressionError",
    "Scope",
    "compile_expression",
    "did_you_mean",
    "is_account_field",
    "namespace",
]
