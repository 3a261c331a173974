"""Pydantic's validation errors in the words of the person who edits the file: one translator for the config,
the mapping files and the source specs, so the same mistake reads the same wherever it is made."""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from configfiles.issues import FileIssue, unique_issues

# Pydantic error types in an editor's words.
TYPE_WORDS = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "date_type": "a date (2026-01-31)",
    "date_parsing": "a date (2026-01-31)",
    "date_from_datetime_parsing": "a date (2026-01-31)",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}
# TOML has types: a quoted value is text, so say how to write the value the key wants.
_UNQUOTE = {
    "a whole number": "write a whole number, without quotes",
    "a number": "write a number, without quotes",
    "true or false": "write true or false, without quotes",
    "a date (2026-01-31)": "write the date without quotes: 2026-01-31",
}
_BOUNDS = {
    "greater_than": "greater than",
    "greater_than_equal": "at least",
    "less_than": "less than",
    "less_than_equal": "at most",
}
# Keys whose items are named by one of these in messages: `rule "menu_sync"`, not `rules[3]`.
ITEM_NAMES = ("code", "id", "name", "brand", "signal")
# A validator's message that starts with a key ("client_id: required") is about that key.
_KEYED = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (.+)$", re.DOTALL)


def show(value: Any) -> str:
    """A value as the editor wrote it: numbers without a spurious ".0", text in double quotes."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(value)


def did_you_mean(word: str, candidates: Iterable[str], quote: str = '"') -> str:
    """`did you mean "x"?` for the closest candidate, or "" when nothing is close."""
    close = difflib.get_close_matches(word, sorted(set(candidates)), n=1, cutoff=0.6)
    return f"did you mean {quote}{close[0]}{quote}?" if close else ""


def finite_message(value: Any) -> str:
    """`inf`/`nan` in a number field: TOML allows them, a score or a limit cannot use them."""
    return f"must be a finite number, got {value!r}".replace("'", "")


def item_label(parent: str, index: int, item: Any) -> str:
    """`rule "menu_sync"` for an item that has a name, else `rules[3]`."""
    name = next((item[k] for k in ITEM_NAMES if isinstance(item, dict) and k in item), None)
    singular = parent[:-1] if parent.endswith("s") else parent
    return f"{singular} {show(name)}" if isinstance(name, str | int) else f"{parent}[{index}]"


def locate(raw: Any, loc: Sequence[int | str]) -> tuple[str, str]:
    """`("milestones", 2, "due_days")` → (`milestone "go_live"`, `due_days`) when the item has a code."""
    where = ""
    rest: list[str] = []
    node = raw
    for i, part in enumerate(loc):
        if isinstance(part, int) and i > 0 and isinstance(loc[i - 1], str) and len(rest) <= 1:
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            prefix = "".join(f"{r}." for r in rest[:-1])
            where = prefix + item_label(str(loc[i - 1]), part, item)
            rest = []
        else:
            rest.append(str(part))
        if isinstance(node, dict):
            node = node.get(part) if isinstance(part, str) else None
        elif isinstance(node, list) and isinstance(part, int):
            node = node[part] if 0 <= part < len(node) else None
        else:
            node = None
    return where, ".".join(rest)


def keys_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys the model allows at `loc` (for "did you mean"): aliases where a field has one."""
    tp: Any = model
    for part in loc:
        tp = _step(tp, part)
        if tp is None:
            return []
    tp = _strip_optional(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or name for name, f in tp.model_fields.items()]
    return []


