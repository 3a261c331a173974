"""Templates with {name} placeholders: checked at load, rendered without str.format's attribute access."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def placeholders(template: str) -> tuple[list[str], list[str]]:
    """The placeholder names a template uses, and what is malformed in it."""
    names: list[str] = []
    problems: list[str] = []
    for m in _TOKEN.finditer(template):
        token = m.group(0)
        if token in ("{{", "}}"):
            continue
        if m.group(1) is None:
            problems.append(f'unmatched "{token}" (write {token}{token} for a literal brace)')
            continue
        name = m.group(1).strip()
        if not _NAME.match(name):
            problems.append(f"placeholder {{{m.group(1)}}} must be a plain name such as {{store_id}}")
            continue
        names.append(name)
    return names, problems


def unknown_placeholders(template: str, known: Iterable[str]) -> list[tuple[str, str]]:
    """(placeholder, closest known name or "") for every placeholder that is not known."""
    allowed = set(known)
    names, _ = placeholders(template)
    out: list[tuple[str, str]] = []
    for name in names:
        if name not in allowed:
            close = difflib.get_close_matches(name, sorted(allowed), n=1, cutoff=0.6)
            out.append((name, close[0] if close else ""))
    return out


def render(template: str, values: Mapping[str, str]) -> str:
    """Replace {name} by values[name] (missing names render as "n/a"); {{ and }} are literal braces."""
    literals, names = _parts(template)
    if not names:
        return literals[0]
    get = values.get
    out = [literals[0]]
    for name, literal in zip(names, literals[1:], strict=True):
        out.append(get(name, "n/a"))
        out.append(literal)
    return "".join(out)


@lru_cache(maxsize=2048)
def _parts(template: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A template split once into its fixed text and placeholder names: literals[i] precedes names[i].

    Task and Case descriptions are rendered for every fired rule; scanning each with the regex every
    time cost more than the rest of building the records.
    """
    literals: list[str] = []
    names: list[str] = []
    text: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(template):
        text.append(template[pos : m.start()])
        pos = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            text.append(token[0])
        elif m.group(1) is None:
            text.append(token)  # an unmatched brace stays as written
        else:
            literals.append("".join(text))
            names.append(m.group(1).strip())
            text = []
    text.append(template[pos:])
    literals.append("".join(text))
    return tuple(literals), tuple(names)


def constant_length(template: str) -> int:
    """Length of the template's fixed text (placeholders count as empty): a lower bound of the result."""
    return len(render(template, _Empty()))


class _Empty(dict[str, str]):
    def get(self, key: str, default: str | None = None) -> str:  # type: ignore[override]
        return ""