def _strip_optional(tp: Any) -> Any:
    if get_origin(tp) in (Union, UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if models else (args[0] if len(args) == 1 else tp)
    return tp


def _step(tp: Any, part: str | int) -> Any:
    tp = _strip_optional(tp)
    origin = get_origin(tp)
    if origin is dict:
        return get_args(tp)[1]
    if origin in (tuple, list):
        return get_args(tp)[0]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        for name, f in tp.model_fields.items():
            if part in (name, f.alias):
                return f.annotation
    return None


def _noun(names: Sequence[str], nouns: Mapping[tuple[str, ...], str]) -> str:
    """What a literal key holds ("a Task priority"), by the longest matching tail of its key path."""
    for tail, noun in sorted(nouns.items(), key=lambda kv: -len(kv[0])):
        if tuple(names[-len(tail) :]) == tail:
            return noun
    return "allowed"


def _unquote(words: str, value: Any) -> str:
    """How to write a quoted value as the type the key wants; a date only when the text is one."""
    if not isinstance(value, str) or words not in _UNQUOTE:
        return ""
    if words.startswith("a date") and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        return ""
    return _UNQUOTE[words]


def message(err: Mapping[str, Any], nouns: Mapping[tuple[str, ...], str] = {}) -> tuple[str, str]:
    """(problem, fix) for one pydantic error, unknown keys aside (they need the model for their fix)."""
    kind = str(err.get("type", ""))
    value = err.get("input")
    ctx = err.get("ctx", {}) or {}
    if kind == "missing":
        return "required key is missing", ""
    if kind == "literal_error":
        expected = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        names = [str(p) for p in err.get("loc", ()) if isinstance(p, str)]
        return f"{show(value)} is not {_noun(names, nouns)} ({', '.join(expected)})", ""
    if kind == "int_type" and isinstance(value, float) and math.isfinite(value):
        return f"expected a whole number, got {value!r}", ""  # 2.0, not "2": TOML keeps the type
    if kind in TYPE_WORDS:
        words = TYPE_WORDS[kind]
        return f"expected {words}, got {show(value)}", _unquote(words, value)
    if kind == "finite_number" or (isinstance(value, float) and not math.isfinite(value)):
        return finite_message(value), ""
    if kind in _BOUNDS:
        return f"must be {_BOUNDS[kind]} {show(next(iter(ctx.values()), ''))}, got {show(value)}", ""
    if kind == "string_too_short":
        return f"expected at least {ctx.get('min_length')} characters, got {show(value)}", ""
    if kind == "too_short":
        return f"expected at least {ctx.get('min_length')} items, got {show(value)}", ""
    return str(err.get("msg", "invalid")).removeprefix("Value error, "), ""


def keyed_issue(file: str, text: str, *, where: str = "", path: str = "") -> FileIssue:
    """An issue from a check's message that may start with its key ("client_id: required")."""
    keyed = _KEYED.match(text)
    if keyed is None:
        return FileIssue(file, where, path, text)
    return FileIssue(file, where, ".".join(p for p in (path, keyed.group(1)) if p), keyed.group(2))


def pydantic_issues(
    file: str,
    errors: ValidationError | Iterable[Mapping[str, Any]],
    *,
    model: type[BaseModel] | None = None,
    raw: Any = None,
    where: str = "",
    prefix: Sequence[str | int] = (),
    nouns: Mapping[tuple[str, ...], str] = {},
    extra_keys: Mapping[tuple[str, ...], Sequence[str]] = {},
) -> list[FileIssue]:
    """Every error of a validation as an issue of `file`, each said once.

    `model` lets an unknown key suggest the closest known one (`extra_keys` adds keys the file may hold
    that the model does not, such as `private_key_env`); `raw` lets a list item be named by its name or
    code; `where` and `prefix` place the errors of a part validated on its own (one rule, one source).
    """
    listed = errors.errors() if isinstance(errors, ValidationError) else list(errors)
    # An unknown key first: a misspelt key explains the "required key is missing" that follows it.
    listed = sorted(listed, key=lambda e: e.get("type") != "extra_forbidden")
    out: list[FileIssue] = []
    for err in listed:
        loc = (*prefix, *err.get("loc", ()))
        if err.get("type") == "extra_forbidden":
            parent = loc[:-1]
            key = str(loc[-1])
            known = [*keys_at(model, parent[len(prefix) :])] if model else []
            known += extra_keys.get(tuple(map(str, parent)), ())
            at, path = _place(raw, parent, where)
            out.append(FileIssue(file, at, path, f'unknown key "{key}"', did_you_mean(key, known)))
            continue
        at, path = _place(raw, loc, where)
        problem, fix = message(err, nouns)
        if err.get("type") == "value_error":  # a check of a whole table may name its key
            out.append(keyed_issue(file, problem, where=at, path=path))
        else:
            out.append(FileIssue(file, at, path, problem, fix))
    return unique_issues(out)


def _place(raw: Any, loc: Sequence[str | int], where: str) -> tuple[str, str]:
    if raw is None:
        return where, ".".join(str(p) for p in loc)
    at, path = locate(raw, loc)
    return " → ".join(p for p in (where, at) if p), path
